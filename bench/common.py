"""Shared pieces of the benchmarks: statistics, result rows, worker processes and the emulator.

Every measurement that needs a clean process (import time, waiting cost, scale) runs in a worker:
``python bench/measure_x.py TASK '{json params}'``, which prints one ``RESULT {json}`` line.
The emulator always runs in a process of its own (``python -m plexpin_widget.emulator``), so a
measured process holds only the client side.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
PYTHON = sys.executable
PRODUCT = "plexpin bench"
RESULT_PREFIX = "RESULT "
#: Latency faults are added under this prefix: every plex.tv API call, none of the hooks.
API_PREFIX = "/api/v2"


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between order statistics."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclasses.dataclass(frozen=True)
class Summary:
    """Median and spread of one figure: the interquartile range, the range and the p95."""

    n: int
    median: float
    p25: float
    p75: float
    low: float
    high: float
    p95: float

    @classmethod
    def of(cls, values: Iterable[float], scale: float = 1.0) -> Summary:
        data = [float(v) * scale for v in values]
        return cls(
            n=len(data),
            median=percentile(data, 50),
            p25=percentile(data, 25),
            p75=percentile(data, 75),
            low=min(data),
            high=max(data),
            p95=percentile(data, 95),
        )


@dataclasses.dataclass
class Row:
    """One line of a results table."""

    section: str
    measurement: str
    client: str
    condition: str
    unit: str
    summary: Summary
    target: str = ""
    verdict: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PLEXPIN = "plexpin_widget"
PLEXAPI = "python-plexapi"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# --------------------------------------------------------------------------- sizes


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much of everything to do; ``full`` is what docs/benchmarks.md reports."""

    mode: str
    import_runs: int
    importtime_runs: int
    startup_processes: int
    startup_runs: int
    slow_create_processes: int
    slow_create_runs: int
    approval_logins: int
    approval_concurrency: int
    lifetime_seconds: int
    wait_seconds: float
    wait_logins: int
    scale_main: int
    scale_series: tuple[int, ...]
    scale_widget_series: tuple[int, ...]
    approve_window: float

    @classmethod
    def full(cls) -> Sizes:
        return cls(mode="full", import_runs=15, importtime_runs=4, startup_processes=3, startup_runs=8,
                   slow_create_processes=3, slow_create_runs=2, approval_logins=60, approval_concurrency=30,
                   lifetime_seconds=60, wait_seconds=60.0, wait_logins=50, scale_main=1000, scale_series=(100, 1000, 5000),
                   scale_widget_series=(100, 1000), approve_window=30.0)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(mode="quick", import_runs=8, importtime_runs=2, startup_processes=3, startup_runs=4,
                   slow_create_processes=2, slow_create_runs=1, approval_logins=50, approval_concurrency=25,
                   lifetime_seconds=15, wait_seconds=10.0, wait_logins=20, scale_main=1000, scale_series=(100, 1000),
                   scale_widget_series=(1000,), approve_window=30.0)

    @classmethod
    def smoke(cls) -> Sizes:
        return cls(mode="smoke", import_runs=2, importtime_runs=1, startup_processes=1, startup_runs=2,
                   slow_create_processes=1, slow_create_runs=1, approval_logins=3, approval_concurrency=3,
                   lifetime_seconds=4, wait_seconds=2.0, wait_logins=3, scale_main=10, scale_series=(10, 20),
                   scale_widget_series=(10,), approve_window=2.0)


# --------------------------------------------------------------------------- worker processes


def worker_env(tmp: Path) -> dict[str, str]:
    """Environment of every worker: config in a temporary directory, nothing from the home."""
    env = dict(os.environ)
    env["PLEXPIN_CONFIG_DIR"] = str(tmp / "plexpin-config")
    env["PLEXAPI_CONFIG_PATH"] = str(tmp / "plexapi-config.ini")
    env.pop("PLEXPIN_BASE_URL", None)
    env.pop("PLEXPIN_CLIENT_IDENTIFIER", None)
    env.pop("PLEX_TOKEN", None)
    # An installed package has its bytecode compiled; a checkout run with PYTHONDONTWRITEBYTECODE
    # would compile every module of ours from source at each import. Bytecode goes to a private
    # cache for the run instead of into the source tree (warmed by warm_up() before measuring).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def worker_command(script: str, task: str, params: dict[str, Any]) -> list[str]:
    return [PYTHON, str(BENCH_DIR / script), task, json.dumps(params)]


def parse_result(stdout: str) -> Any:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    raise RuntimeError("the worker printed no RESULT line")


def run_worker(
    script: str, task: str, params: dict[str, Any], tmp: Path, timeout: float = 600,
    extra_env: dict[str, str] | None = None,
) -> Any:
    """Run one worker to completion and return its result."""
    proc = subprocess.run(
        worker_command(script, task, params),
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**worker_env(tmp), **(extra_env or {})},
        cwd=str(BENCH_DIR.parent),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script} {task} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return parse_result(proc.stdout)


def start_worker(script: str, task: str, params: dict[str, Any], tmp: Path) -> subprocess.Popen[str]:
    """Start a worker without waiting; finish it with :func:`finish_worker`."""
    return subprocess.Popen(
        worker_command(script, task, params),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=worker_env(tmp),
        cwd=str(BENCH_DIR.parent),
    )


def finish_worker(proc: subprocess.Popen[str], timeout: float = 600) -> Any:
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        raise RuntimeError(f"a worker did not finish within {timeout:g} s:\n{stderr[-4000:]}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"a worker failed ({proc.returncode}):\n{stderr[-4000:]}")
    return parse_result(stdout)


def emit(result: Any) -> None:
    """What a worker calls last: print its result for the orchestrator."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def worker_main(tasks: dict[str, Any]) -> None:
    """``python bench/measure_x.py TASK JSON``: run one task and emit its result."""
    task, params = sys.argv[1], json.loads(sys.argv[2])
    emit(tasks[task](**params))


# --------------------------------------------------------------------------- the emulator process


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmulatorProcess:
    """``python -m plexpin_widget.emulator`` on a loopback port, driven through its HTTP hooks."""

    def __init__(self, tmp: Path, *, short_lifetime: int = 900) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Open for the emulator's whole life, closed in stop().
        self._log_file = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "plexpin_widget.emulator", "--port", str(self.port),
             "--short-lifetime", str(short_lifetime)],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=worker_env(tmp),
        )
        self.hooks = httpx.Client(base_url=self.url, timeout=60.0)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.hooks.get("/__emulator__/clock").raise_for_status()
                break
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self._log_file.seek(0)
                    raise RuntimeError(f"the emulator did not start:\n{self._log_file.read()}") from None
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def reset(self) -> None:
        self.hooks.post("/__emulator__/reset").raise_for_status()

    def add_latency(self, seconds: float, *, method: str | None = None, path_prefix: str = API_PREFIX) -> None:
        """Answer every matching request ``seconds`` late (the request itself is handled on arrival)."""
        if seconds <= 0:
            return
        body: dict[str, Any] = {"kind": "latency", "delay": seconds, "count": None, "path_prefix": path_prefix}
        if method:
            body["method"] = method
        self.hooks.post("/__emulator__/faults", json=body).raise_for_status()

    def claim(self, pin_id: int) -> None:
        self.hooks.post("/__emulator__/claim", json={"pin_id": pin_id}).raise_for_status()

    def log(self) -> list[dict[str, Any]]:
        response = self.hooks.get("/__emulator__/log")
        response.raise_for_status()
        return list(response.json())

    def pins(self) -> list[dict[str, Any]]:
        response = self.hooks.get("/__emulator__/pins")
        response.raise_for_status()
        return list(response.json())

    def stop(self) -> None:
        self.hooks.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def warm_up(tmp: Path) -> None:
    """Fill the run's bytecode cache with everything the measurements import, lazily or not,
    by going through one login of each client (and the emulator's start) before any timing."""
    with EmulatorProcess(tmp) as emu:
        for task in ("plexpin", "plexapi"):
            run_worker("measure_startup.py", task, {"url": emu.url, "runs": 1}, tmp)
        subprocess.run([PYTHON, "-c", "import psutil, plexpin_widget, plexapi.myplex, ipywidgets"],
                       env=worker_env(tmp), check=True)


def log_by_client(entries: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        grouped.setdefault(entry.get("client_identifier") or "", []).append(entry)
    return grouped


def is_pin_check(entry: dict[str, Any]) -> bool:
    return entry["method"] == "GET" and entry["path"].startswith("/api/v2/pins/") and "/qr/" not in entry["path"]


def latency_label(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"
