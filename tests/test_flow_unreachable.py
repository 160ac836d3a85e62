"""When plex.tv never answers: the flow's give-up schedule, and "Try again now".

Pure flow tests on the flow's own clock (no I/O, seeded jitter): ``give_up_unreachable_after``
ends a login that never got an answer, never one that did; ``retry_now`` moves a backed-off
request to now but never ahead of a 429's ``Retry-After``.
"""

from __future__ import annotations

import functools

import pytest

from plexpin_widget import PlexTvUnreachableError
from plexpin_widget._errors import (
    CertificateError,
    ConfigurationError,
    NetworkError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
)
from plexpin_widget._flow import (
    CheckPin,
    CreatePin,
    Expire,
    FlowAction,
    PinFlow,
    PinReceived,
    RequestFailed,
    Status,
    TimerFired,
)
from plexpin_widget._models import Pin

import test_flow
from test_flow import waiting

CREATE = "POST /api/v2/pins"
REFUSED = NetworkError(f"{CREATE} failed: ConnectError", endpoint=CREATE)


#: The flows here draw their jitter from seed 3; test_flow builds them the same way.
new_flow = functools.partial(test_flow.new_flow, 3)

def fail_each_try(flow: PinFlow, error: BaseException, *, took: float = 0.0, until: float = 10_000.0) -> list[float]:
    """Fail every request ``took`` seconds after it is due, until the flow stops or ``until``;
    returns when each try was due."""
    tries: list[float] = []
    action: FlowAction | None = flow.pending
    while action is not None and action.due < until:
        if isinstance(action, Expire):  # a timer, not a request: it cannot fail
            action = flow.receive(TimerFired(action.seq), action.due)
            continue
        tries.append(action.due)
        action = flow.receive(RequestFailed(action.seq, error), action.due + took)
    return tries


def test_never_answered_gives_up_at_the_limit_on_the_flows_clock() -> None:
    flow = new_flow(give_up_unreachable_after=15)
    flow.start(0.0)
    tries = fail_each_try(flow, REFUSED)
    assert flow.status is Status.ERROR and flow.pending is None
    assert isinstance(flow.error, PlexTvUnreachableError)
    assert flow.error.__cause__ is REFUSED and flow.error.last_error is REFUSED
    assert flow.error.waited == pytest.approx(15.0)
    # Backoff as usual, and the last try lands on the limit, not after it.
    assert tries[0] == 0.0 and tries[-1] == pytest.approx(15.0)
    assert all(later > earlier for earlier, later in zip(tries, tries[1:]))
    assert not flow.plex_tv_answered and flow.unreachable_since == 0.0


def test_timeouts_give_up_when_the_next_try_could_not_end_in_time() -> None:
    # Each try times out after 10 s: a second one would end past 15 s, so it stops at 10 s.
    flow = new_flow(give_up_unreachable_after=15)
    flow.start(0.0)
    tries = fail_each_try(flow, RequestTimeoutError(f"{CREATE} timed out", endpoint=CREATE), took=10.0)
    assert tries == [0.0]
    assert isinstance(flow.error, PlexTvUnreachableError) and flow.error.waited == pytest.approx(10.0)


def test_slow_failures_stop_before_the_limit_too() -> None:
    flow = new_flow(give_up_unreachable_after=15)
    flow.start(0.0)
    tries = fail_each_try(flow, REFUSED, took=3.0)
    assert isinstance(flow.error, PlexTvUnreachableError)
    assert all(due + 3.0 <= 15.0 + 1e-9 for due in tries), tries


def test_without_a_limit_it_never_gives_up() -> None:
    flow = new_flow()
    flow.start(0.0)
    fail_each_try(flow, REFUSED, until=3600.0)
    assert flow.status is Status.REQUESTING and isinstance(flow.pending, CreatePin)
    assert flow.reconnecting and flow.unreachable


def test_an_answer_once_means_no_give_up() -> None:
    # A 503 is an answer: plex.tv is there, so a later outage is waited out.
    flow = new_flow(give_up_unreachable_after=15)
    created = flow.start(0.0)
    assert created is not None
    nxt = flow.receive(RequestFailed(created.seq, ServerError(CREATE, 503)), 0.0)
    assert flow.plex_tv_answered and flow.unreachable_since is None
    assert nxt is not None
    fail_each_try(flow, REFUSED, until=600.0)
    assert flow.status is Status.REQUESTING and isinstance(flow.pending, CreatePin)
    assert flow.unreachable_since is not None and flow.unreachable


def test_after_a_code_is_shown_it_retries_until_the_code_expires() -> None:
    flow = waiting(expires_in=120, seed=3, give_up_unreachable_after=15)
    tries = fail_each_try(flow, NetworkError("GET /api/v2/pins/1 failed", endpoint="GET /api/v2/pins/1"))
    assert flow.status is Status.EXPIRED, "an approval may be on its way: keep trying to the end"
    assert tries[-1] > 100.0


def test_unreachable_since_is_the_first_unanswered_try_and_clears_on_an_answer() -> None:
    flow = new_flow(give_up_unreachable_after=60)
    flow.start(5.0)
    first = flow.pending
    assert first is not None
    flow.receive(RequestFailed(first.seq, REFUSED), 5.0)
    second = flow.pending
    assert flow.unreachable_since == 5.0 and second is not None
    flow.receive(RequestFailed(second.seq, REFUSED), second.due)
    assert flow.unreachable_since == 5.0, "stays at the start of the outage"
    third = flow.pending
    assert third is not None
    flow.receive(PinReceived(third.seq, Pin(id=1, code="AB12", expires_in=900), sent_at=third.due), third.due)
    assert flow.plex_tv_answered and flow.unreachable_since is None and not flow.unreachable


def test_a_certificate_failure_still_ends_at_once() -> None:
    flow = new_flow(give_up_unreachable_after=15)
    created = flow.start(0.0)
    assert created is not None
    error = CertificateError("bad certificate", endpoint=CREATE, reason="self-signed")
    flow.receive(RequestFailed(created.seq, error), 0.0)
    assert flow.status is Status.ERROR and flow.error is error


def test_start_again_restarts_the_give_up_clock() -> None:
    flow = new_flow(give_up_unreachable_after=15)
    flow.start(0.0)
    fail_each_try(flow, REFUSED)
    assert flow.status is Status.ERROR
    flow.restart(100.0)
    assert flow.unreachable_since is None and not flow.plex_tv_answered
    tries = fail_each_try(flow, REFUSED)
    assert tries[0] == 100.0 and tries[-1] == pytest.approx(115.0)


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), True, "15"])
def test_a_bad_give_up_time_is_refused(value: object) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        PinFlow(give_up_unreachable_after=value)  # type: ignore[arg-type]
    assert excinfo.value.name == "give_up_unreachable_after"


# --------------------------------------------------------------------------- retry_now


def test_retry_now_moves_the_backed_off_request_to_now() -> None:
    flow = new_flow()
    created = flow.start(0.0)
    assert created is not None
    for _ in range(4):  # back off a few times
        pending = flow.pending
        assert pending is not None
        flow.receive(RequestFailed(pending.seq, REFUSED), pending.due)
    later = flow.pending
    assert isinstance(later, CreatePin) and later.due > 10.0
    assert flow.seconds_until_retry(10.0) > 0
    moved = flow.retry_now(10.0)
    assert isinstance(moved, CreatePin) and moved.due == 10.0 and moved.seq != later.seq
    assert flow.seconds_until_retry(10.0) == 0
    # The old schedule's number is stale now: a late result for it is ignored.
    assert flow.receive(RequestFailed(later.seq, REFUSED), 10.0) is moved


def test_retry_now_works_for_a_check_and_stays_before_expiry() -> None:
    flow = waiting(seed=3)
    check = flow.pending
    assert isinstance(check, CheckPin)
    flow.receive(RequestFailed(check.seq, REFUSED), check.due)
    moved = flow.retry_now(check.due + 0.1)
    assert isinstance(moved, CheckPin) and moved.due == pytest.approx(check.due + 0.1)


def test_retry_now_keeps_a_retry_after() -> None:
    flow = new_flow()
    created = flow.start(0.0)
    assert created is not None
    flow.receive(RequestFailed(created.seq, RateLimitedError(CREATE, 429, retry_after=30.0)), 0.0)
    pending = flow.pending
    assert isinstance(pending, CreatePin) and pending.due >= 30.0
    assert flow.retry_now(1.0) is pending, "plex.tv said when to come back"


def test_retry_now_does_nothing_without_a_fault() -> None:
    flow = waiting(seed=3)
    check = flow.pending
    assert flow.retry_now(0.5) is check, "a normal poll is not a retry"
    flow.cancel(1.0)
    assert flow.retry_now(1.0) is None


def test_retry_now_never_moves_the_expiry() -> None:
    flow = waiting(expires_in=2, seed=3)
    action = flow.pending
    while action is not None and not isinstance(action, Expire):
        action = flow.receive(RequestFailed(action.seq, REFUSED), action.due)
    assert isinstance(action, Expire)
    assert flow.retry_now(0.0) is action
