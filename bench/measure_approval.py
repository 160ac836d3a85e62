"""(3) Approval-detection latency and (4, first part) requests per login.

Logins run in batches of ``concurrency``: a batch is created, and once every login in it shows
a code, each pin is claimed through the emulator's HTTP hook at a chosen phase of that login's
own poll cycle. The cycle is read from the emulator's log (the arrival times of the login's
last two checks; both processes share ``CLOCK_MONOTONIC``), and the phases are stratified: one
random point in each of n equal slices of the cycle, shuffled. That is the same distribution as
an approval at a random moment, with far less sampling noise in the p95, and it gives both
clients the same set of phases.

Latency is the local ``time.monotonic()`` when the token became available (the ``token`` trait
changed for PlexPinLogin; the ``run(callback=...)`` call for python-plexapi) minus the one taken
as the claim hook's answer arrived; the claim itself happened at most one loopback round trip
earlier (reported alongside). Request counts and poll intervals come from the emulator's log.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import random
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from common import (
    PLEXAPI,
    PLEXPIN,
    PRODUCT,
    EmulatorProcess,
    Row,
    Sizes,
    Summary,
    is_pin_check,
    latency_label,
    log_by_client,
    percentile,
    run_worker,
    verdict,
    worker_main,
)

SECTION = "approval"
POLL_INTERVAL = 1.0
MARGIN = 0.05


def claim_phases(n: int, seed: int) -> list[float]:
    """``n`` phases in [0, 1): one uniformly inside each of ``n`` equal slices, shuffled."""
    rng = random.Random(seed)
    phases = [(i + rng.random()) / n for i in range(n)]
    rng.shuffle(phases)
    return phases


class Claimer:
    """Claims pins from worker threads, so the timestamps never wait for an event loop."""

    def __init__(self, url: str) -> None:
        self._http = httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_connections=64))

    def _checks(self, cid: str) -> list[float]:
        response = self._http.get("/__emulator__/log", params={"client_identifier": cid})
        response.raise_for_status()
        return sorted(e["at"] for e in response.json() if is_pin_check(e))

    def claim_at_phase(self, cid: str, pin_id: int, phase: float) -> tuple[float, float]:
        """Claim ``pin_id`` at ``phase`` of the login's poll cycle, predicted from its last two
        checks; returns monotonic times just before sending and as the answer arrived."""
        while True:
            checks = self._checks(cid)
            if len(checks) >= 2:
                break
            time.sleep(0.1)
        last, cycle = checks[-1], checks[-1] - checks[-2]
        target = last + cycle * phase
        while target < time.monotonic() + 0.02:
            target += cycle
        time.sleep(target - time.monotonic())
        before = time.monotonic()
        response = self._http.post("/__emulator__/claim", json={"pin_id": pin_id})
        after = time.monotonic()
        response.raise_for_status()
        return before, after

    def close(self) -> None:
        self._http.close()


# --------------------------------------------------------------------------- workers


def plexpin_worker(url: str, n: int, concurrency: int, seed: int, prefix: str) -> list[dict[str, Any]]:
    from plexpin_widget import PlexPinLogin

    claimer = Claimer(url)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="claimer")
    phases = claim_phases(n, seed)

    async def batch(indices: range) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        logins, codes, tokens, stamps = [], [], [], []
        for index in indices:
            login = PlexPinLogin(product=PRODUCT, base_url=url, client_identifier=f"{prefix}-{index}")
            have_code, have_token, stamp = asyncio.Event(), asyncio.Event(), {}

            def on_token(change: dict[str, Any], stamp: dict[str, float] = stamp, ev: asyncio.Event = have_token) -> None:
                if change["new"] and "token" not in stamp:
                    stamp["token"] = time.monotonic()
                    ev.set()

            login.observe(on_token, names="token")
            login.observe(lambda change, ev=have_code: ev.set() if change["new"] else None, names="code")
            logins.append(login)
            codes.append(have_code)
            tokens.append(have_token)
            stamps.append(stamp)
        await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in codes)), 60)

        async def claim(k: int, index: int) -> dict[str, Any]:
            login = logins[k]
            assert login.pin is not None
            before, after = await loop.run_in_executor(
                pool, claimer.claim_at_phase, login.client_identifier, login.pin.id, phases[index])
            await asyncio.wait_for(tokens[k].wait(), 60)
            return {"cid": login.client_identifier, "before": before, "after": after, "token": stamps[k]["token"]}

        results = await asyncio.gather(*(claim(k, index) for k, index in enumerate(indices)))
        for login in logins:
            await login.aclose()
        return list(results)

    async def main() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for first in range(0, n, concurrency):
            out.extend(await batch(range(first, min(n, first + concurrency))))
        return out

    try:
        return asyncio.run(main())
    finally:
        pool.shutdown()
        claimer.close()


def plexapi_worker(url: str, n: int, concurrency: int, seed: int, prefix: str) -> list[dict[str, Any]]:
    from plexapi import myplex

    myplex.MyPlexPinLogin.PINS = f"{url}/api/v2/pins"
    claimer = Claimer(url)
    phases = claim_phases(n, seed)

    def batch(indices: range) -> list[dict[str, Any]]:
        logins, stamps = [], []
        for index in indices:
            cid = f"{prefix}-{index}"
            login = myplex.MyPlexPinLogin(headers={"X-Plex-Client-Identifier": cid})
            assert login.pin
            stamp: dict[str, float] = {}
            login.run(callback=lambda token, stamp=stamp: stamp.setdefault("token", time.monotonic()))
            logins.append((cid, login))
            stamps.append(stamp)

        def claim(k: int) -> dict[str, Any]:
            cid, login = logins[k]
            before, after = claimer.claim_at_phase(cid, int(login._id), phases[indices[k]])
            if not login.waitForLogin():
                raise RuntimeError("python-plexapi did not sign in")
            return {"cid": cid, "before": before, "after": after, "token": stamps[k]["token"]}

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(indices)) as pool:
            return list(pool.map(claim, range(len(indices))))

    try:
        out: list[dict[str, Any]] = []
        for first in range(0, n, concurrency):
            out.extend(batch(range(first, min(n, first + concurrency))))
        return out
    finally:
        claimer.close()


# --------------------------------------------------------------------------- orchestration


def p95_difference_ci(ours: list[float], theirs: list[float], rounds: int = 2000) -> tuple[float, float]:
    """A 90 % bootstrap interval for p95(ours) − p95(theirs), to tell a difference from noise."""
    rng = random.Random(11)
    diffs = sorted(
        percentile(rng.choices(ours, k=len(ours)), 95) - percentile(rng.choices(theirs, k=len(theirs)), 95)
        for _ in range(rounds)
    )
    return percentile(diffs, 5), percentile(diffs, 95)


def _requests(entries: list[dict[str, Any]]) -> tuple[int, int, list[float]]:
    """(all requests, pin requests, intervals between successive pin checks) of one login."""
    pin = [e for e in entries if e["path"].startswith("/api/v2/pins")]
    checks = sorted(e["at"] for e in entries if is_pin_check(e))
    return len(entries), len(pin), [b - a for a, b in itertools.pairwise(checks)]


def measure(sizes: Sizes, tmp: Path) -> tuple[list[Row], dict[str, object]]:
    rows: list[Row] = []
    details: dict[str, object] = {}
    for latency in (0.0, 0.1):
        label = latency_label(latency)
        p95: dict[str, float] = {}
        rtt: dict[str, float] = {}
        samples: dict[str, list[float]] = {}
        for client, task in ((PLEXPIN, "plexpin"), (PLEXAPI, "plexapi")):
            prefix = f"bench-approval-{task}-{uuid.uuid4().hex[:8]}"
            with EmulatorProcess(tmp) as emu:
                emu.add_latency(latency)
                params = {"url": emu.url, "n": sizes.approval_logins, "concurrency": sizes.approval_concurrency,
                          "seed": 7, "prefix": prefix}
                results = run_worker("measure_approval.py", task, params, tmp)
                grouped = log_by_client(emu.log())
            latencies = [r["token"] - r["after"] for r in results]
            samples[client] = latencies
            claim_rtt = [r["after"] - r["before"] for r in results]
            counts = [_requests(grouped.get(r["cid"], [])) for r in results]
            intervals = [gap for _, _, gaps in counts for gap in gaps]
            summary = Summary.of(latencies, 1000)
            p95[client] = summary.p95
            # One round trip as the poll loop sees it: the cycle between checks minus the interval.
            rtt[client] = Summary.of(intervals).median - POLL_INTERVAL if intervals else latency
            rows.append(Row(SECTION, "approval → token (p50 = median, see p95)", client, label, "ms", summary))
            rows.append(Row(SECTION, "time between pin checks", client, label, "ms",
                            Summary.of(intervals or [0.0], 1000)))
            rows.append(Row(SECTION, "claim hook round trip (uncertainty of the claim instant)", client, label,
                            "ms", Summary.of(claim_rtt, 1000)))
            rows.append(Row("requests", "requests per approved login (all endpoints)", client, label, "requests",
                            Summary.of([c[0] for c in counts])))
            rows.append(Row("requests", "pin requests per approved login (create + checks)", client, label,
                            "requests", Summary.of([c[1] for c in counts])))
        # Targets: p95 within poll interval + one round trip + 50 ms, and no worse than python-plexapi.
        bound = (POLL_INTERVAL + rtt[PLEXPIN] + MARGIN) * 1000
        ours = next(r for r in rows if r.client == PLEXPIN and r.condition == label
                    and r.measurement.startswith("approval"))
        ours.target = f"p95 ≤ {bound:.0f} ms (1 s + RTT {rtt[PLEXPIN] * 1000:.0f} ms + 50 ms); ≤ plexapi p95"
        ours.verdict = (f"{verdict(p95[PLEXPIN] <= bound)} (bound); "
                        f"{verdict(p95[PLEXPIN] <= p95[PLEXAPI])} (vs plexapi p95 {p95[PLEXAPI]:.0f} ms)")
        low, high = p95_difference_ci(samples[PLEXPIN], samples[PLEXAPI])
        details.setdefault("approval", {})[label] = {
            "rtt_ms": {k: v * 1000 for k, v in rtt.items()},
            "p95_ms": {k: v for k, v in p95.items()},
            "p95_diff_ci_ms": (low * 1000, high * 1000),
        }
    return rows, details


if __name__ == "__main__":
    worker_main({"plexpin": plexpin_worker, "plexapi": plexapi_worker})
