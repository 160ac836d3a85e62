"""(4, second part) Requests over a whole pin lifetime when nobody approves.

Two ways, which check each other:

* Simulated, 900 s: the real decision code runs on a virtual clock against an in-process
  emulator whose clock is the same virtual clock. For plexpin_widget that is ``PinFlow`` (every
  schedule lives there; the driver only carries out its actions), for python-plexapi its own
  ``MyPlexPinLogin._pollLogin`` loop with ``time`` and the HTTP session replaced. A request
  reaches the server when it is sent; its answer arrives ``latency`` seconds later.
* Emulated: real logins against the emulator process with a short pin lifetime, counted in the
  emulator's log, then projected to 900 s.

"After expiry" counts requests the server received once the pin had expired (they get a 404).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

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
    latency_label,
    log_by_client,
    start_worker,
    verdict,
    worker_main,
)

SECTION = "lifetime"
LIFETIME = 900
LATENCIES = (0.0, 0.1)


# --------------------------------------------------------------------------- simulation


def _virtual_emulator(lifetime: int) -> tuple[Any, Any]:
    from plexpin_widget.emulator import Clock, PlexTvEmulator

    class VirtualClock(Clock):
        """The emulator's "now" is whatever the simulation says."""

        def __init__(self) -> None:
            super().__init__()
            self.t = 1_800_000_000.0

        def now(self) -> float:
            return self.t

        def advance(self, seconds: float) -> float:
            self.t += seconds
            return self.t

    clock = VirtualClock()
    return PlexTvEmulator(short_lifetime=lifetime, clock=clock), clock


def _after_expiry(emu: Any, cid: str) -> int:
    return sum(1 for e in emu.request_log(cid) if e.status == 404)


def simulate_plexpin(latency: float, lifetime: int = LIFETIME) -> dict[str, float]:
    """Run ``PinFlow`` through a whole unapproved pin lifetime on a virtual clock."""
    from plexpin_widget import PlexPinError, PlexTvClient
    from plexpin_widget._flow import CheckPin, CreatePin, Expire, PinFlow, PinReceived, RequestFailed, TimerFired

    emu, clock = _virtual_emulator(lifetime)
    cid = "sim-plexpin"
    client = PlexTvClient(product=PRODUCT, client_identifier=cid, transport=emu.transport())
    start = clock.t
    flow = PinFlow(poll_interval=1.0)
    sent: list[float] = []
    t = 0.0
    flow.start(t)
    while flow.pending is not None:
        action = flow.pending
        t = max(t, action.due)
        if isinstance(action, Expire):
            flow.receive(TimerFired(action.seq), t)
            continue
        clock.t = start + t  # the request reaches the server as it is sent...
        sent.append(t)
        try:
            pin = client.create_pin() if isinstance(action, CreatePin) else client.check_pin(action.pin_id)
            event: Any = PinReceived(action.seq, pin, sent_at=t)
        except PlexPinError as exc:  # a 404 would be a request after expiry; the flow must not make one
            event = RequestFailed(action.seq, exc)
        assert isinstance(action, (CreatePin, CheckPin))
        t += latency  # ...and its answer arrives one round trip later
        flow.receive(event, t)
    log = emu.request_log(cid)
    client.close()
    return {
        "requests": len(log),
        "after_expiry": _after_expiry(emu, cid),
        "last_request_s": sent[-1],
        "status": flow.status.value,
    }


def simulate_plexapi(latency: float, timeout: float | None, lifetime: int = LIFETIME) -> dict[str, float]:
    """Run python-plexapi's own poll loop (``_pollLogin``) on a virtual clock."""
    from plexapi import myplex

    from plexpin_widget.emulator import EmulatorRequest

    emu, clock = _virtual_emulator(lifetime)
    cid = "sim-plexapi"
    start = clock.t
    sent: list[float] = []

    class Response:
        def __init__(self, status: int, body: bytes, url: str) -> None:
            self.status_code, self.text, self.url = status, body.decode("utf-8"), url
            self.ok = status < 400

    class Session:
        def _send(self, method: str, url: str, headers: dict[str, str], params: Any = None) -> Response:
            path = url.split("plex.tv", 1)[1]
            query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
            sent.append(clock.t - start)
            answer = emu.handle(EmulatorRequest(method, path, query, headers, b"", "https://plex.tv"))
            clock.t += latency
            return Response(answer.status, answer.body, url)

        def post(self, url: str, headers: dict[str, str], timeout: Any = None, params: Any = None) -> Response:
            return self._send("POST", url, headers, params)

        def get(self, url: str, headers: dict[str, str], timeout: Any = None) -> Response:
            return self._send("GET", url, headers)

    class VirtualTime:
        @staticmethod
        def time() -> float:
            return clock.t

        @staticmethod
        def sleep(seconds: float) -> None:
            clock.t += seconds

    real_time = myplex.time
    myplex.time = VirtualTime  # type: ignore[assignment]
    try:
        login = myplex.MyPlexPinLogin(session=Session(), headers={"X-Plex-Client-Identifier": cid})
        assert login.pin
        login._loginTimeout = timeout
        login._pollLogin()  # what run() starts in a thread, here in this one
    finally:
        myplex.time = real_time  # type: ignore[assignment]
    log = emu.request_log(cid)
    return {
        "requests": len(log),
        "after_expiry": _after_expiry(emu, cid),
        "last_request_s": sent[-1],
        "status": "expired" if login.expired else "gave up",
    }


def simulated_rows() -> list[Row]:
    rows: list[Row] = []
    for latency in LATENCIES:
        label = f"{latency_label(latency)} (simulated {LIFETIME} s)"
        ours = simulate_plexpin(latency)
        theirs = simulate_plexapi(latency, None)
        default = simulate_plexapi(latency, 120)
        rows.append(Row(SECTION, "requests in one unapproved pin lifetime", PLEXPIN, label, "requests",
                        Summary.of([ours["requests"]]), "≤ python-plexapi (timeout=None)",
                        verdict(ours["requests"] <= theirs["requests"])))
        rows.append(Row(SECTION, "requests after expiry", PLEXPIN, label, "requests",
                        Summary.of([ours["after_expiry"]]), "0", verdict(ours["after_expiry"] == 0)))
        rows.append(Row(SECTION, "requests in one unapproved pin lifetime", f"{PLEXAPI} run(timeout=None)", label,
                        "requests", Summary.of([theirs["requests"]])))
        rows.append(Row(SECTION, "requests after expiry", f"{PLEXAPI} run(timeout=None)", label, "requests",
                        Summary.of([theirs["after_expiry"]])))
        rows.append(Row(SECTION, "requests until it stops (gives up at 120 s, pin still valid)",
                        f"{PLEXAPI} run() default", label, "requests", Summary.of([default["requests"]])))
    return rows


# --------------------------------------------------------------------------- emulated, short lifetime


def plexpin_worker(url: str, prefix: str, logins: int, timeout: float) -> list[str]:
    from plexpin_widget import PlexPinLogin

    async def one(index: int) -> str:
        done = asyncio.Event()
        login = PlexPinLogin(product=PRODUCT, base_url=url, client_identifier=f"{prefix}-{index}")
        login.observe(lambda change: done.set() if change["new"] in ("expired", "error") else None, names="status")
        await asyncio.wait_for(done.wait(), timeout)
        status = login.status
        await login.aclose()
        return status

    async def main() -> list[str]:
        return list(await asyncio.gather(*(one(i) for i in range(logins))))

    return asyncio.run(main())


def plexapi_worker(url: str, prefix: str, logins: int, timeout: float) -> list[str]:
    from plexapi import myplex

    myplex.MyPlexPinLogin.PINS = f"{url}/api/v2/pins"
    pending = []
    for index in range(logins):
        login = myplex.MyPlexPinLogin(headers={"X-Plex-Client-Identifier": f"{prefix}-{index}"})
        assert login.pin
        login.run(timeout=None)
        pending.append(login)
    deadline = time.monotonic() + timeout
    for login in pending:
        login._thread.join(max(0.0, deadline - time.monotonic()))
    return ["expired" if login.expired else "still polling" for login in pending]


class EmulatedLifetime:
    """Start the short-lifetime runs (they mostly wait), then collect their rows."""

    LOGINS = 3

    def __init__(self, sizes: Sizes, tmp: Path) -> None:
        self.lifetime = sizes.lifetime_seconds
        self.runs: list[tuple[float, str, str, EmulatorProcess, subprocess.Popen[str]]] = []
        self.emulators: list[EmulatorProcess] = []
        for latency in LATENCIES:
            emu = EmulatorProcess(tmp, short_lifetime=self.lifetime)
            emu.add_latency(latency)
            self.emulators.append(emu)
            for client, task in ((PLEXPIN, "plexpin"), (PLEXAPI, "plexapi")):
                prefix = f"bench-life-{task}-{uuid.uuid4().hex[:8]}"
                params = {"url": emu.url, "prefix": prefix, "logins": self.LOGINS, "timeout": self.lifetime + 60}
                proc = start_worker("measure_lifetime.py", task, params, tmp)
                self.runs.append((latency, client, prefix, emu, proc))

    def finish(self) -> list[Row]:
        rows: list[Row] = []
        try:
            for latency, client, prefix, emu, proc in self.runs:
                statuses = finish_worker(proc, timeout=self.lifetime + 120)
                grouped = log_by_client(emu.log())
                counts, after, last = [], [], []
                for index in range(self.LOGINS):
                    entries = sorted(grouped.get(f"{prefix}-{index}", []), key=lambda e: e["at"])
                    created = entries[0]["at"]
                    pins = [e for e in entries if e["path"].startswith("/api/v2/pins")]
                    counts.append(len(pins))
                    after.append(sum(1 for e in entries if is_pin_check(e) and e["status"] == 404))
                    last.append(max(e["at"] for e in pins if e["status"] != 404) - created)
                who = client if client == PLEXPIN else f"{PLEXAPI} run(timeout=None)"
                label = f"{latency_label(latency)} (emulator, {self.lifetime} s pins)"
                rows.append(Row(SECTION, f"requests in one {self.lifetime} s lifetime", who, label, "requests",
                                Summary.of(counts)))
                rows.append(Row(SECTION, f"…scaled to {LIFETIME} s (× {LIFETIME}/{self.lifetime})", who, label,
                                "requests",
                                Summary.of([c * LIFETIME / self.lifetime for c in counts])))
                rows.append(Row(SECTION, "requests after expiry", who, label, "requests", Summary.of(after),
                                "0" if client == PLEXPIN else "",
                                verdict(max(after) == 0) if client == PLEXPIN else ""))
                if not all(s == "expired" for s in statuses):
                    raise RuntimeError(f"{client} did not end as expired: {statuses}")
        finally:
            for emu in self.emulators:
                emu.stop()
        return rows


if __name__ == "__main__":
    worker_main({"plexpin": plexpin_worker, "plexapi": plexapi_worker})
