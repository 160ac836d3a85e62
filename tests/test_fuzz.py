"""Property tests: arbitrary answers from "plex.tv" and arbitrary event sequences.

Two targets:

* the clients (sync and async), fed through an ``httpx.MockTransport`` that answers with any
  status, any headers and any body, or raises any httpx error. The only exceptions allowed
  out are :class:`PlexPinError` subclasses, a success is always the right model type, and no
  error message ever carries the token that was sent.
* :class:`PinFlow`, driven by a hypothesis state machine that answers its actions with
  arbitrary pins, users and errors (typed or not), answers late, answers stale actions, and
  cancels, restarts, takes over and advances time at random. After every step the flow must be
  consistent: signed in only with a token, nothing pending once it has ended, no check due at
  or after the deadline, never a negative countdown, and never a request before a
  ``Retry-After`` has passed.

Examples are bounded (``max_examples`` ~200, no deadline) so this file runs in seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import random
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from plexpin_widget import (
    AsyncPlexTvClient,
    ClientIdentity,
    InvalidTokenError,
    MalformedResponseError,
    NetworkError,
    Pin,
    PinNotFoundError,
    PlexPinError,
    PlexResource,
    PlexTvClient,
    PlexUser,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    UnexpectedStatusError,
)
from plexpin_widget._errors import (
    ConfigurationError,
    MissingClientIdentifierError,
)
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
BASE_URL = "https://plex.invalid"
IDENTITY = ClientIdentity(client_identifier="fuzz-client", product="fuzz")

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --------------------------------------------------------------------------- response strategies

_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
_json_any = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)
_timestamps = st.one_of(
    _json_any,
    st.integers(min_value=-(2**63), max_value=2**63),
    st.sampled_from(
        ["2024-02-30T00:00:00Z", "9999-12-31T23:59:59.999999+14:00", "0000-01-01T00:00:00Z", "1700000000",
         "99999999999", "2019-06-27T09:19:28.123Z", "2024-01-01T00:00:00+99:99"]
    ),
)


def _pin_shaped(value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"id": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), value)},
        optional={
            "code": st.one_of(st.text(min_size=1, max_size=30), value),
            "expiresIn": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), value),
            "createdAt": _timestamps,
            "expiresAt": _timestamps,
            "authToken": st.one_of(st.none(), st.text(max_size=30), value),
            "location": st.one_of(st.dictionaries(st.sampled_from(["code", "city", "european_union_member"]), value), value),
            "trusted": value,
            "newRegistration": value,
            "qr": value,
            "product": value,
        },
    )


def _user_shaped(value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"id": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), value)},
        optional={
            "username": value,
            "title": value,
            "email": value,
            "subscription": st.one_of(st.dictionaries(st.sampled_from(["active", "features", "subscribedAt"]), value), value),
            "roles": value,
            "entitlements": value,
            "joinedAt": _timestamps,
            "homeSize": value,
            "authToken": value,
        },
    )


def _resource_shaped(value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    connection = st.fixed_dictionaries(
        {}, optional={"uri": value, "protocol": value, "port": value, "local": value, "relay": value, "IPv6": value}
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "name": value,
            "clientIdentifier": value,
            "provides": value,
            "connections": st.one_of(st.lists(connection, max_size=3), value),
            "createdAt": _timestamps,
            "accessToken": value,
        },
    )


def _error_shaped(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {"errors": st.one_of(st.lists(st.fixed_dictionaries({}, optional={"code": value, "message": value, "status": value}), max_size=2), value)}
    )


def _dump(payload: Any) -> bytes:
    return json.dumps(payload, allow_nan=True).encode("utf-8")


_payloads = st.one_of(
    _json_any,
    _pin_shaped(_json_any),
    _user_shaped(_json_any),
    st.lists(_resource_shaped(_json_any), max_size=3),
    _error_shaped(_json_any),
)
_bodies = st.one_of(
    st.binary(max_size=64),
    _payloads.map(_dump),
    # A truncated answer: a valid document cut anywhere.
    st.tuples(_payloads.map(_dump), st.floats(0, 1)).map(lambda pair: pair[0][: int(len(pair[0]) * pair[1])]),
    # Deep nesting, which blows Python's recursion limit in json.loads.
    st.integers(min_value=1, max_value=100_000).map(lambda depth: b"[" * depth + b"]" * depth),
)
_statuses = st.one_of(
    st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 410, 422, 429, 500, 502, 503, 504]),
    st.integers(min_value=100, max_value=599),
)
_header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=40)
_headers = st.dictionaries(
    st.sampled_from(["Retry-After", "Content-Type", "Content-Encoding", "X-Plex-Protocol", "Location"]),
    st.one_of(
        _header_text,
        st.sampled_from(["0", "-5", "1e308", "nan", "inf", "Wed, 21 Oct 2015 07:28:00 GMT", "gzip", "br",
                         "application/json", "text/html; charset=utf-32"]),
    ),
    max_size=3,
)
_httpx_errors = st.sampled_from(
    [
        httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout,
        httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.LocalProtocolError,
        httpx.ProxyError, httpx.UnsupportedProtocol, httpx.DecodingError, httpx.TooManyRedirects,
    ]
)


@dataclasses.dataclass(frozen=True)
class Answer:
    """One canned answer: a response, or an httpx error to raise."""

    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b""
    raise_error: type[httpx.HTTPError] | None = None

    def respond(self, request: httpx.Request) -> httpx.Response:
        if self.raise_error is not None:
            if issubclass(self.raise_error, httpx.RequestError):
                raise self.raise_error("injected", request=request)
            raise self.raise_error("injected")
        # Raw bytes, as a real transport hands them over (header values may be any latin-1).
        raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers.items()]
        return httpx.Response(self.status, headers=raw, content=self.body)


_answers = st.one_of(
    st.builds(Answer, status=_statuses, headers=_headers, body=_bodies),
    st.builds(Answer, raise_error=_httpx_errors),
)
_calls = st.sampled_from(["create_pin", "create_pin_strong", "check_pin", "get_user", "get_resources"])

_EXPECTED_TYPE = {
    "create_pin": Pin,
    "create_pin_strong": Pin,
    "check_pin": Pin,
    "get_user": PlexUser,
}


def _check_outcome(call: str, outcome: Any) -> None:
    """A result of the right type, or a typed error that does not leak the token."""
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, PlexPinError), f"{call} raised untyped {type(outcome).__name__}: {outcome!r}"
        assert not isinstance(outcome, ConfigurationError), f"{call}: a server answer is not a bad argument"
        assert TOKEN not in str(outcome) and TOKEN not in repr(outcome)
        return
    if call == "get_resources":
        assert isinstance(outcome, list) and all(isinstance(item, PlexResource) for item in outcome)
    else:
        assert isinstance(outcome, _EXPECTED_TYPE[call])
        if isinstance(outcome, Pin):
            assert outcome.expires_in >= 0
    assert TOKEN not in repr(outcome)


def _sync_call(answer: Answer, call: str) -> Any:
    with PlexTvClient(IDENTITY, base_url=BASE_URL, transport=httpx.MockTransport(answer.respond)) as client:
        try:
            if call == "create_pin":
                return client.create_pin()
            if call == "create_pin_strong":
                return client.create_pin(strong=True)
            if call == "check_pin":
                return client.check_pin(12345)
            if call == "get_user":
                return client.get_user(TOKEN)
            return client.get_resources(TOKEN)
        except Exception as exc:  # judged by _check_outcome
            return exc


async def _async_call(answer: Answer, call: str) -> Any:
    async with AsyncPlexTvClient(IDENTITY, base_url=BASE_URL, transport=httpx.MockTransport(answer.respond)) as client:
        try:
            if call == "create_pin":
                return await client.create_pin()
            if call == "create_pin_strong":
                return await client.create_pin(strong=True)
            if call == "check_pin":
                return await client.check_pin(12345)
            if call == "get_user":
                return await client.get_user(TOKEN)
            return await client.get_resources(TOKEN)
        except Exception as exc:
            return exc


@FUZZ
@given(answer=_answers, call=_calls)
def test_sync_client_only_raises_typed_errors(answer: Answer, call: str) -> None:
    _check_outcome(call, _sync_call(answer, call))


@FUZZ
@given(answer=_answers, call=_calls)
def test_async_client_only_raises_typed_errors(answer: Answer, call: str) -> None:
    _check_outcome(call, asyncio.run(_async_call(answer, call)))


@settings(max_examples=60, deadline=None)
@given(answer=_answers, call=_calls)
def test_sync_and_async_clients_agree(answer: Answer, call: str) -> None:
    """Both clients share the interpretation, so they must give the same outcome."""
    sync = _sync_call(answer, call)
    async_ = asyncio.run(_async_call(answer, call))
    if isinstance(sync, BaseException) or isinstance(async_, BaseException):
        assert type(sync) is type(async_)
        assert str(sync) == str(async_)
    else:
        assert sync == async_


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (503, b"", {}, ServerError),
        (429, b"{}", {"Retry-After": "7"}, RateLimitedError),
        (404, b'{"errors":[{"code":1020,"message":"Code not found or expired"}]}', {}, PinNotFoundError),
        (401, b"", {}, InvalidTokenError),
        (400, b"", {}, MissingClientIdentifierError),
        (418, b"", {}, UnexpectedStatusError),
        (200, b'{"id": 1', {}, MalformedResponseError),
        (200, b"[" * 100_000 + b"]" * 100_000, {}, MalformedResponseError),
    ],
)
def test_known_answers_map_to_their_error(
    status: int, body: bytes, headers: dict[str, str], expected: type[PlexPinError]
) -> None:
    """Anchors for the property tests: these answers must give exactly these errors."""
    outcome = _sync_call(Answer(status, headers, body), "check_pin")
    assert type(outcome) is expected, repr(outcome)


@pytest.mark.parametrize(
    ("error", "expected"), [(httpx.ReadTimeout, RequestTimeoutError), (httpx.ConnectError, NetworkError)]
)
def test_transport_failures_map_to_their_error(error: type[httpx.HTTPError], expected: type[PlexPinError]) -> None:
    outcome = _sync_call(Answer(raise_error=error), "create_pin")
    assert type(outcome) is expected


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
        self.flow.receive(PinReceived(seq, pin, sent_at), now)
        if pin.auth_token:
            assert self.flow.status is Status.AUTHORIZED and self.flow.token == pin.auth_token
            assert isinstance(self.flow.pending, FetchUser)
        else:
            assert self.flow.status is Status.WAITING
            assert self.flow.deadline == pytest.approx(sent_at + pin.expires_in)

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
