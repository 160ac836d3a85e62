"""Property tests of the state machine: arbitrary event sequences with arbitrary errors and pins.

A hypothesis state machine drives one :class:`PinFlow` the way a driver would, answering its
actions with arbitrary pins, users and errors (typed or not, including a driver's own bugs),
answering late, answering stale actions, answering with the wrong kind of event, and
cancelling, restarting, taking over and advancing time at random. After every step the flow
must be consistent: signed in only with a token and holding a token only when signed in,
nothing pending once it has ended, no check due at or after the deadline, never a negative
countdown, and never a request due before a ``Retry-After`` has passed.

Bounded (200 runs of up to 40 steps, no deadline) so this file runs in seconds.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from plexpin_widget import (
    InvalidTokenError,
    MalformedResponseError,
    NetworkError,
    Pin,
    PinNotFoundError,
    PlexUser,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    UnexpectedStatusError,
)
from plexpin_widget._errors import MissingClientIdentifierError
from plexpin_widget._flow import (
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

TOKEN = "fuzzTOKEN-Qx7Zp9Lk2Vw"

# --------------------------------------------------------------------------- the state machine

_pins = st.builds(
    Pin,
    id=st.integers(min_value=0, max_value=2**31),
    code=st.text(min_size=1, max_size=25),
    expires_in=st.integers(min_value=0, max_value=3600),
    auth_token=st.one_of(st.none(), st.none(), st.just(TOKEN), st.text(min_size=1, max_size=20)),
)
_users = st.builds(PlexUser, id=st.integers(min_value=0, max_value=2**31), username=st.text(max_size=20))
_flow_errors = st.one_of(
    st.builds(ServerError, st.just("GET /api/v2/pins/1"), st.sampled_from([500, 502, 503, 504])),
    st.builds(
        lambda retry_after: RateLimitedError("GET /api/v2/pins/1", 429, retry_after=retry_after),
        st.one_of(st.none(), st.floats(min_value=0, max_value=24 * 3600)),
    ),
    st.builds(RequestTimeoutError, st.just("timed out")),
    st.builds(NetworkError, st.just("failed")),
    st.builds(MalformedResponseError, st.just("GET /api/v2/pins/1"), st.just(200), st.just("not JSON")),
    st.builds(PinNotFoundError, st.just("GET /api/v2/pins/1"), st.just(404)),
    st.builds(InvalidTokenError, st.just("GET /api/v2/user"), st.just(401)),
    st.builds(UnexpectedStatusError, st.just("GET /api/v2/pins/1"), st.integers(300, 499)),
    st.builds(MissingClientIdentifierError, st.just("POST /api/v2/pins"), st.just(400)),
    # A bug in a driver or a parser: the flow must still end cleanly.
    st.sampled_from([RuntimeError("bug"), KeyError("x"), ValueError("bad"), ZeroDivisionError()]),
)
_REQUESTS = (CreatePin, CheckPin, FetchUser)


class FlowMachine(RuleBasedStateMachine):
    """Drives one :class:`PinFlow` the way a driver would, with arbitrary answers."""

    @initialize(
        poll=st.floats(min_value=0.05, max_value=10),
        seed=st.integers(0, 2**32 - 1),
        strong=st.booleans(),
    )
    def setup(self, poll: float, seed: int, strong: bool) -> None:
        self.flow = PinFlow(strong=strong, poll_interval=poll, rng=random.Random(seed))
        self.now = 1000.0
        # The earliest moment the next request may be sent (a Retry-After floor), if any.
        self.not_before: float | None = None
        assert self.flow.status is Status.IDLE and self.flow.pending is None

    # ----------------------------------------------------------------- user inputs

    @rule(token=st.one_of(st.none(), st.just(TOKEN)))
    def start(self, token: str | None) -> None:
        action = self.flow.start(self.now, token=token)
        self.not_before = None
        assert isinstance(action, FetchUser if token else CreatePin)
        assert self.flow.status is Status.REQUESTING

    @rule()
    def restart(self) -> None:
        action = self.flow.restart(self.now)
        self.not_before = None
        assert isinstance(action, CreatePin) and self.flow.token is None

    @rule()
    def cancel(self) -> None:
        before = self.flow.status
        self.flow.cancel(self.now)
        if before is Status.AUTHORIZED:
            assert self.flow.status is Status.AUTHORIZED and self.flow.token is not None
        elif not before.is_final:
            assert self.flow.status is Status.CANCELLED

    @rule()
    def take_over(self) -> None:
        old = self.flow.pending
        new = self.flow.take_over(self.now)
        if old is None:
            assert new is None
        else:
            assert new is not None and new.seq > old.seq and new.due == old.due and type(new) is type(old)

    @rule(seconds=st.floats(min_value=0, max_value=120))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    # ----------------------------------------------------------------- answers

    def _perform_at(self, latency: float) -> tuple[float, float]:
        """Send the pending action when due; return (sent_at, answered_at)."""
        action = self.flow.pending
        assert action is not None
        sent_at = max(self.now, action.due)
        if isinstance(action, _REQUESTS) and self.not_before is not None:
            assert sent_at >= self.not_before - 1e-9, "a request is due before Retry-After has passed"
        self.now = sent_at + latency
        return sent_at, self.now

    @precondition(lambda self: isinstance(self.flow.pending, (CreatePin, CheckPin)))
    @rule(pin=_pins, latency=st.floats(min_value=0, max_value=15))
    def answer_pin(self, pin: Pin, latency: float) -> None:
        seq = self.flow.pending.seq
        sent_at, now = self._perform_at(latency)
        self.not_before = None
        before = self.flow.deadline
        self.flow.receive(PinReceived(seq, pin, sent_at), now)
        if pin.auth_token:
            assert self.flow.status is Status.AUTHORIZED and self.flow.token == pin.auth_token
            assert isinstance(self.flow.pending, FetchUser)
        else:
            assert self.flow.status is Status.WAITING
            # The earliest deadline any answer gives is kept (expiresIn's rounding is unknown).
            expected = sent_at + pin.expires_in
            assert self.flow.deadline == pytest.approx(expected if before is None else min(before, expected))

    @precondition(lambda self: isinstance(self.flow.pending, FetchUser))
    @rule(user=_users, latency=st.floats(min_value=0, max_value=15))
    def answer_user(self, user: PlexUser, latency: float) -> None:
        action = self.flow.pending
        _, now = self._perform_at(latency)
        self.not_before = None
        self.flow.receive(UserReceived(action.seq, user), now)
        assert self.flow.status is Status.AUTHORIZED and self.flow.verified
        assert self.flow.token == action.token and self.flow.pending is None

    @precondition(lambda self: isinstance(self.flow.pending, _REQUESTS))
    @rule(error=_flow_errors, latency=st.floats(min_value=0, max_value=15))
    def answer_failure(self, error: BaseException, latency: float) -> None:
        seq = self.flow.pending.seq
        _, now = self._perform_at(latency)
        self.flow.receive(RequestFailed(seq, error), now)
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            self.not_before = now + error.retry_after
        else:
            self.not_before = None

    @precondition(lambda self: isinstance(self.flow.pending, Expire))
    @rule()
    def timer_fires(self) -> None:
        action = self.flow.pending
        deadline = self.flow.deadline
        self.now = max(self.now, action.due)
        self.flow.receive(TimerFired(action.seq), self.now)
        assert self.flow.status is Status.EXPIRED and self.flow.pending is None
        assert deadline is not None and self.now >= deadline - 1e-9, "expired before its deadline"

    @rule(kind=st.sampled_from(["pin", "user", "fail", "timer"]), offset=st.integers(1, 5), pin=_pins, user=_users)
    def stale_answer(self, kind: str, offset: int, pin: Pin, user: PlexUser) -> None:
        """An answer to an action that is no longer pending changes nothing."""
        pending = self.flow.pending
        seq = (pending.seq if pending is not None else 0) - offset
        snapshot = self._snapshot()
        event = {
            "pin": PinReceived(seq, pin, self.now),
            "user": UserReceived(seq, user),
            "fail": RequestFailed(seq, ServerError("x", 503)),
            "timer": TimerFired(seq),
        }[kind]
        assert self.flow.receive(event, self.now) is pending
        assert self._snapshot() == snapshot

    @precondition(lambda self: self.flow.pending is not None)
    @rule(user=_users)
    def mismatched_answer(self, user: PlexUser) -> None:
        """An answer of the wrong kind is a driver bug: TypeError, and nothing changes."""
        pending = self.flow.pending
        event = TimerFired(pending.seq) if not isinstance(pending, Expire) else UserReceived(pending.seq, user)
        snapshot = self._snapshot()
        with pytest.raises(TypeError):
            self.flow.receive(event, self.now)
        assert self._snapshot() == snapshot

    def _snapshot(self) -> tuple[Any, ...]:
        f = self.flow
        return (f.status, f.pending, f.pin, f.token, f.user, f.error, f.deadline, f.reconnecting, f.verified)

    # ----------------------------------------------------------------- invariants

    @invariant()
    def consistent(self) -> None:
        flow = getattr(self, "flow", None)
        if flow is None:
            return
        status, pending = flow.status, flow.pending
        if status is Status.AUTHORIZED:
            assert isinstance(flow.token, str) and flow.token, "authorized without a token"
            assert pending is None or isinstance(pending, FetchUser)
        else:
            assert flow.token is None, f"a token held while {status.value}"
        if status in (Status.CANCELLED, Status.EXPIRED, Status.ERROR):
            assert pending is None, f"{pending} pending after {status.value}"
        if status is Status.IDLE:
            assert pending is None
        if status is Status.REQUESTING:
            assert isinstance(pending, (CreatePin, FetchUser))
        if status is Status.WAITING:
            assert isinstance(pending, (CheckPin, Expire)), f"waiting with {pending} pending"
            assert flow.pin is not None and flow.deadline is not None
        if isinstance(pending, CheckPin):
            assert flow.deadline is not None and pending.due < flow.deadline, "a check due at/after the deadline"
        if isinstance(pending, Expire):
            assert status is Status.WAITING
        if pending is not None:
            assert math.isfinite(pending.due)
        if status is Status.ERROR:
            assert flow.error is not None
        for moment in (self.now - 1000, self.now, self.now + 0.5, self.now + 10_000):
            left = flow.seconds_left(moment)
            assert isinstance(left, int) and left >= 0


FlowMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestFlowMachine = FlowMachine.TestCase
