"""(7) Import time: importing plexpin_widget against ``import ipywidgets`` alone, in fresh processes.

The package loads its widget and its HTTP clients on first use (PEP 562), so ``import
plexpin_widget`` alone is cheap; the target is judged on ``from plexpin_widget import
PlexPinLogin``, which is what a notebook runs and which loads everything a login needs.

Each sample is one new interpreter timing only the import statement (interpreter start-up is
not counted), with bytecode compiled as in an installed package (see ``common.worker_env``).
One more figure times ``import plexpin_widget`` after what a kernel has already loaded. The modules are timed in turn within each round, so slow phases of a shared
machine hit all of them alike; the extra cost of plexpin_widget is taken per round (paired).
A few ``python -X importtime`` runs show where the extra time goes.
"""

from __future__ import annotations

import re
import statistics
import subprocess
from pathlib import Path

from common import PLEXAPI, PLEXPIN, PYTHON, Row, Sizes, Summary, verdict, worker_env

SECTION = "import"
TARGET_EXTRA_MS = 50.0
_SNIPPET = "import time; t = time.perf_counter(); {module}; print(time.perf_counter() - t)"
# What a Jupyter kernel has loaded before the first cell runs (asyncio, zmq, tornado, IPython...).
_IN_KERNEL = "import ipykernel.kernelapp, ipywidgets; " + _SNIPPET
_WIDGET_IMPORT = "from plexpin_widget import PlexPinLogin"
_BARE_IMPORT = "import plexpin_widget"
_MODULES = {"ipywidgets": "import ipywidgets", PLEXPIN: _WIDGET_IMPORT, PLEXAPI: "import plexapi.myplex"}
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def _time_import(module: str, env: dict[str, str], snippet: str = _SNIPPET) -> float:
    out = subprocess.run(
        [PYTHON, "-c", snippet.format(module=module)], capture_output=True, text=True, env=env, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def _importtime(module: str, env: dict[str, str]) -> dict[str, int]:
    """Self time in microseconds of every module imported by ``import module``."""
    out = subprocess.run([PYTHON, "-X", "importtime", "-c", module], capture_output=True, text=True,
                         env=env, check=True)
    selves: dict[str, int] = {}
    for line in out.stderr.splitlines():
        match = _LINE.match(line)
        if match:
            selves[match.group(4)] = int(match.group(1))
    return selves


def extra_breakdown(runs: int, env: dict[str, str]) -> list[tuple[str, float]]:
    """Milliseconds (self time under ``-X importtime``, median of runs) that ``import
    plexpin_widget`` spends on modules ``import ipywidgets`` does not load, by top-level package."""
    per_package: dict[str, list[float]] = {}
    for _ in range(runs):
        base = _importtime("import ipywidgets", env)
        ours = _importtime(_WIDGET_IMPORT, env)
        totals: dict[str, float] = {}
        for name, micros in ours.items():
            if name in base:
                continue
            # Our own modules are listed one by one; everything else by top-level package.
            key = name if name.startswith("plexpin_widget") else name.split(".")[0]
            totals[key] = totals.get(key, 0.0) + micros / 1000
        for key, ms in totals.items():
            per_package.setdefault(key, []).append(ms)
    medians = [(key, statistics.median(values + [0.0] * (runs - len(values)))) for key, values in per_package.items()]
    return sorted(medians, key=lambda item: -item[1])


def measure(sizes: Sizes, tmp: Path) -> tuple[list[Row], dict[str, object]]:
    env = worker_env(tmp)
    samples: dict[str, list[float]] = {label: [] for label in _MODULES}
    extra: list[float] = []
    in_kernel: list[float] = []
    bare: list[float] = []
    labels = list(_MODULES)
    for round_no in range(sizes.import_runs + 1):
        order = labels if round_no % 2 == 0 else labels[::-1]
        taken = {label: _time_import(_MODULES[label], env) for label in order}
        after_kernel = _time_import(_WIDGET_IMPORT, env, _IN_KERNEL)
        bare.append(_time_import(_BARE_IMPORT, env))
        if round_no == 0:
            bare.clear()
            continue  # the first round warms the file-system cache
        for label, seconds in taken.items():
            samples[label].append(seconds)
        extra.append(taken[PLEXPIN] - taken["ipywidgets"])
        in_kernel.append(after_kernel)
    rows = [
        Row(SECTION, _MODULES[label], label if label != "ipywidgets" else "ipywidgets (baseline)",
            "fresh process", "ms", Summary.of(values, 1000))
        for label, values in samples.items()
    ]
    extra_summary = Summary.of(extra, 1000)
    rows.append(Row(SECTION, f"{_WIDGET_IMPORT} − import ipywidgets (paired)", PLEXPIN, "fresh process", "ms",
                    extra_summary, f"≤ {TARGET_EXTRA_MS:.0f} ms", verdict(extra_summary.median <= TARGET_EXTRA_MS)))
    rows.append(Row(SECTION, f"{_WIDGET_IMPORT} once ipykernel and ipywidgets are loaded (as in a kernel)",
                    PLEXPIN, "fresh process", "ms", Summary.of(in_kernel, 1000)))
    rows.append(Row(SECTION, f"{_BARE_IMPORT} alone (the widget and clients load on first use; what `plexpin login` pays)",
                    PLEXPIN, "fresh process", "ms", Summary.of(bare, 1000)))
    details = {"breakdown": extra_breakdown(sizes.importtime_runs, env)[:12]}
    return rows, details
