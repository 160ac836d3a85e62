"""(6) Many logins in one process: memory, threads, CPU and tokens delivered.

A worker process creates ``n`` logins on one asyncio loop, each with its own client identifier
(either ``LoginSession``, the engine, or ``PlexPinLogin``, the engine plus its widget), waits
until every one shows a code and says READY. This process (not the worker) then approves every
pin through the emulator's hook at a random moment within the approval window, while the worker
samples its threads, its RSS and its event-loop lag until every token has arrived. Peak RSS is
``ru_maxrss``; CPU is ``time.process_time()`` of the worker from the first login to the last
token. The emulator's own CPU use tells whether it was the bottleneck.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import random
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
from common import (
    PLEXPIN,
    PRODUCT,
    EmulatorProcess,
    Row,
    Sizes,
    Summary,
    emit,
    finish_worker,
    is_pin_check,
    start_worker,
    verdict,
)

SECTION = "scale"
SAMPLED_LOGS = 40
SMALL = 100
ENGINE = f"{PLEXPIN} LoginSession (engine only)"
WIDGET = f"{PLEXPIN} PlexPinLogin (engine + widget)"


# --------------------------------------------------------------------------- worker


def scale_worker(url: str, n: int, kind: str, prefix: str, timeout: float) -> dict[str, Any]:
    from plexpin_widget import PlexPinLogin
    from plexpin_widget._session import LoginSession
    from plexpin_widget._flow import Status
    from plexpin_widget._identity import ClientIdentity

    proc = psutil.Process()

    async def main() -> dict[str, Any]:
        base_rss, base_threads = proc.memory_info().rss, proc.num_threads()
        tokens: dict[int, float] = {}
        logins: list[Any] = []
        cpu0, t0 = time.process_time(), time.monotonic()
        for index in range(n):
            cid = f"{prefix}-{index}"
            if kind == "widget":
                login = PlexPinLogin(product=PRODUCT, base_url=url, client_identifier=cid)
                login.observe(lambda change, i=index: change["new"] and tokens.setdefault(i, time.monotonic()),
                              names="token")
            else:
                holder: list[Any] = []

                def on_change(i: int = index, holder: list[Any] = holder) -> None:
                    if holder and holder[0].flow.token is not None and i not in tokens:
                        tokens[i] = time.monotonic()

                login = LoginSession(ClientIdentity.create(product=PRODUCT, client_identifier=cid),
                                     base_url=url, on_change=on_change)
                holder.append(login)
                login.start()
            logins.append(login)
            if index % 100 == 99:
                await asyncio.sleep(0)  # as if created by a loop that yields now and then
        created = time.monotonic() - t0

        def flow_of(login: Any) -> Any:
            return login._session.flow if kind == "widget" else login.flow

        while sum(1 for login in logins if flow_of(login).status is Status.WAITING) < n:
            if time.monotonic() - t0 > timeout:
                raise RuntimeError("not every login got a code in time")
            await asyncio.sleep(0.1)
        codes = time.monotonic() - t0
        cpu_codes = time.process_time() - cpu0
        sys.stdout.write(f"READY {time.monotonic()}\n")
        sys.stdout.flush()

        threads, rss, lags = [], [], []
        deadline = time.monotonic() + timeout
        while len(tokens) < n and time.monotonic() < deadline:
            before = time.monotonic()
            await asyncio.sleep(0.25)
            lags.append(time.monotonic() - before - 0.25)
            threads.append(proc.num_threads())
            rss.append(proc.memory_info().rss)
        cpu_total = time.process_time() - cpu0
        wall_total = time.monotonic() - t0
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        for login in logins:
            await login.aclose()
        return {
            "n": n, "created_s": created, "codes_s": codes, "cpu_codes": cpu_codes, "cpu_total": cpu_total,
            "wall_total": wall_total, "base_rss": base_rss, "peak_rss": peak_rss, "rss": rss,
            "base_threads": base_threads, "threads": threads or [proc.num_threads()], "lags": lags or [0.0],
            "tokens": {f"{prefix}-{i}": at for i, at in tokens.items()},
        }

    return asyncio.run(main())


# --------------------------------------------------------------------------- orchestration


async def _approve(url: str, pins: list[dict[str, Any]], window: float, seed: int) -> dict[str, float]:
    """Claim every pin at a random moment within ``window`` seconds; returns {cid: claim time}."""
    rng = random.Random(seed)
    start = time.monotonic()
    claimed: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=32)) as http:

        async def claim(pin: dict[str, Any], at: float) -> None:
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            response = await http.post("/__emulator__/claim", json={"pin_id": pin["id"]})
            response.raise_for_status()
            claimed[pin["clientIdentifier"]] = time.monotonic()

        await asyncio.gather(*(claim(pin, rng.uniform(0, window)) for pin in pins))
    return claimed


def run_scale(n: int, kind: str, window: float, tmp: Path) -> dict[str, Any]:
    prefix = f"bench-scale-{kind}-{n}-{uuid.uuid4().hex[:6]}"
    timeout = window + 180.0
    with EmulatorProcess(tmp) as emu:
        emulator = psutil.Process(emu.pid)
        proc = start_worker("measure_scale.py", "scale",
                            {"url": emu.url, "n": n, "kind": kind, "prefix": prefix, "timeout": timeout}, tmp)
        assert proc.stdout is not None
        while True:
            line = proc.stdout.readline()
            if not line:
                finish_worker(proc)  # raises with the worker's error output
                raise RuntimeError("the scale worker ended before READY")
            if line.startswith("READY"):
                break
        pins = [p for p in emu.pins() if str(p["clientIdentifier"]).startswith(prefix + "-")]
        emu_cpu0, wall0 = sum(emulator.cpu_times()[:2]), time.monotonic()
        claimed = asyncio.run(_approve(emu.url, pins, window, seed=n))
        result = finish_worker(proc, timeout=timeout + 60)
        emu_busy = (sum(emulator.cpu_times()[:2]) - emu_cpu0) / (time.monotonic() - wall0)
        sample = random.Random(1).sample(sorted(claimed), min(SAMPLED_LOGS, len(claimed)))
        per_login, intervals = [], []
        for cid in sample:
            entries = emu.hooks.get("/__emulator__/log", params={"client_identifier": cid}).json()
            per_login.append(sum(1 for e in entries if e["path"].startswith("/api/v2/pins")))
            checks = sorted(e["at"] for e in entries if is_pin_check(e))
            intervals.extend(b - a for a, b in itertools.pairwise(checks))
    tokens = result["tokens"]
    result["latencies"] = [tokens[cid] - at for cid, at in claimed.items() if cid in tokens]
    result["delivered"] = len(tokens)
    result["emulator_busy"] = emu_busy
    result["pin_requests"] = per_login
    result["intervals"] = intervals or [0.0]
    return result


def _rows_for(kind: str, r: dict[str, Any], label: str, main: bool) -> list[Row]:
    who = WIDGET if kind == "widget" else ENGINE
    n = r["n"]
    mib = 1024 * 1024
    rows = [
        Row(SECTION, "tokens delivered", who, label, "tokens", Summary.of([r["delivered"]]), f"all {n}",
            verdict(r["delivered"] == n)),
        Row(SECTION, "CPU, first login to last token", who, label, "CPU-s", Summary.of([r["cpu_total"]])),
        Row(SECTION, "CPU per login", who, label, "CPU-ms", Summary.of([r["cpu_total"] / n * 1000])),
        Row(SECTION, "CPU to create all and show every code, per login", who, label, "CPU-ms",
            Summary.of([r["cpu_codes"] / n * 1000])),
        Row(SECTION, "peak RSS", who, label, "MiB", Summary.of([r["peak_rss"] / mib])),
        Row(SECTION, "RSS added per login (peak − before)", who, label, "KiB",
            Summary.of([(r["peak_rss"] - r["base_rss"]) / n / 1024])),
        Row(SECTION, "threads in the process", who, label, "threads", Summary.of(r["threads"]),
            "no thread per login" if main else "",
            verdict(max(r["threads"]) - r["base_threads"] < 8) if main else ""),
        Row(SECTION, "event-loop lag (0.25 s sleeps)", who, label, "ms", Summary.of(r["lags"], 1000)),
        Row(SECTION, "approval → token", who, label, "ms", Summary.of(r["latencies"] or [0.0], 1000)),
        Row(SECTION, "time between pin checks (40 sampled logins)", who, label, "ms",
            Summary.of(r["intervals"], 1000)),
        Row(SECTION, "emulator CPU use during approvals", who, label, "% of a core",
            Summary.of([r["emulator_busy"] * 100])),
    ]
    return rows


def measure(sizes: Sizes, tmp: Path) -> tuple[list[Row], dict[str, object]]:
    rows: list[Row] = []
    growth: dict[str, list[dict[str, float]]] = {}
    results: dict[tuple[str, int], dict[str, Any]] = {}
    plan = [("session", n) for n in sizes.scale_series] + [("widget", n) for n in sizes.scale_widget_series]
    if ("widget", sizes.scale_main) not in plan:
        plan.append(("widget", sizes.scale_main))
    # Runs of at most SMALL logins use little CPU, so they share the wall-clock time (each in
    # its own worker and emulator process); the larger ones run alone.
    small = [(kind, n) for kind, n in plan if n <= SMALL]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(small))) as pool:
        futures = {key: pool.submit(run_scale, key[1], key[0], sizes.approve_window, tmp) for key in small}
        for key, future in futures.items():
            results[key] = future.result()
    for kind, n in plan:
        if (kind, n) not in results:
            results[(kind, n)] = run_scale(n, kind, sizes.approve_window, tmp)
    for kind, n in plan:
        r = results[(kind, n)]
        label = f"{n} logins, approvals within {sizes.approve_window:g} s"
        rows.extend(_rows_for(kind, r, label, main=n == sizes.scale_main))
        growth.setdefault(kind, []).append({
            "n": n, "cpu_s": r["cpu_total"], "cpu_ms_per_login": r["cpu_total"] / n * 1000,
            "cpu_codes_ms_per_login": r["cpu_codes"] / n * 1000,
            "rss_kib_per_login": (r["peak_rss"] - r["base_rss"]) / n / 1024, "peak_rss_mib": r["peak_rss"] / 2**20,
            "threads": max(r["threads"]), "delivered": r["delivered"], "wall_s": r["wall_total"],
            "create_s": r["created_s"], "codes_s": r["codes_s"], "emulator_busy": r["emulator_busy"],
            "lag_p95_ms": Summary.of(r["lags"], 1000).p95,
            "latency_p95_ms": Summary.of(r["latencies"] or [0.0], 1000).p95,
            "interval_median_ms": Summary.of(r["intervals"], 1000).median,
        })
    return rows, {"growth": growth}


if __name__ == "__main__":
    import json

    task, params = sys.argv[1], json.loads(sys.argv[2])
    assert task == "scale"
    emit(scale_worker(**params))
