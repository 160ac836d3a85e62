"""``plexpin``: the real command in a subprocess, against the emulator served on loopback.

Exit codes: 0 signed in, 1 expired/cancelled, 2 usage, 3 network, 130 Ctrl-C.
"""

from __future__ import annotations

import ast
import io
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import plexpin_widget
from plexpin_widget._cli import main
from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator
from plexpin_widget._store import TokenStore
from plexpin_widget._identity import resolve_client_identifier
from fake_pms import closed_port
from helpers import creations

CLI = [sys.executable, "-m", "plexpin_widget._cli"]
PACKAGE = Path(plexpin_widget.__file__).parent


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PLEX_TOKEN", "PLEXPIN_BASE_URL", "PLEXPIN_CLIENT_IDENTIFIER")}
    env.update(PLEXPIN_CONFIG_DIR=str(tmp_path / "config"), PLEXPIN_KEYRING="0", PYTHONUNBUFFERED="1")
    # The same config in this process, to read what the command remembered.
    for name in ("PLEX_TOKEN", "PLEXPIN_BASE_URL", "PLEXPIN_CLIENT_IDENTIFIER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PLEXPIN_CONFIG_DIR", env["PLEXPIN_CONFIG_DIR"])
    monkeypatch.setenv("PLEXPIN_KEYRING", "0")
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=timeout)


class Running:
    """A ``plexpin`` process whose stderr is collected as it arrives (raw reads: a buffered
    reader would sit on lines that select() no longer reports)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(CLI + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.process.stderr is not None
        self._fd = self.process.stderr.fileno()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._fd, selectors.EVENT_READ)
        self._err = b""
        self._eof = False

    @property
    def stderr(self) -> str:
        return self._err.decode("utf-8", "replace")

    def _pump(self, wait: float) -> None:
        if not self._eof and self._selector.select(wait):
            chunk = os.read(self._fd, 65536)
            self._err += chunk
            self._eof = not chunk

    def read_until(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            left = deadline - time.monotonic()
            if left <= 0 or self._eof:
                raise AssertionError(f"{text!r} not seen; stderr so far:\n{self.stderr}")
            self._pump(min(left, 0.5))

    def finish(self, timeout: float = 30.0) -> tuple[int, str, str]:
        deadline = time.monotonic() + timeout
        while not self._eof and time.monotonic() < deadline:
            self._pump(0.5)
        assert self.process.stdout is not None
        status = self.process.wait(max(0.1, deadline - time.monotonic()))
        return status, self.process.stdout.read().decode(), self.stderr

    def kill(self) -> None:
        """Stop the process if a test failed half-way; politely first, so that ``plexpin demo``
        can still stop its own children."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


# --------------------------------------------------------------------------- signing in


def test_print_token_writes_only_the_token_to_stdout(
    cli_env: dict[str, str], emu: PlexTvEmulator, served: EmulatorServer
) -> None:
    emu.auto_claim(0)
    result = run(["login", "--print-token", "--base-url", served.url], cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == emu.demo_token + "\n"
    assert "Signed in as demo." in result.stderr
    code = emu.pins[max(emu.pins)].code
    assert code in result.stderr and f"{served.url}/link/?pin={code}" in result.stderr
    assert "▀" in result.stderr or "▄" in result.stderr  # the QR code is drawn on stderr
    assert emu.demo_token not in result.stderr


def test_without_print_token_stdout_stays_empty(
    cli_env: dict[str, str], emu: PlexTvEmulator, served: EmulatorServer
) -> None:
    emu.auto_claim(0)
    result = run(["login", "--base-url", served.url, "--strong", "--product", "CLI test"], cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "/auth#?" in result.stderr and "CLI%20test" in result.stderr


def test_remember_then_no_code_then_logout(
    cli_env: dict[str, str], emu: PlexTvEmulator, served: EmulatorServer
) -> None:
    emu.auto_claim(0)
    first = run(["login", "--remember", "--print-token", "--base-url", served.url], cli_env)
    assert first.returncode == 0, first.stderr
    assert "Remembered on this computer" in first.stderr
    assert TokenStore().load(resolve_client_identifier(), served.url).token == emu.demo_token  # type: ignore[union-attr]
    assert len(creations(emu)) == 1

    second = run(["login", "--print-token", "--base-url", served.url], cli_env)
    assert second.returncode == 0, second.stderr
    assert second.stdout == emu.demo_token + "\n"
    assert len(creations(emu)) == 1  # signed in without a code
    assert "remembered on this computer" in second.stderr

    fresh = run(["login", "--fresh", "--base-url", served.url], cli_env)
    assert fresh.returncode == 0 and len(creations(emu)) == 2

    out = run(["logout", "--base-url", served.url], cli_env)
    assert out.returncode == 0 and "Forgot" in out.stderr
    assert TokenStore().load(resolve_client_identifier(), served.url) is None


def test_env_token_is_used_and_a_revoked_remembered_one_replaced(
    cli_env: dict[str, str], emu: PlexTvEmulator, served: EmulatorServer
) -> None:
    emu.auto_claim(0)
    alice = emu.add_account("alice")
    result = run(["login", "--print-token", "--base-url", served.url], {**cli_env, "PLEX_TOKEN": alice})
    assert result.returncode == 0 and result.stdout == alice + "\n"
    assert "Signed in as alice." in result.stderr and len(creations(emu)) == 0

    TokenStore().save(alice, resolve_client_identifier(), served.url)
    emu.revoke(alice)
    result = run(["login", "--print-token", "--base-url", served.url], cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == emu.demo_token + "\n"
    assert "did not accept the token remembered on this computer (deleted it)" in result.stderr
    assert TokenStore().load(resolve_client_identifier(), served.url) is None


def test_unverifiable_env_token_is_kept_but_not_remembered(
    cli_env: dict[str, str], emu: PlexTvEmulator, served: EmulatorServer
) -> None:
    emu.faults.add("status", path_prefix="/api/v2/user", status=503, count=None)
    env = {**cli_env, "PLEX_TOKEN": emu.demo_token}
    result = run(["login", "--print-token", "--remember", "--base-url", served.url], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == emu.demo_token + "\n"
    assert "could not be verified" in result.stderr
    assert "Not remembered" in result.stderr
    assert TokenStore().load(resolve_client_identifier(), served.url) is None
    assert len(creations(emu)) == 0


# --------------------------------------------------------------------------- failing


def test_expired_code_exits_1(cli_env: dict[str, str], emu: PlexTvEmulator, served: EmulatorServer) -> None:
    running = Running(["login", "--print-token", "--base-url", served.url], cli_env)
    try:
        running.read_until("Waiting for approval")
        emu.clock.advance(3600)  # the code is now long expired at "plex.tv"
        status, out, err = running.finish()
    finally:
        running.kill()
    assert status == 1, err
    assert out == ""
    assert "expired" in err


def test_closed_port_exits_3(cli_env: dict[str, str]) -> None:
    port = closed_port()
    result = run(["login", "--print-token", "--base-url", f"http://127.0.0.1:{port}", "--timeout", "1"], cli_env)
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    assert "cannot reach" in result.stderr.lower()


def test_unreachable_plex_tv_gives_up_with_exit_3(cli_env: dict[str, str]) -> None:
    """No --timeout: the flow's own give-up (15 s on its clock) ends it, not a minute of retries.
    The 60 s subprocess timeout is only a safety net; the assertion is the outcome and its words."""
    port = closed_port()
    env = dict(cli_env, PLEXPIN_BASE_URL=f"http://127.0.0.1:{port}")
    result = run(["login", "--print-token"], env, timeout=60)
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    assert re.search(rf"Gave up: cannot reach http://127\.0\.0\.1:{port}; no answer in \d+ s", result.stderr), result.stderr
    assert "Check the network connection and try again." in result.stderr


def test_sigint_exits_130_cleanly(cli_env: dict[str, str], served: EmulatorServer) -> None:
    running = Running(["login", "--base-url", served.url], cli_env)
    try:
        running.read_until("Waiting for approval")
        running.process.send_signal(signal.SIGINT)
        status, out, err = running.finish()
    finally:
        running.kill()
    assert status == 130
    assert "Cancelled" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["login", "--timeout", "-1"], "--timeout"),
        (["login", "--timeout", "soon"], "--timeout"),
        (["login", "--product", "  "], "--product"),
        (["login", "--base-url", "http://example.com"], "--base-url"),
        (["login", "--base-url", "ftp://127.0.0.1"], "--base-url"),
        (["login", "--client-identifier", "not ok!"], "--client-identifier"),
        (["login", "--no-such-flag"], "--no-such-flag"),
        (["demo", "--port", "70000"], "--port"),
        ([], "COMMAND"),
    ],
)
def test_usage_errors_exit_2_naming_the_argument(
    args: list[str], flag: str, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        status = main(args)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code  # type: ignore[assignment]
    assert status == 2
    captured = capsys.readouterr()
    assert flag in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("variable", "value"), [("PLEXPIN_BASE_URL", "http://example.com"), ("PLEX_TOKEN", "two words")]
)
def test_bad_environment_variable_exits_2_naming_it(
    variable: str, value: str, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["login"]) == 2
    err = capsys.readouterr().err
    assert f"error: {variable}: " in err
    assert "two words" not in err


def test_usage_error_from_the_real_command(cli_env: dict[str, str]) -> None:
    result = run(["login", "--product", ""], cli_env)
    assert result.returncode == 2
    assert "argument --product" in result.stderr and "Traceback" not in result.stderr


def test_emulator_subcommand_delegates(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["emulator", "--help"])
    assert info.value.code == 0
    assert "--auto-claim" in capsys.readouterr().out


def test_cli_modules_do_not_import_the_widget() -> None:
    # Floor rule: the command sits on the drivers, like the widget, never on top of it.
    for name in ("_cli.py", "_cli_login.py", "_demo.py"):
        tree = ast.parse((PACKAGE / name).read_text())
        imported = {
            (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        }
        assert not any("_widget" in module or "_view" in module or "ipywidgets" in module for module in imported), name


# --------------------------------------------------------------------------- demo


def test_demo_serves_lab_and_emulator_and_stops_on_ctrl_c(cli_env: dict[str, str]) -> None:
    pytest.importorskip("jupyterlab", reason="plexpin demo needs the `demo` extra (jupyterlab)")
    running = Running(["demo", "--no-browser"], cli_env)
    try:
        running.read_until("Press Ctrl-C to stop.", timeout=120)
        text = running.stderr
        lab_url = next(w for w in text.split() if "/lab/tree/quickstart.ipynb?token=" in w)
        link_url = next(w for w in text.split() if w.endswith("/link"))
        assert lab_url.startswith("http://127.0.0.1:") and link_url.startswith("http://127.0.0.1:")
        assert httpx.get(lab_url, timeout=10).status_code == 200
        base, token = lab_url.split("/lab/tree/quickstart.ipynb?token=")
        contents = httpx.get(f"{base}/api/contents/quickstart.ipynb", params={"token": token}, timeout=10)
        assert contents.status_code == 200 and contents.json()["type"] == "notebook"
        assert httpx.get(f"{base}/api/status", timeout=10).status_code == 403  # the token is required
        assert httpx.get(link_url, timeout=10).status_code == 200
        running.process.send_signal(signal.SIGINT)
        status, _, err = running.finish(timeout=60)
    finally:
        running.kill()
    assert status == 0, err
    assert "Stopped." in err
    for url in (base, link_url):
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=5)


# --------------------------------------------------------------------------- the countdown


class _Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize("tty", [True, False])
def test_countdown_rewrites_a_tty_line_and_rations_plain_lines(tty: bool, cli_env: dict[str, str]) -> None:
    from plexpin_widget._terminal import TerminalProgress
    from plexpin_widget._session import LoginSession
    from plexpin_widget._identity import ClientIdentity

    emu = PlexTvEmulator()
    err = _Terminal(tty)
    progress = TerminalProgress(err, product="CLI test", strong=False, give_up_after=None)
    redraws = 0

    def on_change() -> None:
        nonlocal redraws
        progress()
        if "Waiting for approval" in err.getvalue():
            redraws += 1
            if redraws == 5:  # approve after a few redraws (each poll answer redraws)
                emu.claim()

    session = LoginSession(ClientIdentity.create(product="CLI test"), transport=emu.transport(),
                           poll_interval=0.05, on_change=on_change)
    progress.session = session
    session.start()
    assert session.wait(10) == emu.demo_token
    progress.finish()
    text = err.getvalue()
    code = emu.pins[max(emu.pins)].code
    assert text.count(f"    {code}\n") == 1  # the code block is shown once
    if tty:
        assert text.count("\rWaiting for approval… 15:00 left") + text.count("\rWaiting for approval… 14:59 left") >= 5
        assert text.endswith("\n")  # the open countdown line is closed
    else:
        assert "\r" not in text
        assert text.count("Waiting for approval") == 1  # one line per ~10 s, not per poll
