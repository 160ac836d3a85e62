"""The pure PIN-login state machine: every response kind, every schedule, every state change.

No I/O and no real clock: each test feeds events with explicit ``now`` values and a seeded
``random.Random`` so that the jitter is reproducible.
"""

from __future__ import annotations

import ast
import math
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plexpin_widget._flow as flow_module
from plexpin_widget._errors import (
    ConfigurationError,
    InvalidTokenError,
    MalformedResponseError,
    MissingClientIdentifierError,
    NetworkError,
    PinNotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    UnexpectedStatusError,
)
from plexpin_widget._flow import (
    MAX_BACKOFF,
    USER_FETCH_ATTEMPTS,
    CheckPin,
    CreatePin,
    Expire,
    FetchUser,
    PinFlow,
    PinReceived,
    RequestFailed,
    Status,
    TimerFired,
    UserReceived,
)
from plexpin_widget._models import Pin, PlexUser

EP = "GET /api/v2/pins/111"
TOKEN = "tok-ABCDEFGHIJ123456"


def make_pin(*, expires_in: int = 900, token: str | None = None, code: str = "AB12") -> Pin:
    return Pin(id=111, code=code, expires_in=expires_in, auth_token=token)


def make_user() -> PlexUser:
    return PlexUser(id=12345, username="kim")


def new_flow(seed: int = 7, **kwargs: object) -> PinFlow:
    return PinFlow(rng=random.Random(seed), **kwargs)  # type: ignore[arg-type]


def waiting(now: float = 0.0, *, expires_in: int = 900, seed: int = 7, **kwargs: object) -> PinFlow:
    """A flow that has a live code and a CheckPin pending."""
    flow = new_flow(seed, **kwargs)
    created = flow.start(now)
    assert isinstance(created, CreatePin)
    flow.receive(PinReceived(created.seq, make_pin(expires_in=expires_in), sent_at=now), now)
    assert flow.status is Status.WAITING and isinstance(flow.pending, CheckPin)
    return flow


def fail(flow: PinFlow, error: BaseException, now: float) -> object:
    assert flow.pending is not None
    return flow.receive(RequestFailed(flow.pending.seq, error), now)


# Every error kind, with what it does to a pending CheckPin.
TRANSIENT: list[Callable[[], BaseException]] = [
    lambda: ServerError(EP, 503),
    lambda: ServerError(EP, 500, None, "oops"),
    lambda: RequestTimeoutError("timed out", endpoint=EP),
    lambda: NetworkError("reset", endpoint=EP),
    lambda: MalformedResponseError(EP, 200, "not JSON"),
    lambda: RateLimitedError(EP, 429),  # no Retry-After: plain backoff
]
FATAL: list[Callable[[], BaseException]] = [
    lambda: MissingClientIdentifierError(EP, 400, 1000, "X-Plex-Client-Identifier is missing"),
    lambda: InvalidTokenError(EP, 401, 1001),
    lambda: UnexpectedStatusError(EP, 418),
    lambda: ConfigurationError("pin_id", "bad"),
    lambda: RuntimeError("a bug in a driver"),
]


# ----------------------------------------------------------------------------- the happy path


@pytest.mark.parametrize("strong", [False, True])
def test_start_creates_a_pin_now(strong: bool) -> None:
    flow = new_flow(strong=strong)
    assert flow.status is Status.IDLE and flow.pending is None and flow.is_done
    action = flow.start(12.5)
    assert action == CreatePin(seq=action.seq, due=12.5, strong=strong)
    assert flow.status is Status.REQUESTING and flow.pending is action


@pytest.mark.parametrize("interval", [0.5, 1.0, 3.0])
def test_pin_received_waits_then_checks_after_interval(interval: float) -> None:
    flow = new_flow(poll_interval=interval)
    created = flow.start(100.0)
    check = flow.receive(PinReceived(created.seq, make_pin(), sent_at=100.0), 100.4)
    assert flow.status is Status.WAITING
    assert isinstance(check, CheckPin)
    assert check.pin_id == 111 and check.due == pytest.approx(100.4 + interval)
    assert check.seq > created.seq
    assert flow.pin == make_pin() and flow.token is None and not flow.reconnecting
    # The deadline counts from when the request was sent, never from when it answered.
    assert flow.deadline == 100.0 + 900
    assert flow.seconds_left(100.4) == 900


def test_claimed_pin_authorizes_and_fetches_user() -> None:
    flow = waiting()
    check = flow.pending
    assert isinstance(check, CheckPin)
    fetch = flow.receive(PinReceived(check.seq, make_pin(token=TOKEN), sent_at=1.0), 1.1)
    assert flow.status is Status.AUTHORIZED
    assert flow.token == TOKEN
    assert isinstance(fetch, FetchUser) and fetch.token == TOKEN and fetch.due == 1.1
    assert TOKEN not in repr(fetch)
    assert flow.seconds_left(1.1) == 0
    done = flow.receive(UserReceived(fetch.seq, make_user()), 1.2)
    assert done is None and flow.pending is None and flow.is_done
    assert flow.user == make_user() and flow.verified and flow.token == TOKEN
    assert flow.status is Status.AUTHORIZED


def test_pin_already_claimed_on_create() -> None:
    flow = new_flow()
    created = flow.start(0.0)
    fetch = flow.receive(PinReceived(created.seq, make_pin(token=TOKEN), sent_at=0.0), 0.1)
    assert isinstance(fetch, FetchUser) and flow.status is Status.AUTHORIZED


def test_user_fetch_failure_after_sign_in_keeps_token() -> None:
    flow = waiting()
    flow.receive(PinReceived(flow.pending.seq, make_pin(token=TOKEN), sent_at=1.0), 1.0)
    retry = fail(flow, ServerError("GET /api/v2/user", 502), 1.0)
    assert isinstance(retry, FetchUser) and retry.due >= 2.0
    assert flow.status is Status.AUTHORIZED and flow.token == TOKEN and not flow.verified
    assert flow.reconnecting
    # A non-retryable answer settles: still signed in, just without the account.
    assert fail(flow, InvalidTokenError("GET /api/v2/user", 401, 1001), 3.0) is None
    assert flow.status is Status.AUTHORIZED and flow.token == TOKEN and flow.user is None


# ----------------------------------------------------------------------------- every error kind


@pytest.mark.parametrize("make_error", TRANSIENT)
def test_transient_check_failure_keeps_waiting(make_error: Callable[[], BaseException]) -> None:
    flow = waiting()
    error = make_error()
    nxt = fail(flow, error, 1.0)
    assert flow.status is Status.WAITING
    assert flow.reconnecting is True
    assert flow.error is error
    assert isinstance(nxt, CheckPin) and 2.0 <= nxt.due <= 1.0 + MAX_BACKOFF
    # The next good answer clears the reconnecting state.
    flow.receive(PinReceived(nxt.seq, make_pin(expires_in=890), sent_at=nxt.due), nxt.due)
    assert not flow.reconnecting and flow.error is None and flow.status is Status.WAITING


@pytest.mark.parametrize("make_error", TRANSIENT)
def test_transient_create_failure_retries_create(make_error: Callable[[], BaseException]) -> None:
    flow = new_flow()
    flow.start(0.0)
    nxt = fail(flow, make_error(), 0.5)
    assert isinstance(nxt, CreatePin) and nxt.due >= 1.5
    assert flow.status is Status.REQUESTING and flow.reconnecting


@pytest.mark.parametrize("make_error", FATAL)
def test_fatal_check_failure_is_error(make_error: Callable[[], BaseException]) -> None:
    flow = waiting()
    error = make_error()
    assert fail(flow, error, 1.0) is None
    assert flow.status is Status.ERROR and flow.error is error
    assert flow.pending is None and not flow.reconnecting and flow.seconds_left(1.0) == 0


@pytest.mark.parametrize("make_error", [*FATAL, lambda: PinNotFoundError(EP, 404, 1020)])
def test_fatal_create_failure_is_error(make_error: Callable[[], BaseException]) -> None:
    flow = new_flow()
    flow.start(0.0)
    assert fail(flow, make_error(), 0.1) is None
    assert flow.status is Status.ERROR and flow.pending is None


def test_not_found_on_check_means_expired() -> None:
    flow = waiting()
    assert fail(flow, PinNotFoundError(EP, 404, 1020, "Code not found or expired"), 5.0) is None
    assert flow.status is Status.EXPIRED and flow.pending is None and not flow.reconnecting


def test_event_that_does_not_answer_the_action_is_a_type_error() -> None:
    flow = waiting()
    with pytest.raises(TypeError):
        flow.receive(UserReceived(flow.pending.seq, make_user()), 1.0)


# ----------------------------------------------------------------------------- backoff


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("interval", [1.0, 2.5])
def test_backoff_grows_exponentially_with_jitter(seed: int, interval: float) -> None:
    flow = waiting(seed=seed, poll_interval=interval)
    now = 1.0
    delays = []
    for _ in range(9):
        nxt = fail(flow, ServerError(EP, 503), now)
        assert isinstance(nxt, CheckPin)
        delays.append(nxt.due - now)
        now = nxt.due
    for k, delay in enumerate(delays, start=1):
        ceiling = min(MAX_BACKOFF, interval * 2 ** (k - 1))
        assert max(interval, ceiling / 2) - 1e-9 <= delay <= ceiling + 1e-9, (k, delay)
        assert interval <= delay <= MAX_BACKOFF
    # While the ceiling still doubles, each delay is at least the previous one (the new
    # ceiling's lower half is the old ceiling); once capped, jitter keeps it in [15, 30].
    uncapped = [d for k, d in enumerate(delays) if interval * 2 ** k <= MAX_BACKOFF]
    assert len(uncapped) >= 3 and uncapped == sorted(uncapped)
    assert delays[-1] >= MAX_BACKOFF / 2
    # Jitter: not all clients wait the same; the seeded sequence is not just the ceilings.
    assert any(abs(d - min(MAX_BACKOFF, interval * 2 ** k)) > 1e-6 for k, d in enumerate(delays))


def test_success_resets_the_backoff() -> None:
    flow = waiting()
    now = 1.0
    for _ in range(6):
        now = fail(flow, NetworkError("x"), now).due  # type: ignore[union-attr]
    assert now - 1.0 > 20
    flow.receive(PinReceived(flow.pending.seq, make_pin(expires_in=800), sent_at=now), now)
    nxt = fail(flow, NetworkError("x"), now + 1)
    assert nxt.due - (now + 1) == pytest.approx(1.0)  # back to the first step


def test_same_seed_same_schedule() -> None:
    def schedule(seed: int) -> list[float]:
        flow = waiting(seed=seed)
        out, now = [], 1.0
        for _ in range(6):
            now = fail(flow, ServerError(EP, 503), now).due  # type: ignore[union-attr]
            out.append(now)
        return out

    assert schedule(3) == schedule(3)
    assert schedule(3) != schedule(4)


# ----------------------------------------------------------------------------- 429


@pytest.mark.parametrize("retry_after", [0.2, 1.0, 7.5, 60.0])
@pytest.mark.parametrize("seed", range(5))
def test_retry_after_is_a_floor(retry_after: float, seed: int) -> None:
    flow = waiting(seed=seed)
    nxt = fail(flow, RateLimitedError(EP, 429, retry_after=retry_after), 10.0)
    assert isinstance(nxt, CheckPin)
    assert nxt.due >= 10.0 + retry_after
    assert nxt.due >= 10.0 + flow.poll_interval
    assert nxt.due <= 10.0 + max(retry_after, flow.poll_interval) * 1.1 + 1e-9
    assert flow.status is Status.WAITING and flow.reconnecting


def test_retry_after_past_deadline_expires() -> None:
    flow = waiting(expires_in=60)
    nxt = fail(flow, RateLimitedError(EP, 429, retry_after=120.0), 30.0)
    assert isinstance(nxt, Expire) and nxt.due == 60.0
    assert flow.status is Status.WAITING
    assert flow.receive(TimerFired(nxt.seq), 60.0) is None
    assert flow.status is Status.EXPIRED and flow.pending is None


def test_retry_after_on_create() -> None:
    flow = new_flow()
    flow.start(0.0)
    nxt = fail(flow, RateLimitedError("POST /api/v2/pins", 429, retry_after=9.0), 0.2)
    assert isinstance(nxt, CreatePin) and nxt.due >= 9.2


# ----------------------------------------------------------------------------- the deadline


def test_final_check_just_before_deadline_then_expire() -> None:
    flow = waiting(expires_in=10)
    now = 0.0
    dues = []
    while isinstance(flow.pending, CheckPin):
        action = flow.pending
        dues.append(action.due)
        now = action.due
        left = math.floor(10 - now)
        flow.receive(PinReceived(action.seq, make_pin(expires_in=left), sent_at=now), now)
    assert all(due < 10.0 for due in dues)
    assert 9.0 < dues[-1] < 10.0  # the last look happens inside the final second
    expire = flow.pending
    assert isinstance(expire, Expire) and expire.due == pytest.approx(10.0, abs=1.0)
    assert expire.due >= dues[-1]
    flow.receive(TimerFired(expire.seq), expire.due)
    assert flow.status is Status.EXPIRED


def test_approval_in_the_final_check_is_seen() -> None:
    flow = waiting(expires_in=3)
    while isinstance(flow.pending, CheckPin) and flow.pending.due < 2.5:
        action = flow.pending
        flow.receive(PinReceived(action.seq, make_pin(expires_in=3 - math.ceil(action.due)),
                                 sent_at=action.due), action.due)
    last = flow.pending
    assert isinstance(last, CheckPin) and 2.5 <= last.due < 3.0
    flow.receive(PinReceived(last.seq, make_pin(expires_in=0, token=TOKEN), sent_at=last.due), last.due)
    assert flow.status is Status.AUTHORIZED and flow.token == TOKEN


def test_failure_near_deadline_never_checks_late() -> None:
    flow = waiting(expires_in=5)
    nxt = fail(flow, ServerError(EP, 503), 4.9)
    assert isinstance(nxt, Expire) and nxt.due == 5.0


def test_zero_lifetime_pin_expires_at_once() -> None:
    flow = new_flow()
    created = flow.start(0.0)
    nxt = flow.receive(PinReceived(created.seq, make_pin(expires_in=0), sent_at=0.0), 0.1)
    assert isinstance(nxt, Expire)


OUTCOMES = st.sampled_from(["wait", "wait", "wait", "5xx", "timeout", "429", "429long", "malformed"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    outcomes=st.lists(OUTCOMES, min_size=1, max_size=400),
    expires_in=st.integers(min_value=1, max_value=120),
    interval=st.sampled_from([0.5, 1.0, 2.0, 5.0]),
    latency=st.floats(min_value=0.0, max_value=0.2),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_no_check_at_or_after_deadline(
    outcomes: list[str], expires_in: int, interval: float, latency: float, seed: int
) -> None:
    flow = new_flow(seed, poll_interval=interval)
    created = flow.start(0.0)
    expiry = expires_in  # on the flow's clock; the create request "reaches" plex.tv at t=0
    flow.receive(PinReceived(created.seq, make_pin(expires_in=expires_in), sent_at=0.0), latency)
    for outcome in outcomes:
        action = flow.pending
        if not isinstance(action, CheckPin):
            break
        assert action.due < expiry, "a check was scheduled at or after the pin expired"
        assert flow.deadline is not None and flow.deadline <= expiry
        now = action.due + latency
        if outcome == "wait":
            left = math.floor(expiry - action.due)
            flow.receive(PinReceived(action.seq, make_pin(expires_in=left), sent_at=action.due), now)
        elif outcome == "5xx":
            fail(flow, ServerError(EP, 502), now)
        elif outcome == "timeout":
            fail(flow, RequestTimeoutError("t", endpoint=EP), now)
        elif outcome == "malformed":
            fail(flow, MalformedResponseError(EP, 200, "x"), now)
        else:
            retry_after = 2.0 if outcome == "429" else 500.0
            fail(flow, RateLimitedError(EP, 429, retry_after=retry_after), now)
            if isinstance(flow.pending, CheckPin):
                assert flow.pending.due >= now + retry_after
    action = flow.pending
    if isinstance(action, CheckPin):
        assert action.due < expiry
    if isinstance(action, Expire):
        flow.receive(TimerFired(action.seq), action.due)
        assert flow.status is Status.EXPIRED


@pytest.mark.parametrize(("interval", "latency"), [(1.0, 0.0), (1.0, 0.15), (2.0, 0.05)])
def test_whole_pin_lifetime_nobody_approves(interval: float, latency: float) -> None:
    """900 s with a fake clock and a fake plex.tv that never sees an approval."""
    flow = new_flow(poll_interval=interval)
    created = flow.start(0.0)
    server_expiry = 0.0 + latency + 900  # plex.tv stamps the pin when the request arrives
    pin = make_pin(expires_in=900)
    flow.receive(PinReceived(created.seq, pin, sent_at=0.0), 2 * latency)
    checks: list[float] = []
    steps = 0
    while flow.pending is not None:
        steps += 1
        assert steps < 5000
        action = flow.pending
        if isinstance(action, CheckPin):
            checks.append(action.due)
            arrives = action.due + latency
            assert arrives < server_expiry, "this check would have reached plex.tv after expiry"
            left = math.floor(server_expiry - arrives)
            flow.receive(PinReceived(action.seq, make_pin(expires_in=left), sent_at=action.due),
                         action.due + 2 * latency)
        else:
            assert isinstance(action, Expire)
            assert action.due >= checks[-1]
            flow.receive(TimerFired(action.seq), action.due)
    assert flow.status is Status.EXPIRED
    expected = 900 / (interval + 2 * latency)
    assert 0.97 * expected <= len(checks) <= expected + 2
    assert all(b > a for a, b in zip(checks, checks[1:]))
    assert checks[-1] < server_expiry - latency
    assert checks[-1] > 900 - interval - 2 * latency - 1  # the last look is near the end


def test_seconds_left_counts_down() -> None:
    flow = waiting(expires_in=900)
    assert flow.seconds_left(0.0) == 900
    assert flow.seconds_left(0.5) == 900
    assert flow.seconds_left(1.0) == 899
    assert flow.seconds_left(899.9) == 1
    assert flow.seconds_left(2000.0) == 0


# ----------------------------------------------------------------------------- stale events


def test_stale_events_are_ignored() -> None:
    flow = waiting()
    pending = flow.pending
    assert isinstance(pending, CheckPin)
    old_seq = pending.seq - 1  # the CreatePin that already answered
    for event in (
        PinReceived(old_seq, make_pin(token=TOKEN), sent_at=0.0),
        RequestFailed(old_seq, PinNotFoundError(EP, 404, 1020)),
        RequestFailed(pending.seq + 5, ServerError(EP, 500)),
        TimerFired(old_seq),
        UserReceived(old_seq, make_user()),
    ):
        assert flow.receive(event, 0.5) is pending
        assert flow.status is Status.WAITING and flow.token is None and flow.pending is pending


def test_events_after_done_are_ignored() -> None:
    flow = waiting()
    seq = flow.pending.seq
    flow.cancel(1.0)
    assert flow.receive(PinReceived(seq, make_pin(token=TOKEN), sent_at=1.0), 1.0) is None
    assert flow.status is Status.CANCELLED and flow.token is None


# ----------------------------------------------------------------------------- cancel, restart, take_over


@pytest.mark.parametrize("stage", ["requesting", "waiting", "reconnecting", "validating"])
def test_cancel(stage: str) -> None:
    flow = new_flow()
    if stage == "validating":
        flow.start(0.0, token=TOKEN)
    else:
        flow.start(0.0)
    if stage in ("waiting", "reconnecting"):
        flow.receive(PinReceived(flow.pending.seq, make_pin(), sent_at=0.0), 0.0)
    if stage == "reconnecting":
        fail(flow, ServerError(EP, 503), 1.0)
        assert flow.reconnecting
    assert flow.cancel(2.0) is None
    assert flow.status is Status.CANCELLED
    assert flow.pending is None and flow.is_done and not flow.reconnecting
    assert flow.seconds_left(2.0) == 0


def test_cancel_after_authorized_keeps_token() -> None:
    flow = waiting()
    flow.receive(PinReceived(flow.pending.seq, make_pin(token=TOKEN), sent_at=1.0), 1.0)
    assert isinstance(flow.pending, FetchUser)
    flow.cancel(1.5)
    assert flow.status is Status.AUTHORIZED and flow.token == TOKEN and flow.pending is None


@pytest.mark.parametrize("final", [Status.EXPIRED, Status.ERROR])
def test_cancel_after_final_keeps_status(final: Status) -> None:
    flow = waiting()
    error = PinNotFoundError(EP, 404, 1020) if final is Status.EXPIRED else UnexpectedStatusError(EP, 418)
    fail(flow, error, 1.0)
    flow.cancel(2.0)
    assert flow.status is final


def _flow_in(status: Status) -> PinFlow:
    flow = new_flow()
    if status is Status.IDLE:
        return flow
    flow.start(0.0)
    if status is Status.REQUESTING:
        return flow
    flow.receive(PinReceived(flow.pending.seq, make_pin(), sent_at=0.0), 0.0)
    if status is Status.WAITING:
        return flow
    if status is Status.AUTHORIZED:
        flow.receive(PinReceived(flow.pending.seq, make_pin(token=TOKEN), sent_at=1.0), 1.0)
        flow.receive(UserReceived(flow.pending.seq, make_user()), 1.1)
    elif status is Status.EXPIRED:
        fail(flow, PinNotFoundError(EP, 404, 1020), 1.0)
    elif status is Status.CANCELLED:
        flow.cancel(1.0)
    elif status is Status.ERROR:
        fail(flow, UnexpectedStatusError(EP, 418), 1.0)
    assert flow.status is status
    return flow


@pytest.mark.parametrize("status", list(Status))
def test_restart_from_every_state(status: Status) -> None:
    flow = _flow_in(status)
    old = flow.pending
    old_seq = old.seq if old is not None else 0
    action = flow.restart(50.0)
    assert isinstance(action, CreatePin) and action.due == 50.0 and action.seq > old_seq
    assert flow.status is Status.REQUESTING
    assert flow.pin is None and flow.token is None and flow.user is None and flow.error is None
    assert flow.deadline is None and not flow.reconnecting and not flow.verified
    if old is not None:  # an answer to the dropped action changes nothing
        assert flow.receive(RequestFailed(old.seq, PinNotFoundError(EP, 404)), 50.1) is action
    flow.receive(PinReceived(action.seq, make_pin(), sent_at=50.0), 50.2)
    assert flow.status is Status.WAITING and flow.deadline == 950.0


def test_take_over_renumbers_the_pending_action() -> None:
    flow = waiting()
    before = flow.pending
    assert isinstance(before, CheckPin)
    after = flow.take_over(0.5)
    assert isinstance(after, CheckPin) and after.seq > before.seq
    assert (after.due, after.pin_id) == (before.due, before.pin_id)
    assert flow.receive(PinReceived(before.seq, make_pin(token=TOKEN), sent_at=1.0), 1.0) is after
    assert flow.token is None
    flow.receive(PinReceived(after.seq, make_pin(token=TOKEN), sent_at=1.0), 1.0)
    assert flow.token == TOKEN


def test_take_over_with_nothing_pending() -> None:
    flow = new_flow()
    assert flow.take_over(0.0) is None


# ----------------------------------------------------------------------------- a known token


def test_known_token_is_validated_first() -> None:
    flow = new_flow()
    fetch = flow.start(0.0, token=TOKEN)
    assert isinstance(fetch, FetchUser) and fetch.token == TOKEN and fetch.due == 0.0
    assert flow.status is Status.REQUESTING and flow.token is None
    assert flow.receive(UserReceived(fetch.seq, make_user()), 0.2) is None
    assert flow.status is Status.AUTHORIZED and flow.verified and flow.token == TOKEN
    assert flow.user == make_user() and not flow.token_rejected


@pytest.mark.parametrize("status_code", [401, 422])
def test_rejected_token_falls_back_to_a_pin(status_code: int) -> None:
    flow = new_flow(strong=True)
    flow.start(0.0, token=TOKEN)
    create = fail(flow, InvalidTokenError("GET /api/v2/user", status_code, 1001), 0.3)
    assert isinstance(create, CreatePin) and create.due == 0.3 and create.strong
    assert flow.token_rejected and flow.token is None
    assert flow.status is Status.REQUESTING and flow.error is None


def test_unreachable_plex_keeps_the_token_unverified() -> None:
    flow = new_flow()
    flow.start(0.0, token=TOKEN)
    nxt = fail(flow, NetworkError("refused", endpoint="GET /api/v2/user"), 0.1)
    assert flow.status is Status.AUTHORIZED and flow.token == TOKEN and not flow.verified
    assert not flow.token_rejected
    assert isinstance(nxt, FetchUser) and nxt.due >= 1.1 and flow.reconnecting
    # It keeps trying quietly, a bounded number of times, and then settles.
    attempts, now = 1, nxt.due
    while isinstance(flow.pending, FetchUser):
        attempts += 1
        fail(flow, RequestTimeoutError("t"), now)
        now = flow.pending.due if flow.pending else now
    assert attempts == USER_FETCH_ATTEMPTS
    assert flow.status is Status.AUTHORIZED and flow.token == TOKEN and not flow.reconnecting


def test_late_verification_succeeds() -> None:
    flow = new_flow()
    flow.start(0.0, token=TOKEN)
    nxt = fail(flow, ServerError("GET /api/v2/user", 503), 0.1)
    flow.receive(UserReceived(nxt.seq, make_user()), nxt.due)
    assert flow.verified and flow.status is Status.AUTHORIZED and flow.token == TOKEN


def test_start_again_clears_token_rejected() -> None:
    flow = new_flow()
    flow.start(0.0, token=TOKEN)
    fail(flow, InvalidTokenError("GET /api/v2/user", 401), 0.1)
    assert flow.token_rejected
    flow.start(1.0)
    assert not flow.token_rejected


# ----------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("bad", [0, -1, -0.5, float("nan"), float("inf"), "x", True, None, 61, "1"])
def test_invalid_poll_interval(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="poll_interval") as info:
        PinFlow(poll_interval=bad)  # type: ignore[arg-type]
    assert info.value.name == "poll_interval"


@pytest.mark.parametrize("good", [0.1, 1, 2.5, 60])
def test_valid_poll_interval(good: float) -> None:
    assert PinFlow(poll_interval=good).poll_interval == float(good)


def test_status_values_are_the_widget_strings() -> None:
    assert [s.value for s in Status] == [
        "idle", "requesting", "waiting", "authorized", "expired", "cancelled", "error",
    ]
    assert {s for s in Status if s.is_final} == {
        Status.AUTHORIZED, Status.EXPIRED, Status.CANCELLED, Status.ERROR,
    }


# ----------------------------------------------------------------------------- purity


def _imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def test_flow_source_imports_no_io() -> None:
    names = _imported_names(Path(flow_module.__file__))
    assert not {n for n in names if n.split(".")[0] in {"httpx", "asyncio", "time", "threading"}}
    assert {n for n in names if n.startswith(".")} <= {"._errors", "._models"}


def test_flow_loads_without_httpx_or_asyncio() -> None:
    # Load _flow under a bare package (skipping plexpin_widget/__init__, which imports the
    # widget and the client) and check what ended up in sys.modules.
    package_dir = Path(flow_module.__file__).parent
    code = f"""
import importlib, sys, types
pkg = types.ModuleType("plexpin_widget")
pkg.__path__ = [{str(package_dir)!r}]
sys.modules["plexpin_widget"] = pkg
flow = importlib.import_module("plexpin_widget._flow")
flow.PinFlow().start(0.0)
bad = sorted(m for m in ("httpx", "asyncio", "ipywidgets", "httpcore") if m in sys.modules)
print("BAD", bad)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "BAD []"
