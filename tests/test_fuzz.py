"""Property tests of the clients: arbitrary answers from "plex.tv".

The sync and async clients are fed through an ``httpx.MockTransport`` that answers with any
status, any headers and any body (random bytes, arbitrary JSON, pin-, user- and resource-shaped
JSON with arbitrary values, truncated documents, absurdly deep nesting), or raises any httpx
error. The only exceptions allowed out are :class:`PlexPinError` subclasses, a success is
always the right model type, and no error message ever carries the token that was sent.
The state machine is fuzzed in ``test_fuzz_flow.py``.

Examples are bounded (``max_examples`` 200, no deadline) so this file runs in seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from helpers import forbid_httpx_client_layer

TOKEN = "fuzzTOKEN-Qx7Zp9Lk2Vw"
BASE_URL = "https://plex.invalid"
IDENTITY = ClientIdentity(client_identifier="fuzz-client", product="fuzz")

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)



@pytest.fixture(autouse=True, scope="module")
def _lean_path_only() -> Iterator[None]:
    # Module-wide, so hypothesis's examples share it: every answer goes through the lean path.
    with pytest.MonkeyPatch.context() as patch:
        forbid_httpx_client_layer(patch)
        yield

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
