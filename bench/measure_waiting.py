"""(5) What one waiting login costs: CPU time, threads and sockets while nobody approves.

Each client runs in a process of its own. Once the login shows its code, the process's CPU time
is read at the start and end of each slice of the window, and threads and TCP sockets
(:mod:`psutil`) are sampled at each slice boundary. CPU per waiting
minute is given per slice, so the median comes with a spread. Threads are also counted before
the login exists, so what the login adds can be told from what the interpreter already has.
CPU time is ``time.process_time()`` (user + system of every thread, with nanosecond resolution).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from common import (
    PLEXAPI,
    PLEXPIN,
    PRODUCT,
    EmulatorProcess,
    Row,
    Sizes,
    Summary,
    finish_worker,
    is_pin_check,
    log_by_client,
    run_worker,
    start_worker,
    verdict,
    worker_main,
)

SECTION = "waiting"
TARGET_CPU_PER_MIN = 0.2
SLICES = 6
PER_CHECK_RUNS = 300


def _cpu(proc: psutil.Process) -> float:
    # CLOCK_PROCESS_CPUTIME_ID (all threads, nanoseconds); psutil's cpu_times count 10 ms ticks.
    del proc
    return time.process_time()


def _sample(proc: psutil.Process) -> tuple[int, int]:
    return proc.num_threads(), len(proc.net_connections(kind="tcp"))


class _Window:
    """Slices of a waiting window: CPU per minute for each, threads and sockets at each end."""

    def __init__(self, seconds: float) -> None:
        self.proc = psutil.Process()
        self.slice = seconds / SLICES
        self.cpu: list[float] = []
        self.threads: list[int] = []
        self.sockets: list[int] = []
        self.start = self._t0 = time.monotonic()
        self._c0 = _cpu(self.proc)

    def mark(self) -> None:
        """End of a slice (the sampling itself is counted in the next slice, as a tiny cost)."""
        t1, c1 = time.monotonic(), _cpu(self.proc)
        self.cpu.append((c1 - self._c0) / (t1 - self._t0) * 60)
        n_threads, n_sockets = _sample(self.proc)
        self.threads.append(n_threads)
        self.sockets.append(n_sockets)
        self._t0, self._c0 = time.monotonic(), _cpu(self.proc)

    def result(self) -> dict[str, Any]:
        return {"cpu_per_min": self.cpu, "threads": self.threads, "sockets": self.sockets,
                "start": self.start, "end": time.monotonic()}


def plexpin_worker(url: str, cid: str, seconds: float) -> dict[str, Any]:
    from plexpin_widget import PlexPinLogin

    async def main() -> dict[str, Any]:
        threads_before, sockets_before = _sample(psutil.Process())
        have_code = asyncio.Event()
        login = PlexPinLogin(product=PRODUCT, base_url=url, client_identifier=cid)
        login.observe(lambda change: have_code.set() if change["new"] else None, names="code")
        await asyncio.wait_for(have_code.wait(), 60)
        await asyncio.sleep(1.0)  # let the first check pass, so the window is plain waiting
        window = _Window(seconds)
        for _ in range(SLICES):
            await asyncio.sleep(window.slice)
            window.mark()
        result = window.result()
        result.update(threads_before=threads_before, sockets_before=sockets_before, status=login.status)
        await login.aclose()
        return result

    return asyncio.run(main())


def plexapi_worker(url: str, cid: str, seconds: float) -> dict[str, Any]:
    from plexapi import myplex

    myplex.MyPlexPinLogin.PINS = f"{url}/api/v2/pins"
    threads_before, sockets_before = _sample(psutil.Process())
    login = myplex.MyPlexPinLogin(headers={"X-Plex-Client-Identifier": cid})
    assert login.pin
    login.run(timeout=None)
    time.sleep(1.0)
    window = _Window(seconds)
    for _ in range(SLICES):
        time.sleep(window.slice)
        window.mark()
    result = window.result()
    result.update(threads_before=threads_before, sockets_before=sockets_before,
                  status="waiting" if not login.finished else "finished")
    login.stop()
    return result


def per_check_worker(url: str, cid: str, checks: int, stub_sniffio: bool) -> float:
    """CPU seconds of one pin check through ``AsyncPlexTvClient``, averaged over ``checks``.

    httpcore imports ``sniffio`` each time it asks which async library runs; without the
    package installed (anyio 4 no longer needs it) that is a failed import, with a search of
    ``sys.path``, every time. ``stub_sniffio`` puts a stand-in answering "asyncio" in
    ``sys.modules`` to show what installing sniffio would save.
    """
    if stub_sniffio:
        import sys
        import types

        module = types.ModuleType("sniffio")
        module.current_async_library = lambda: "asyncio"  # type: ignore[attr-defined]
        sys.modules["sniffio"] = module
    from plexpin_widget import AsyncPlexTvClient

    async def main() -> float:
        client = AsyncPlexTvClient(product=PRODUCT, base_url=url, client_identifier=cid)
        pin = await client.create_pin()
        for _ in range(20):  # warm the connection and every lazy import
            await client.check_pin(pin.id)
        start = time.process_time()
        for _ in range(checks):
            await client.check_pin(pin.id)
        spent = (time.process_time() - start) / checks
        await client.aclose()
        return spent

    return asyncio.run(main())


class Waiting:
    """Start both waiting processes (they run alongside other idle measurements), then collect."""

    def __init__(self, sizes: Sizes, tmp: Path) -> None:
        self.seconds = sizes.wait_seconds
        self.tmp = tmp
        self.emu = EmulatorProcess(tmp)
        self.runs: list[tuple[str, str, subprocess.Popen[str]]] = []
        for client, task in ((PLEXPIN, "plexpin"), (PLEXAPI, "plexapi")):
            cid = f"bench-wait-{task}-{uuid.uuid4().hex[:8]}"
            proc = start_worker("measure_waiting.py", task, {"url": self.emu.url, "cid": cid,
                                                             "seconds": self.seconds}, tmp)
            self.runs.append((client, cid, proc))

    def finish(self) -> list[Row]:
        rows: list[Row] = []
        label = f"0 ms, {self.seconds:g} s window"
        try:
            rows.extend(self._per_check())
            for client, cid, proc in self.runs:
                result = finish_worker(proc, timeout=self.seconds + 120)
                if result["status"] != "waiting":
                    raise RuntimeError(f"{client} stopped waiting during the window: {result['status']}")
                entries = log_by_client(self.emu.log()).get(cid, [])
                inside = [e for e in entries if is_pin_check(e) and result["start"] <= e["at"] <= result["end"]]
                cpu = Summary.of(result["cpu_per_min"])
                ours = client == PLEXPIN
                rows.append(Row(SECTION, "CPU time per waiting minute", client, label, "CPU-s/min", cpu,
                                f"< {TARGET_CPU_PER_MIN} CPU-s/min" if ours else "",
                                verdict(cpu.median < TARGET_CPU_PER_MIN) if ours else ""))
                added = [t - result["threads_before"] for t in result["threads"]]
                rows.append(Row(SECTION, "threads (whole process) while waiting", client, label, "threads",
                                Summary.of(result["threads"])))
                rows.append(Row(SECTION, "threads added by the login", client, label, "threads", Summary.of(added),
                                "0 (no thread per login)" if ours else "",
                                verdict(max(added) == 0) if ours else ""))
                rows.append(Row(SECTION, "open TCP sockets while waiting", client, label, "sockets",
                                Summary.of(result["sockets"])))
                rows.append(Row(SECTION, "pin checks per waiting minute", client, label, "requests/min",
                                Summary.of([len(inside) / (result["end"] - result["start"]) * 60])))
        finally:
            self.emu.stop()
        return rows

    def _per_check(self) -> list[Row]:
        rows = []
        for stub, how in ((False, "sniffio not installed, as here"), (True, "sniffio importable")):
            samples = [run_worker("measure_waiting.py", "per_check",
                                  {"url": self.emu.url, "cid": f"bench-check-{uuid.uuid4().hex[:8]}",
                                   "checks": PER_CHECK_RUNS, "stub_sniffio": stub}, self.tmp)
                       for _ in range(3)]
            rows.append(Row(SECTION, f"CPU per pin check, AsyncPlexTvClient ({how})", PLEXPIN,
                            f"0 ms, {PER_CHECK_RUNS} checks × 3 processes", "CPU-ms", Summary.of(samples, 1000)))
        return rows


if __name__ == "__main__":
    worker_main({"plexpin": plexpin_worker, "plexapi": plexapi_worker, "per_check": per_check_worker})
