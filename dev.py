#!/usr/bin/env python3
"""Developer entry point for plexpin_widget. Needs only Python 3.10+ (standard library).

    python3 dev.py test [PYTEST ARGS...]   run the whole test suite (what CI runs)
    python3 dev.py demo [ARGS...]          start `plexpin demo` from the project venv

`test` with no extra arguments runs five steps and fails if any fails:
  1. pytest tests -m "not soak"                   everything, browser tests included (.venv)
  2. pytest -m soak tests                         the soak at CI size ("no tests collected" is OK)
  3. pytest tests --ignore=tests/browser -m "not soak"   core and kernel tests under ipykernel 6 with
                                                  ipywidgets 7.8, Colab's combination (.venv-ipyw7)
  4. pytest tests/browser/test_classic_notebook.py       classic Notebook 6.5 with ipywidgets 7.8 in
                                                  Chromium (.venv-nb6)
  5. pytest tests/test_pms.py tests/test_emulator_plexapi.py tests/test_account.py
                                                  python-plexapi 4.15, the oldest the plexapi extra
                                                  allows, against the stand-ins (.venv-plexapi415)
With extra arguments (e.g. `python3 dev.py test -k flow`) only step 1 runs, with those arguments.

Virtual environments live in the repository (.venv, .venv-ipyw7, .venv-nb6, .venv-plexapi415). Each
keeps a stamp of what was installed; packages are re-installed only when pyproject.toml (or the
requirement list) changes.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

if sys.version_info < (3, 10):  # pragma: no cover - checked before anything else runs
    sys.exit(f"dev.py needs Python 3.10 or newer; this is {sys.version.split()[0]}")

ROOT = Path(__file__).resolve().parent
PYPROJECT = ROOT / "pyproject.toml"
STAMP_NAME = ".dev-py-install-stamp"

MAIN_VENV = ROOT / ".venv"
MAIN_REQUIREMENTS = ["-e", ".[dev]"]

# Colab's combination: ipykernel 6 (no subshells; widget messages wait while a cell runs) with
# ipywidgets 7.8. The kernel tests run here too, with this venv's interpreter as the kernel.
IPYW7_VENV = ROOT / ".venv-ipyw7"
IPYW7_REQUIREMENTS = ["-e", ".[test]", "ipywidgets>=7.8,<7.9", "ipykernel>=6,<7"]

# Classic Notebook 6.5 with ipywidgets 7.8 (widgetsnbextension 3): only what its browser test needs.
NB6_VENV = ROOT / ".venv-nb6"
NB6_REQUIREMENTS = [
    "-e", ".", "notebook>=6.5,<7", "ipywidgets>=7.8,<7.9", "ipykernel>=6,<7",
    "playwright>=1.40", "zxing-cpp>=2.2", "numpy>=1.24", "pypng>=0.20220715", "nbformat>=5.9",
    "httpx>=0.24", "pytest>=8", "pytest-timeout>=2.2", "pytest-asyncio>=0.23",
]
NB6_TESTS = "tests/browser/test_classic_notebook.py"

# python-plexapi 4.15, the oldest the `plexapi` extra allows, against the media-server stand-in and
# the plex.tv emulator (the `test` extra needs 4.18 for MyPlexJWTLogin, so .venv runs only 4.18).
PLEXAPI415_VENV = ROOT / ".venv-plexapi415"
PLEXAPI415_REQUIREMENTS = [
    "-e", ".", "plexapi==4.15.16", "pytest>=8", "pytest-timeout>=2.2", "pytest-asyncio>=0.23",
]
# The media-server stand-in, the classic MyPlexPinLogin, and login.account() / login.server().
PLEXAPI415_TESTS = ["tests/test_pms.py", "tests/test_emulator_plexapi.py", "tests/test_account.py"]

RULE = "=" * 78


def say(text: str = "") -> None:
    print(text, flush=True)


def venv_bin(venv: Path, name: str) -> Path:
    if os.name == "nt":  # pragma: no cover - the project targets Linux/macOS, but be helpful
        return venv / "Scripts" / (name + ".exe")
    return venv / "bin" / name


def install_digest(requirements: list[str]) -> str:
    h = hashlib.sha256()
    h.update(PYPROJECT.read_bytes())
    h.update(b"\0" + "\0".join(requirements).encode())
    h.update(b"\0" + sys.version.encode())
    return h.hexdigest()


def ensure_venv(venv: Path, requirements: list[str]) -> Path:
    """Create ``venv`` if needed and install ``requirements`` unless the stamp says they are current.
    Returns the venv's python."""
    python = venv_bin(venv, "python")
    if not python.exists():  # also catches a dangling symlink left by a removed base Python
        say(f"dev.py: creating {venv.name} with {sys.executable}")
        cmd = [sys.executable, "-m", "venv"]
        if venv.exists():
            cmd.append("--clear")
        result = subprocess.run([*cmd, str(venv)])
        if result.returncode != 0 or not python.exists():
            sys.exit(
                f"dev.py: could not create {venv} (python -m venv failed). On Debian/Ubuntu "
                "install the venv module: apt-get install python3-venv"
            )
    stamp = venv / STAMP_NAME
    digest = install_digest(requirements)
    try:
        current = stamp.read_text().strip()
    except OSError:
        current = ""
    if current != digest:
        say(f"dev.py: installing {' '.join(requirements)} into {venv.name} "
            f"({'first install' if not current else 'pyproject.toml changed'})")
        t0 = time.monotonic()
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
            cwd=ROOT,
        )
        if result.returncode != 0:
            remove_stamp(stamp)
            sys.exit(f"dev.py: pip install into {venv.name} failed (exit {result.returncode})")
        stamp.write_text(digest + "\n")
        say(f"dev.py: {venv.name} ready ({time.monotonic() - t0:.1f} s)")
    return python


def remove_stamp(stamp: Path) -> None:
    try:
        stamp.unlink()
    except OSError:
        pass


def pytest_env() -> dict[str, str]:
    env = dict(os.environ)  # CI (and everything else) passes through unchanged
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class Step:
    def __init__(self, title: str, python_getter, args: list[str], ok_codes: dict[int, str] | None = None):
        self.title = title
        self.python_getter = python_getter  # venv set-up happens when the step runs
        self.args = args
        self.ok_codes = ok_codes or {}
        self.passed = False
        self.seconds = 0.0
        self.detail = ""
        self.counts = {"passed": 0, "failed": 0, "skipped": 0}


def junit_counts(path: Path) -> dict[str, int] | None:
    """Test counts from pytest's JUnit XML report (None if pytest wrote none)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = failed = skipped = 0
    for suite in suites:
        total += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return {"passed": total - failed - skipped, "failed": failed, "skipped": skipped}


def run_step(number: int, total: int, step: Step) -> None:
    python = step.python_getter()
    report = Path(tempfile.mkdtemp(prefix="dev-py-")) / f"step{number}.xml"
    cmd = [str(python), "-m", "pytest", *step.args, f"--junit-xml={report}"]
    shown = " ".join(shlex.quote(part) for part in [os.path.relpath(python, ROOT), "-m", "pytest", *step.args])
    say()
    say(RULE)
    say(f"dev.py step {number}/{total}: {step.title}")
    say(f"$ {shown}")
    say(RULE)
    t0 = time.monotonic()
    rc = subprocess.run(cmd, cwd=ROOT, env=pytest_env()).returncode
    step.seconds = time.monotonic() - t0
    if rc == 0:
        step.passed = True
        step.detail = "passed"
    elif rc in step.ok_codes:
        step.passed = True
        step.detail = step.ok_codes[rc]
        say(f"dev.py: {step.ok_codes[rc]}")
    else:
        step.detail = f"pytest exit code {rc}"
    counts = junit_counts(report)
    if counts is not None:
        step.counts = counts
    if not step.passed and step.counts["failed"] == 0:
        step.counts["failed"] = 1  # pytest itself failed (collection, usage, crash)


def cmd_test(extra: list[str]) -> int:
    main_python = lambda: ensure_venv(MAIN_VENV, MAIN_REQUIREMENTS)  # noqa: E731
    if extra:
        # Only step 1, with the caller's arguments. No positional "tests": pytest falls back to
        # testpaths (tests) unless the caller named paths of their own.
        steps = [Step("pytest (not soak) with your arguments", main_python, ["-m", "not soak", *extra])]
    else:
        steps = [
            Step("pytest tests (everything but the soak; browser tests included)",
                 main_python, ["tests", "-m", "not soak", f"--ignore={NB6_TESTS}"]),
            Step("soak at CI size: pytest -m soak tests",
                 main_python, ["-m", "soak", "tests", f"--ignore={NB6_TESTS}"],
                 ok_codes={5: "no soak tests collected (pytest exit 5); counted as passed for this step"}),
            Step("core and kernel tests under ipykernel 6 + ipywidgets 7.8 (.venv-ipyw7)",
                 lambda: ensure_venv(IPYW7_VENV, IPYW7_REQUIREMENTS),
                 ["tests", "--ignore=tests/browser", "-m", "not soak"]),
            Step("browser test in classic Notebook 6.5 + ipywidgets 7.8 (.venv-nb6)",
                 lambda: ensure_venv(NB6_VENV, NB6_REQUIREMENTS),
                 [NB6_TESTS, "-m", "not soak"]),
            Step("python-plexapi 4.15 against the media-server stand-in and plex.tv emulator (.venv-plexapi415)",
                 lambda: ensure_venv(PLEXAPI415_VENV, PLEXAPI415_REQUIREMENTS),
                 [*PLEXAPI415_TESTS, "-m", "not soak"]),
        ]
    for i, step in enumerate(steps, 1):
        run_step(i, len(steps), step)

    passed = sum(s.passed for s in steps)
    failed = len(steps) - passed
    tests = {key: sum(s.counts[key] for s in steps) for key in ("passed", "failed", "skipped")}
    say()
    say(RULE)
    for i, s in enumerate(steps, 1):
        say(f"  {'PASS' if s.passed else 'FAIL'}  step {i}: {s.title} ({s.seconds:.1f} s; {s.detail}; "
            f"{s.counts['passed']} passed, {s.counts['failed']} failed, {s.counts['skipped']} skipped)")
    say(f"  steps: {passed} passed, {failed} failed")
    say(RULE)
    # One plain closing line over all steps, for people and for CI logs alike.
    say(f"dev.py: {tests['passed']} passed, {tests['failed']} failed, {tests['skipped']} skipped")
    return 0 if failed == 0 else 1


def cmd_demo(extra: list[str]) -> int:
    ensure_venv(MAIN_VENV, MAIN_REQUIREMENTS)
    plexpin = venv_bin(MAIN_VENV, "plexpin")
    if not plexpin.exists():
        say(f"dev.py: {plexpin} is missing; is [project.scripts] plexpin defined in pyproject.toml?")
        return 1
    sys.stdout.flush()
    os.execv(str(plexpin), [str(plexpin), "demo", *extra])
    return 1  # not reached


USAGE = __doc__.split("\n\n", 2)[1]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        say(USAGE)
        return 0 if argv else 2
    command, extra = argv[0], argv[1:]
    if command == "test":
        return cmd_test(extra)
    if command == "demo":
        return cmd_demo(extra)
    say(f"dev.py: unknown command {command!r}\n{USAGE}")
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        say("\ndev.py: interrupted")
        sys.exit(130)
