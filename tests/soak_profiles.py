"""The fault-injection soak: fault profiles, one login as a person would do it, and the runner.

Each profile gets its own :class:`PlexTvEmulator` served on loopback by an
:class:`EmulatorServer`, so its faults hit only its own share of the logins. Every login is a
real :class:`LoginSession` polling over HTTP from one asyncio loop; many run at once. A login's
pin is approved (``emu.claim``) at a random moment of its life, or never.

Time is compressed: pins live ``lifetime`` seconds instead of 900, the poll interval is 0.2 s,
requests time out after 0.5 s, and the flow's backoff ceiling is scaled down with them (plex.tv's
30 s against a 900 s pin is about 1 s against a 25 s pin).

The runner records what happened; ``tests/test_soak.py`` judges it and prints the table.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

from plexpin_widget import ClientIdentity, LoginError, PinExpiredError, Status
from plexpin_widget._driver_async import LIVE_TASKS
from plexpin_widget._session import LoginSession
from plexpin_widget.emulator import EmulatorServer, LoggedRequest, PlexTvEmulator

__all__ = ["PROFILES", "LoginRecord", "Profile", "ProfileResult", "SoakConfig", "SoakResult", "run_soak"]

API = "/api/v2/"


@dataclasses.dataclass(frozen=True)
class SoakConfig:
    """Sizes and time scales of one soak run."""

    logins: int = 500
    concurrency: int = 60
    lifetime: int = 25
    poll_interval: float = 0.2
    request_timeout: float = 0.5
    max_backoff: float = 1.0
    approve_share: float = 0.75
    # Approvals come at least this long before expiry, so a handful of faulted checks in a
    # row cannot eat all the time left (the last possible check is itself only one request).
    approve_margin: float = 12.0
    seed: int = 20240601


# --------------------------------------------------------------------------- profiles


@dataclasses.dataclass(frozen=True)
class Profile:
    """A kind of trouble: standing fault rules, plus optional 429 bursts or server restarts."""

    name: str
    description: str
    install: Callable[[PlexTvEmulator, SoakConfig, int], None]
    bursts: bool = False
    restarts: bool = False


def _server_errors(emu: PlexTvEmulator, cfg: SoakConfig, seed: int) -> None:
    emu.faults.random("status", rate=0.3, seed=seed, path_prefix=API, status=(500, 502, 503, 504))


def _timeouts(emu: PlexTvEmulator, cfg: SoakConfig, seed: int) -> None:
    emu.faults.random("latency", rate=0.2, seed=seed, path_prefix=API, delay=cfg.request_timeout * 1.6)


def _drops(emu: PlexTvEmulator, cfg: SoakConfig, seed: int) -> None:
    emu.faults.random("drop", rate=0.2, seed=seed, path_prefix=API)


def _nothing(emu: PlexTvEmulator, cfg: SoakConfig, seed: int) -> None:
    """Bursts and restarts come from outside the rule list."""


def _bad_json(emu: PlexTvEmulator, cfg: SoakConfig, seed: int) -> None:
    emu.faults.random("malformed", rate=0.12, seed=seed, path_prefix=API)
    emu.faults.random("truncated", rate=0.12, seed=seed + 1, path_prefix=API)


def _latency(emu: PlexTvEmulator, cfg: SoakConfig, seed: int) -> None:
    # Spikes far beyond the timeout, and slow answers that still make it in time.
    emu.faults.random("latency", rate=0.1, seed=seed, path_prefix=API, delay=cfg.request_timeout * 4)
    emu.faults.random("latency", rate=0.2, seed=seed + 1, path_prefix=API, delay=cfg.request_timeout * 0.6)


PROFILES: tuple[Profile, ...] = (
    Profile("5xx", "30 % of answers are 500/502/503/504", _server_errors),
    Profile("timeouts", "20 % of answers come 1.6x the request timeout late", _timeouts),
    Profile("drops", "20 % of connections close without an answer", _drops),
    Profile("429-bursts", "every 1.5-3 s, 0.2-0.6 s of 429s with Retry-After 1-2 s", _nothing, bursts=True),
    Profile("bad-json", "12 % malformed bodies, 12 % truncated JSON", _bad_json),
    Profile("latency", "10 % spikes of 4x the timeout, 20 % slow but in time", _latency),
    Profile("restarts", "the server stops and restarts on its port every 1-2.5 s", _nothing, restarts=True),
)


# --------------------------------------------------------------------------- records


@dataclasses.dataclass
class LoginRecord:
    """What one login did, on the monotonic clock."""

    profile: str
    client_identifier: str
    approve_after: float | None
    outcome: str = "unfinished"
    claimed_token: str | None = None
    claim_error: str | None = None
    token: str | None = None
    delivered_at: float | None = None
    deadline: float | None = None
    expired_at: float | None = None
    expired_wall: float | None = None
    delivered_wall: float | None = None
    expires_at: float | None = None
    error: str | None = None
    #: The error the flow held when it expired (a hung last check ends on RequestTimeoutError).
    final_error: str | None = None


@dataclasses.dataclass
class ProfileResult:
    profile: Profile
    logins: list[LoginRecord]
    requests: list[LoggedRequest]
    restarts: int = 0
    restart_errors: list[str] = dataclasses.field(default_factory=list)
    bursts: int = 0


@dataclasses.dataclass
class SoakResult:
    config: SoakConfig
    profiles: list[ProfileResult]
    seconds: float
    loop_exceptions: list[str]
    thread_exceptions: list[str]
    error_logs: list[str]
    leftover_tasks: list[str]
    leftover_threads: list[str]
    sockets_before: int | None
    sockets_after: int | None
    #: (monotonic time, seconds late) for each wake-up of a 20 ms sleeper on the soak's loop.
    loop_lag: list[tuple[float, float]] = dataclasses.field(default_factory=list)

    def lag_between(self, start: float, end: float) -> float:
        """The worst loop lag seen from ``start`` to ``end`` (monotonic seconds)."""
        times = [t for t, _ in self.loop_lag]
        lo, hi = bisect.bisect_left(times, start), bisect.bisect_right(times, end + 0.05)
        return max((late for _, late in self.loop_lag[lo:hi]), default=0.0)


# --------------------------------------------------------------------------- one profile's rig


class _Rig:
    """One profile's emulator and server, plus the 429 burster or the restarter."""

    def __init__(self, profile: Profile, cfg: SoakConfig, seed: int) -> None:
        self.profile = profile
        self.cfg = cfg
        self.rng = random.Random(seed)
        # The log must keep every request of the run: the checks read all of it.
        self.emu = PlexTvEmulator(
            short_lifetime=cfg.lifetime, strong_lifetime=cfg.lifetime, log_limit=max(100_000, 200 * cfg.logins)
        )
        profile.install(self.emu, cfg, seed)
        self.server = EmulatorServer(self.emu, port=0).start()
        self.url = self.server.url
        self.result = ProfileResult(profile, [], [])
        self._stop = threading.Event()
        self._restarter: threading.Thread | None = None
        self._burster: asyncio.Task[None] | None = None

    def begin(self) -> None:
        if self.profile.restarts:
            self._restarter = threading.Thread(target=self._restart_loop, name=f"soak-restarter-{self.profile.name}")
            self._restarter.start()
        if self.profile.bursts:
            self._burster = asyncio.get_running_loop().create_task(self._burst_loop(), name="soak-429-bursts")

    def _restart_loop(self) -> None:
        # The waits here are the fault schedule (when to pull the plug), not guesses at timing.
        while not self._stop.wait(self.rng.uniform(1.0, 2.5)):
            self.server.stop()
            self.result.restarts += 1
            self._stop.wait(self.rng.uniform(0.1, 0.8))
            for _attempt in range(50):
                try:
                    self.server.start()
                    break
                except OSError as exc:  # reported: a restart must get its port back
                    self.result.restart_errors.append(repr(exc))
                    self._stop.wait(0.05)

    async def _burst_loop(self) -> None:
        # Calm, then for a moment every request is refused with 429 and Retry-After, then calm.
        # (This profile has no other rules, so clearing them ends the burst.)
        while True:
            await asyncio.sleep(self.rng.uniform(1.5, 3.0))
            self.emu.faults.add("rate_limit", path_prefix=API, count=None, retry_after=self.rng.choice((1, 2)))
            self.result.bursts += 1
            await asyncio.sleep(self.rng.uniform(0.2, 0.6))
            self.emu.faults.clear()

    async def end(self) -> None:
        self._stop.set()
        if self._burster is not None:
            self._burster.cancel()
            await asyncio.gather(self._burster, return_exceptions=True)
        if self._restarter is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._restarter.join)
        self.server.stop()
        self.result.requests = self.emu.request_log()


# --------------------------------------------------------------------------- one login


async def _one_login(rig: _Rig, index: int, rng: random.Random) -> LoginRecord:
    cfg = rig.cfg
    cid = f"soak-{rig.profile.name}-{index}"
    approve_after = rng.uniform(0.3, cfg.lifetime - cfg.approve_margin) if rng.random() < cfg.approve_share else None
    record = LoginRecord(rig.profile.name, cid, approve_after)
    code_shown = asyncio.Event()

    def on_change() -> None:
        flow = session.flow
        now = time.monotonic()
        if flow.status is Status.WAITING and flow.deadline is not None:
            record.deadline = flow.deadline  # the last one seen is the one the flow expires on
            if flow.pin is not None and flow.pin.expires_at is not None:
                record.expires_at = flow.pin.expires_at.timestamp()
            code_shown.set()
        if flow.token is not None and record.delivered_at is None:
            record.delivered_at, record.delivered_wall, record.token = now, time.time(), flow.token
        if flow.status is Status.EXPIRED and record.expired_at is None:
            record.expired_at, record.expired_wall = now, time.time()
            record.final_error = type(flow.error).__name__ if flow.error is not None else None

    session = LoginSession(
        ClientIdentity(client_identifier=cid, product="plexpin soak"),
        base_url=rig.url,
        poll_interval=cfg.poll_interval,
        request_timeout=cfg.request_timeout,
        on_change=on_change,
    )
    session.flow.max_backoff = cfg.max_backoff

    async def approve() -> None:
        assert approve_after is not None
        await code_shown.wait()
        await asyncio.sleep(approve_after)  # the person's moment of approval, drawn at random
        pin = session.flow.pin
        if pin is None:
            record.claim_error = "no pin"
            return
        try:
            record.claimed_token = rig.emu.claim(pin_id=pin.id)
        except (LookupError, ValueError) as exc:
            record.claim_error = repr(exc)

    approver = asyncio.get_running_loop().create_task(approve()) if approve_after is not None else None
    session.start()
    try:
        await session.wait_async(timeout=cfg.lifetime + 20)
        record.outcome = "token"
    except PinExpiredError:
        record.outcome = "expired"
    except (LoginError, TimeoutError) as exc:
        record.outcome, record.error = type(exc).__name__, str(exc)
    finally:
        if approver is not None:
            approver.cancel()
            await asyncio.gather(approver, return_exceptions=True)
        await session.aclose()
    return record


# --------------------------------------------------------------------------- the run


def _socket_count() -> int | None:
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    count = 0
    for name in names:
        try:
            count += os.readlink(f"/proc/self/fd/{name}").startswith("socket:")
        except OSError:
            pass
    return count


class _ErrorLogs(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")


async def _watch_lag(samples: list[tuple[float, float]]) -> None:
    """Record how late the loop wakes a sleeper: when the machine is busy, every timer on the
    loop (a login's expiry included) is that late, through no fault of the login."""
    step = 0.02
    while True:
        expected = time.monotonic() + step
        await asyncio.sleep(step)
        woke = time.monotonic()
        samples.append((woke, max(0.0, woke - expected)))


async def _run(
    cfg: SoakConfig, loop_exceptions: list[str], lag: list[tuple[float, float]]
) -> tuple[list[ProfileResult], list[str]]:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: loop_exceptions.append(str(context.get("exception") or context.get("message"))))
    master = random.Random(cfg.seed)
    rigs = [_Rig(profile, cfg, master.randrange(2**31)) for profile in PROFILES]
    gate = asyncio.Semaphore(cfg.concurrency)
    watcher = loop.create_task(_watch_lag(lag), name="soak-lag-watch")
    try:
        for rig in rigs:
            rig.begin()

        async def gated(rig: _Rig, index: int, seed: int) -> None:
            async with gate:
                rig.result.logins.append(await _one_login(rig, index, random.Random(seed)))

        await asyncio.gather(
            *(gated(rigs[i % len(rigs)], i, master.randrange(2**31)) for i in range(cfg.logins))
        )
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        for rig in rigs:
            await rig.end()
    leftover = [t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    leftover += [f"live poll task {t.get_name()}" for t in LIVE_TASKS]
    return [rig.result for rig in rigs], leftover


def run_soak(cfg: SoakConfig) -> SoakResult:
    """Run the soak in a fresh event loop and report everything the checks need."""
    loop_exceptions: list[str] = []
    thread_exceptions: list[str] = []
    lag: list[tuple[float, float]] = []
    errors = _ErrorLogs()
    package_logger = logging.getLogger("plexpin_widget")
    package_logger.addHandler(errors)
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: thread_exceptions.append(f"{args.thread and args.thread.name}: {args.exc_value!r}")
    threads_before = set(threading.enumerate())
    sockets_before = _socket_count()
    started = time.monotonic()
    try:
        profiles, leftover_tasks = asyncio.run(_run(cfg, loop_exceptions, lag))
    finally:
        threading.excepthook = previous_hook
        package_logger.removeHandler(errors)
    seconds = time.monotonic() - started
    # asyncio.run shut down the default executor (used to join the restarter) on its way out.
    leftover_threads = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    return SoakResult(
        config=cfg,
        profiles=profiles,
        seconds=seconds,
        loop_exceptions=loop_exceptions,
        thread_exceptions=thread_exceptions,
        error_logs=errors.messages,
        leftover_tasks=leftover_tasks,
        leftover_threads=leftover_threads,
        sockets_before=sockets_before,
        sockets_after=_socket_count(),
        loop_lag=lag,
    )


def fault_counts(requests: list[LoggedRequest]) -> Counter[str]:
    """How many requests each kind of trouble hit (a 5xx, a 429, a drop, a latency...)."""
    counts: Counter[str] = Counter()
    for entry in requests:
        if entry.fault is not None:
            counts[entry.fault] += 1
    return counts


def server_expiry(requests: list[LoggedRequest], lifetime: int) -> float | None:
    """When the emulator expires this client's pin, in ``time.time()`` terms.

    The pin a login polls is the one its last ``POST /api/v2/pins`` before its first
    ``GET /api/v2/pins/{id}`` created (earlier POSTs timed out, dropped or were garbled, and the
    client asked again). The emulator stamps the pin with its clock when it handles that POST,
    which is the request's ``wall`` time give or take a lock; expiry is ``lifetime`` later.
    Exact to well under a millisecond, unlike the pin's whole-second ``expiresAt``.
    """
    last_post: LoggedRequest | None = None
    for entry in requests:
        if entry.method == "GET" and entry.path.startswith("/api/v2/pins/"):
            break
        if entry.method == "POST" and entry.path.rstrip("/") == "/api/v2/pins":
            last_post = entry
    return None if last_post is None else last_post.wall + lifetime
