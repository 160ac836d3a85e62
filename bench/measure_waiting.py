"""(5) What waiting logins cost: CPU time, threads and sockets while nobody approves.

Three worker processes run side by side in the same run, against one emulator process: n
python-plexapi logins (``MyPlexPinLogin.run(timeout=None)``, a thread each), n bare engines
(``LoginSession``) and n widgets (``PlexPinLogin``, countdown and all) on one event loop. Once
every login shows its code, each worker reads its CPU time at the start and end of each slice
of the window, and threads and TCP sockets (:mod:`psutil`) at each slice boundary. CPU is
given per login and per waiting minute, per slice, so the median comes with a spread; the
three are compared directly, as they ran at the same time on the same machine.
CPU time is ``time.process_time()`` (user + system of every thread, with nanosecond resolution).

With ``profile=True`` a worker runs its window under cProfile (every thread, for python-plexapi)
and returns the breakdown as text; ``bench/profile_waiting.py`` prints it.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from common import (
    PLEXAPI,
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
SLICES = 6
PER_CHECK_RUNS = 300
ENGINE = "plexpin_widget LoginSession (engine only)"
WIDGET = "plexpin_widget PlexPinLogin (engine + widget)"
#: (client label, worker task), in the order the report shows them.
KINDS = ((PLEXAPI, "plexapi"), (ENGINE, "engine"), (WIDGET, "widget"))


def _sample(proc: psutil.Process) -> tuple[int, int]:
    return proc.num_threads(), len(proc.net_connections(kind="tcp"))


class _Window:
    """Slices of a waiting window: CPU per login-minute for each, threads and sockets at each end."""

    def __init__(self, seconds: float, logins: int) -> None:
        self.proc = psutil.Process()
        self.logins = logins
        self.slice = seconds / SLICES
        self.cpu: list[float] = []
        self.threads: list[int] = []
        self.sockets: list[int] = []
        self.start = self._t0 = time.monotonic()
        self._c0 = time.process_time()

    def mark(self) -> None:
        """End of a slice (the sampling itself is counted in the next slice, as a tiny cost)."""
        t1, c1 = time.monotonic(), time.process_time()
        self.cpu.append((c1 - self._c0) / (t1 - self._t0) * 60 / self.logins)
        n_threads, n_sockets = _sample(self.proc)
        self.threads.append(n_threads)
        self.sockets.append(n_sockets)
        self._t0, self._c0 = time.monotonic(), time.process_time()

    def result(self) -> dict[str, Any]:
        return {"cpu_per_login_min": self.cpu, "threads": self.threads, "sockets": self.sockets,
                "start": self.start, "end": time.monotonic()}


# --------------------------------------------------------------------------- profiling


_GROUPS = ("httpx", "httpcore", "h11", "anyio", "sniffio", "asyncio", "selectors", "ssl", "socket",
           "ipywidgets", "traitlets", "comm", "plexpin_widget", "plexapi", "requests", "urllib3", "http",
           "json", "threading", "logging", "email", "psutil")


def _group(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    for part in reversed(parts[:-1]):
        if part in _GROUPS:
            return part
    stem = parts[-1].removesuffix(".py")
    if stem in _GROUPS:
        return stem
    return "other: " + "/".join(parts[-2:])


#: Packages grouped into the layers the report shows.
LAYERS = {
    "plexpin_widget": "plexpin_widget (flow, drivers, client, models, widget)",
    "traitlets": "traitlets, ipywidgets, comm (widget state)", "ipywidgets": "traitlets, ipywidgets, comm (widget state)",
    "comm": "traitlets, ipywidgets, comm (widget state)",
    "httpx": "httpx", "httpcore": "httpcore", "h11": "h11",
    "anyio": "anyio, sniffio (httpcore's async backend)", "sniffio": "anyio, sniffio (httpcore's async backend)",
    "asyncio": "asyncio event loop, selectors", "selectors": "asyncio event loop, selectors",
    "plexapi": "plexapi", "requests": "requests", "urllib3": "urllib3",
    "http": "http.client, socket, ssl, email (headers)", "socket": "http.client, socket, ssl, email (headers)",
    "ssl": "http.client, socket, ssl, email (headers)", "email": "http.client, socket, ssl, email (headers)",
    # requests looks up proxies in os.environ on every request (trust_env).
    "other: urllib/request.py": "os.environ scans (proxy lookup)", "other: <frozen os>": "os.environ scans (proxy lookup)",
    "other: <frozen _collections_abc>": "os.environ scans (proxy lookup)",
    "psutil": "the benchmark's own sampling (psutil)",
    "threading": "threading (sleep, locks)", "json": "json",
}
OTHER_LAYER = "standard library and other"


def _layer(group: str) -> str:
    return LAYERS.get(group, OTHER_LAYER)


def _is_c(filename: str) -> bool:
    return filename == "~"  # "<frozen os>" and the like are Python code


def breakdown(stats: pstats.Stats, seconds: float, logins: int, top: int = 30) -> tuple[str, dict[str, float]]:
    """Own CPU time per package and the top functions, in CPU-s per login-minute (as profiled),
    as text and as a share of the total per layer (:data:`LAYERS`).

    A C function's time (a socket send, ``isinstance``) counts for the package that called it."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    scale = 60 / seconds / logins
    by_group: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tt, _ct, callers) in raw.items():
        if _is_c(filename) and callers:
            for (caller_file, _l, _n), entry in callers.items():
                group = _group(caller_file) if not _is_c(caller_file) else "C functions"
                by_group[group] = by_group.get(group, 0.0) + entry[2]
        else:
            by_group[_group(filename)] = by_group.get(_group(filename), 0.0) + tt
    total = sum(by_group.values())
    out = io.StringIO()
    out.write(f"CPU under cProfile (thread time): {total * scale:.4f} CPU-s per login-minute, "
              "by package (C calls counted for their caller):\n")
    for name, tt in sorted(by_group.items(), key=lambda kv: -kv[1]):
        if tt * scale >= 0.0005:
            out.write(f"  {name:34s} {tt * scale:.4f}  ({tt / total:5.1%})\n")
    out.write("\n")
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    layers: dict[str, float] = {}
    for name, tt in by_group.items():
        layers[_layer(name)] = layers.get(_layer(name), 0.0) + tt / total
    return out.getvalue(), layers


def _profiler() -> cProfile.Profile:
    # Thread CPU time, not wall time: a profiled wait in epoll must not count as work.
    return cProfile.Profile(time.thread_time)


# --------------------------------------------------------------------------- workers


async def _async_window(seconds: float, logins: int, profile: bool) -> tuple[dict[str, Any], str, dict[str, float]]:
    await asyncio.sleep(1.0)  # let the first checks pass, so the window is plain waiting
    profiler = _profiler() if profile else None
    window = _Window(seconds, logins)
    if profiler:
        profiler.enable()
    for _ in range(SLICES):
        await asyncio.sleep(window.slice)
        window.mark()
    text, layers = "", {}
    if profiler:
        profiler.disable()
        text, layers = breakdown(pstats.Stats(profiler), window.result()["end"] - window.start, logins)
    return window.result(), text, layers


def _run_async(make: Callable[[str, str], Any], url: str, logins: int, seconds: float, profile: bool,
               statuses: Callable[[list[Any]], list[str]], have_code: Callable[[Any], bool],
               close: Callable[[Any], Any]) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        threads_before, sockets_before = _sample(psutil.Process())
        items = [make(url, f"bench-wait-{uuid.uuid4().hex[:12]}") for _ in range(logins)]
        deadline = time.monotonic() + 120
        while not all(have_code(item) for item in items):
            if time.monotonic() > deadline:
                raise RuntimeError("not every login showed a code within 120 s")
            await asyncio.sleep(0.05)
        result, text, layers = await _async_window(seconds, logins, profile)
        result.update(threads_before=threads_before, sockets_before=sockets_before, statuses=statuses(items),
                      client_identifiers=[_cid(item) for item in items], profile=text, layers=layers)
        for item in items:
            await close(item)
        return result

    return asyncio.run(main())


def _cid(item: Any) -> str:
    identity = getattr(item, "identity", None)
    return identity.client_identifier if identity is not None else item.client_identifier


def engine_worker(url: str, logins: int, seconds: float, profile: bool = False) -> dict[str, Any]:
    from plexpin_widget import ClientIdentity
    from plexpin_widget._session import LoginSession

    def make(url: str, cid: str) -> LoginSession:
        session = LoginSession(ClientIdentity.create(product=PRODUCT, client_identifier=cid), base_url=url)
        session.start()
        return session

    return _run_async(make, url, logins, seconds, profile,
                      statuses=lambda items: [s.status.value for s in items],
                      have_code=lambda s: s.flow.pin is not None, close=lambda s: s.aclose())


def widget_worker(url: str, logins: int, seconds: float, profile: bool = False) -> dict[str, Any]:
    from plexpin_widget import PlexPinLogin

    def make(url: str, cid: str) -> PlexPinLogin:
        return PlexPinLogin(product=PRODUCT, base_url=url, client_identifier=cid)

    return _run_async(make, url, logins, seconds, profile,
                      statuses=lambda items: [w.status for w in items],
                      have_code=lambda w: bool(w.code), close=lambda w: w.aclose())


def plexapi_worker(url: str, logins: int, seconds: float, profile: bool = False) -> dict[str, Any]:
    from plexapi import myplex

    myplex.MyPlexPinLogin.PINS = f"{url}/api/v2/pins"
    profilers: list[cProfile.Profile] = []
    if profile:
        poll = myplex.MyPlexPinLogin._pollLogin

        def profiled_poll(self: Any) -> None:
            # cProfile sees only the thread that enables it: each poller profiles itself, for its
            # whole life (the window plus the second before it; scaled by that time below).
            profiler = _profiler()
            profilers.append(profiler)
            profiler.enable()
            try:
                poll(self)
            finally:
                profiler.disable()

        myplex.MyPlexPinLogin._pollLogin = profiled_poll  # type: ignore[method-assign]
    threads_before, sockets_before = _sample(psutil.Process())
    cids = [f"bench-wait-{uuid.uuid4().hex[:12]}" for _ in range(logins)]
    items = [myplex.MyPlexPinLogin(headers={"X-Plex-Client-Identifier": cid}) for cid in cids]
    for login in items:
        assert login.pin
    threads_started = time.monotonic()
    for login in items:
        login.run(timeout=None)
    time.sleep(1.0)
    window = _Window(seconds, logins)
    for _ in range(SLICES):
        time.sleep(window.slice)
        window.mark()
    result = window.result()
    statuses = ["waiting" if not login.finished else "finished" for login in items]
    for login in items:
        login.stop()  # joins the thread, so every profiler has stopped after this
    text, layers = "", {}
    if profilers:
        text, layers = breakdown(pstats.Stats(*profilers), time.monotonic() - threads_started, logins)
    result.update(threads_before=threads_before, sockets_before=sockets_before, statuses=statuses,
                  client_identifiers=cids, profile=text, layers=layers)
    return result


def per_check_worker(url: str, cid: str, checks: int) -> float:
    """CPU seconds of one pin check through ``AsyncPlexTvClient``, averaged over ``checks``."""
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
    """Start the three waiting processes (they run alongside other idle measurements), then collect."""

    def __init__(self, sizes: Sizes, tmp: Path) -> None:
        self.seconds = sizes.wait_seconds
        self.logins = sizes.wait_logins
        self.tmp = tmp
        self.emu = EmulatorProcess(tmp)
        self.runs: list[tuple[str, subprocess.Popen[str]]] = []
        for client, task in KINDS:
            proc = start_worker("measure_waiting.py", task, {"url": self.emu.url, "logins": self.logins,
                                                             "seconds": self.seconds}, tmp)
            self.runs.append((client, proc))

    def finish(self) -> tuple[list[Row], dict[str, Any]]:
        rows: list[Row] = []
        label = f"0 ms, {self.logins} logins, {self.seconds:g} s window"
        medians: dict[str, float] = {}
        try:
            results = [(client, finish_worker(proc, timeout=self.seconds + 300)) for client, proc in self.runs]
            log = log_by_client(self.emu.log())
            for client, result in results:
                if any(status != "waiting" for status in result["statuses"]):
                    raise RuntimeError(f"{client} stopped waiting during the window: {result['statuses']}")
                checks = sum(1 for cid in result["client_identifiers"] for e in log.get(cid, [])
                             if is_pin_check(e) and result["start"] <= e["at"] <= result["end"])
                cpu = Summary.of(result["cpu_per_login_min"])
                medians[client] = cpu.median
                rows.append(Row(SECTION, "CPU time per login per waiting minute", client, label, "CPU-s/min", cpu))
                added = [t - result["threads_before"] for t in result["threads"]]
                rows.append(Row(SECTION, "threads (whole process) while waiting", client, label, "threads",
                                Summary.of(result["threads"])))
                ours = client != PLEXAPI
                rows.append(Row(SECTION, "threads added by the logins", client, label, "threads", Summary.of(added),
                                "0 (no thread per login)" if ours else "",
                                verdict(max(added) == 0) if ours else ""))
                rows.append(Row(SECTION, "open TCP sockets while waiting", client, label, "sockets",
                                Summary.of(result["sockets"])))
                rows.append(Row(SECTION, "pin checks per login per waiting minute", client, label, "requests/min",
                                Summary.of([checks / self.logins / (result["end"] - result["start"]) * 60])))
            rows.extend(self._per_check())
            profiles = self._profiles()
        finally:
            self.emu.stop()
        _judge(rows, medians)
        return rows, {"waiting": medians, "waiting_profile": profiles}

    def _profiles(self) -> dict[str, Any]:
        """The same three, again side by side, under cProfile: where the CPU goes, per layer."""
        seconds = max(2.0, self.seconds / 3)
        procs = [(client, start_worker("measure_waiting.py", task, {"url": self.emu.url, "logins": self.logins,
                                                                    "seconds": seconds, "profile": True},
                                       self.tmp)) for client, task in KINDS]
        out: dict[str, Any] = {"seconds": seconds, "logins": self.logins, "clients": {}}
        for client, proc in procs:
            result = finish_worker(proc, timeout=seconds + 300)
            out["clients"][client] = {"layers": result["layers"],
                                      "cpu_per_login_min": sorted(result["cpu_per_login_min"])}
        return out

    def _per_check(self) -> list[Row]:
        samples = [run_worker("measure_waiting.py", "per_check",
                              {"url": self.emu.url, "cid": f"bench-check-{uuid.uuid4().hex[:8]}",
                               "checks": PER_CHECK_RUNS}, self.tmp)
                   for _ in range(3)]
        return [Row(SECTION, "CPU per pin check, AsyncPlexTvClient", ENGINE,
                    f"0 ms, {PER_CHECK_RUNS} checks × 3 processes", "CPU-ms", Summary.of(samples, 1000))]


def _judge(rows: list[Row], medians: dict[str, float]) -> None:
    """The targets: the widget at most python-plexapi's CPU, the engine below it (same run)."""
    theirs = medians.get(PLEXAPI)
    if theirs is None:
        return
    for row in rows:
        if row.measurement != "CPU time per login per waiting minute" or row.client == PLEXAPI:
            continue
        if row.client == WIDGET:
            row.target, ok = f"≤ python-plexapi ({theirs:.3f})", row.summary.median <= theirs
        else:
            row.target, ok = f"< python-plexapi ({theirs:.3f})", row.summary.median < theirs
        row.verdict = verdict(ok)


if __name__ == "__main__":
    worker_main({"engine": engine_worker, "widget": widget_worker, "plexapi": plexapi_worker,
                 "per_check": per_check_worker})
