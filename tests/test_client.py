"""The plex.tv clients against the emulator: every endpoint, every error mapping, sync and async.

Each case runs twice through :class:`Api`, once with :class:`PlexTvClient` and once with
:class:`AsyncPlexTvClient`, so the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plexpin_widget._client import AsyncPlexTvClient, PlexTvClient, parse_retry_after
from plexpin_widget._errors import (
    ConfigurationError,
    InvalidTokenError,
    MalformedResponseError,
    MissingClientIdentifierError,
    NetworkError,
    PinNotFoundError,
    PlexApiError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    UnexpectedStatusError,
)
from plexpin_widget._identity import ClientIdentity
from plexpin_widget._models import GeoData, Pin, PlexResource, PlexUser
from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator
from helpers import IDENTITY_HEADERS, forbid_httpx_client_layer



@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXPIN_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("PLEXPIN_CLIENT_IDENTIFIER", raising=False)
    monkeypatch.delenv("PLEXPIN_BASE_URL", raising=False)


@pytest.fixture(autouse=True)
def _lean_path_only(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_httpx_client_layer(monkeypatch)


# ----------------------------------------------------------------------------- harness


class Recorder(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Wraps a transport; keeps every request and can strip headers before passing it on."""

    def __init__(self, inner: Any, strip: tuple[str, ...] = ()) -> None:
        self.inner = inner
        self.strip = strip
        self.requests: list[httpx.Request] = []

    def _prepare(self, request: httpx.Request) -> httpx.Request:
        for name in self.strip:
            if name in request.headers:
                del request.headers[name]
        self.requests.append(request)
        return request

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(self._prepare(request))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(self._prepare(request))


class Api:
    """One client, sync or async, with the same blocking methods either way."""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        self.kind = kind
        self._loop: asyncio.AbstractEventLoop | None = None
        if kind == "sync":
            self.client: PlexTvClient | AsyncPlexTvClient = PlexTvClient(**kwargs)
        else:
            self._loop = asyncio.new_event_loop()
            self.client = AsyncPlexTvClient(**kwargs)

    def _run(self, name: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, name)(*args, **kwargs)
        if self._loop is not None:
            return self._loop.run_until_complete(result)
        return result

    def create_pin(self, strong: bool = False) -> Pin:
        return self._run("create_pin", strong)

    def check_pin(self, pin_id: Any) -> Pin:
        return self._run("check_pin", pin_id)

    def get_user(self, token: Any) -> PlexUser:
        return self._run("get_user", token)

    def get_resources(self, token: str, **kwargs: bool) -> list[PlexResource]:
        return self._run("get_resources", token, **kwargs)

    def close(self) -> None:
        """Close the client (and the async client's loop); safe to call twice."""
        if isinstance(self.client, PlexTvClient):
            self.client.close()
            return
        assert self._loop is not None
        if not self._loop.is_closed():
            self._loop.run_until_complete(self.client.aclose())
            self._loop.close()


@pytest.fixture(params=["sync", "async"])
def make_api(request: pytest.FixtureRequest) -> Iterator[Callable[..., Api]]:
    """``make_api(transport=..., product=..., client_identifier=..., timeout=...)``."""
    made: list[Api] = []

    def make(**kwargs: Any) -> Api:
        kwargs.setdefault("product", "Test Suite")
        kwargs.setdefault("client_identifier", "test-client-1")
        api = Api(request.param, **kwargs)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(make_api: Callable[..., Api], emu: PlexTvEmulator) -> Api:
    return make_api(transport=emu.transport())


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(handler)  # serves httpx.Client and httpx.AsyncClient alike


# ----------------------------------------------------------------------------- endpoints


def test_create_short_pin(api: Api, emu: PlexTvEmulator) -> None:
    pin = api.create_pin()
    assert re.fullmatch(r"[A-Z0-9]{4}", pin.code)
    assert 10**8 <= pin.id < 2**31
    assert pin.expires_in == 900 and pin.lifetime == dt.timedelta(seconds=900)
    assert pin.client_identifier == "test-client-1"
    assert pin.product == "Test Suite"
    assert pin.qr and pin.qr.endswith(f"/api/v2/pins/qr/{pin.code}")
    assert isinstance(pin.location, GeoData) and pin.location.country
    assert pin.auth_token is None and pin.new_registration is None and not pin.is_strong
    assert pin.created_at is not None and pin.created_at.tzinfo is not None
    (entry,) = emu.request_log()
    assert (entry.method, entry.path, entry.status) == ("POST", "/api/v2/pins", 201)


def test_create_strong_pin(api: Api, emu: PlexTvEmulator) -> None:
    pin = api.create_pin(strong=True)
    assert re.fullmatch(r"[a-z0-9]{25}", pin.code)
    assert pin.is_strong and pin.expires_in == 1800
    assert emu.request_log()[-1].status == 201


def test_check_pin_then_claim(api: Api, emu: PlexTvEmulator) -> None:
    pin = api.create_pin()
    again = api.check_pin(pin.id)
    assert again.id == pin.id and again.code == pin.code and again.auth_token is None
    assert emu.request_log()[-1].status == 200
    token = emu.claim(pin_id=pin.id)
    claimed = api.check_pin(pin.id)
    assert claimed.auth_token == token and claimed.is_claimed
    assert claimed.new_registration is False
    assert token not in repr(claimed)


def test_user_and_resources(api: Api, emu: PlexTvEmulator) -> None:
    pin = api.create_pin()
    token = emu.claim(pin_id=pin.id)
    user = api.get_user(token)
    assert isinstance(user, PlexUser) and user.username == emu.username and user.id > 0
    assert token not in repr(user)
    resources = api.get_resources(token)
    assert resources and all(isinstance(r, PlexResource) for r in resources)
    server = resources[0]
    assert server.is_server and server.access_token
    kinds = {(c.protocol, c.relay, c.ipv6) for c in server.connections}
    assert ("https", True, False) in kinds  # relay included by default
    assert not any(c.ipv6 for c in server.connections)  # IPv6 left out by default


def test_resource_include_flags(api: Api, emu: PlexTvEmulator) -> None:
    token = emu.demo_token
    everything = api.get_resources(token, include_ipv6=True)[0].connections
    assert any(c.ipv6 for c in everything) and any(c.relay for c in everything)
    no_relay = api.get_resources(token, include_relay=False)[0].connections
    assert no_relay and not any(c.relay for c in no_relay)
    no_https = api.get_resources(token, include_https=False)[0].connections
    assert no_https and all(c.protocol == "http" for c in no_https)


# ----------------------------------------------------------------------------- Plex errors


@pytest.mark.parametrize("step", ["create", "check"])
def test_missing_client_identifier(make_api: Callable[..., Api], emu: PlexTvEmulator, step: str) -> None:
    good = make_api(transport=emu.transport())
    pin = good.create_pin()
    bad = make_api(transport=Recorder(emu.transport(), strip=("X-Plex-Client-Identifier",)))
    with pytest.raises(MissingClientIdentifierError) as info:
        bad.create_pin() if step == "create" else bad.check_pin(pin.id)
    err = info.value
    assert (err.status_code, err.plex_code) == (400, 1000)
    assert err.plex_message == "X-Plex-Client-Identifier is missing"
    assert "1000" in str(err) and "X-Plex-Client-Identifier is missing" in str(err)
    assert not err.retryable


def _assert_not_found(err: PinNotFoundError) -> None:
    assert (err.status_code, err.plex_code) == (404, 1020)
    assert err.plex_message == "Code not found or expired"
    assert "1020" in str(err) and "Code not found or expired" in str(err)
    assert err.endpoint.startswith("GET /api/v2/pins/")
    assert not err.retryable


def test_unknown_pin(api: Api) -> None:
    with pytest.raises(PinNotFoundError) as info:
        api.check_pin(123456789)
    _assert_not_found(info.value)


def test_expired_pin(api: Api, emu: PlexTvEmulator) -> None:
    pin = api.create_pin()
    emu.clock.advance(899)
    assert api.check_pin(pin.id).expires_in <= 1
    emu.clock.advance(2)
    with pytest.raises(PinNotFoundError) as info:
        api.check_pin(pin.id)
    _assert_not_found(info.value)


def test_pin_of_another_client_identifier(make_api: Callable[..., Api], emu: PlexTvEmulator) -> None:
    pin = make_api(transport=emu.transport(), client_identifier="client-A").create_pin()
    other = make_api(transport=emu.transport(), client_identifier="client-B")
    with pytest.raises(PinNotFoundError) as info:
        other.check_pin(pin.id)
    _assert_not_found(info.value)


@pytest.mark.parametrize("endpoint", ["user", "resources"])
def test_unknown_token(api: Api, endpoint: str) -> None:
    call = api.get_user if endpoint == "user" else api.get_resources
    with pytest.raises(InvalidTokenError) as info:
        call("not-a-real-token-123")
    err = info.value
    assert (err.status_code, err.plex_code) == (401, 1001)
    assert err.plex_message == "User could not be authenticated"
    assert not err.retryable


@pytest.mark.parametrize("endpoint", ["user", "resources"])
def test_revoked_token(api: Api, emu: PlexTvEmulator, endpoint: str) -> None:
    token = emu.add_account("kim")
    assert api.get_user(token).username == "kim"
    emu.revoke(token)
    call = api.get_user if endpoint == "user" else api.get_resources
    with pytest.raises(InvalidTokenError) as info:
        call(token)
    assert info.value.status_code == 422
    assert token not in str(info.value)


# ----------------------------------------------------------------------------- 429, 5xx


def test_rate_limit_fault_with_retry_after(api: Api, emu: PlexTvEmulator) -> None:
    emu.faults.add("rate_limit", retry_after=7)
    with pytest.raises(RateLimitedError) as info:
        api.create_pin()
    err = info.value
    assert err.status_code == 429 and err.retry_after == 7.0 and err.retryable
    assert err.plex_code is not None  # the emulator sends a Plex-style body
    assert api.create_pin().code  # one-shot fault: the next request goes through


def test_emulator_rate_limit(make_api: Callable[..., Api]) -> None:
    emu = PlexTvEmulator(rate_limit=(2, 60.0))
    api = make_api(transport=emu.transport())
    pin = api.create_pin()
    api.check_pin(pin.id)
    with pytest.raises(RateLimitedError) as info:
        api.check_pin(pin.id)
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 60


def test_retry_after_http_date(make_api: Callable[..., Api]) -> None:
    when = email.utils.format_datetime(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=120), usegmt=True)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": when}, text="slow down")

    api = make_api(transport=_mock(handler))
    with pytest.raises(RateLimitedError) as info:
        api.check_pin(1)
    # One-second resolution of HTTP dates, and the clock moved a little since.
    assert info.value.retry_after is not None and 100 <= info.value.retry_after <= 121
    assert info.value.plex_code is None


def test_rate_limit_without_retry_after(make_api: Callable[..., Api]) -> None:
    api = make_api(transport=_mock(lambda r: httpx.Response(429, json={"errors": []})))
    with pytest.raises(RateLimitedError) as info:
        api.create_pin()
    assert info.value.retry_after is None and info.value.retryable


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("120", 120.0),
        ("  5 ", 5.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("99999999", 86400.0),
        ("soon", None),
        ("", None),
        ("nan", None),
        ("inf", None),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_parse_retry_after_uses_the_wall_clock_by_default() -> None:
    header = email.utils.formatdate(time.time() + 3600, usegmt=True)
    value = parse_retry_after(header)
    assert value is not None and 3500 <= value <= 3600


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(api: Api, emu: PlexTvEmulator, status: int) -> None:
    emu.faults.add("status", status=status)
    with pytest.raises(ServerError) as info:
        api.create_pin()
    assert info.value.status_code == status and info.value.retryable
    assert isinstance(info.value, PlexApiError)


@pytest.mark.parametrize("status", [403, 418, 409])
def test_unexpected_status(api: Api, emu: PlexTvEmulator, status: int) -> None:
    emu.faults.add("status", status=status)
    with pytest.raises(UnexpectedStatusError) as info:
        api.create_pin()
    assert info.value.status_code == status and not info.value.retryable


def test_400_outside_pins_is_unexpected(make_api: Callable[..., Api]) -> None:
    body = {"errors": [{"code": 1000, "message": "X-Plex-Client-Identifier is missing", "status": 400}]}
    api = make_api(transport=_mock(lambda r: httpx.Response(400, json=body)))
    with pytest.raises(UnexpectedStatusError):
        api.get_user("some-token-value")


# ----------------------------------------------------------------------------- transport faults


def test_timeout(make_api: Callable[..., Api], emu: PlexTvEmulator) -> None:
    api = make_api(transport=emu.transport(), timeout=0.05)
    emu.faults.add("latency", delay=30)
    with pytest.raises(RequestTimeoutError) as info:
        api.create_pin()
    assert info.value.retryable and info.value.endpoint == "POST /api/v2/pins"
    assert "POST /api/v2/pins" in str(info.value)
    assert info.value.__cause__ is None


def test_latency_within_timeout_is_fine(make_api: Callable[..., Api], emu: PlexTvEmulator) -> None:
    api = make_api(transport=emu.transport(), timeout=5)
    emu.faults.add("latency", delay=0.01)
    assert api.create_pin().code


def test_dropped_connection(api: Api, emu: PlexTvEmulator) -> None:
    pin = api.create_pin()
    emu.faults.add("drop")
    with pytest.raises(NetworkError) as info:
        api.check_pin(pin.id)
    assert info.value.retryable and info.value.endpoint == f"GET /api/v2/pins/{pin.id}"


def test_connection_refused(make_api: Callable[..., Api]) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = make_api(base_url=f"http://127.0.0.1:{port}", timeout=5)
    with pytest.raises(NetworkError) as info:
        api.create_pin()
    assert info.value.retryable


def test_over_loopback_socket(make_api: Callable[..., Api], emu: PlexTvEmulator) -> None:
    """The same mappings through a real httpx transport and the emulator's HTTP server."""
    with EmulatorServer(emu) as server:
        api = make_api(base_url=server.url, timeout=0.5)
        pin = api.create_pin()
        token = emu.claim(pin_id=pin.id)
        assert api.check_pin(pin.id).auth_token == token
        assert api.get_user(token).username == emu.username
        emu.faults.add("drop")
        with pytest.raises(NetworkError):
            api.check_pin(pin.id)
        emu.faults.add("latency", delay=3)
        with pytest.raises(RequestTimeoutError):
            api.check_pin(pin.id)
        api.close()


# ----------------------------------------------------------------------------- malformed answers


def _assert_malformed(err: MalformedResponseError, endpoint: str, status: int) -> None:
    assert not isinstance(err, (KeyError, json.JSONDecodeError))
    assert err.endpoint == endpoint and err.status_code == status and err.retryable
    assert endpoint in str(err) and str(status) in str(err)
    assert err.__cause__ is None and err.__suppress_context__


def test_non_json_body(api: Api, emu: PlexTvEmulator) -> None:
    emu.faults.add("malformed")
    with pytest.raises(MalformedResponseError) as info:
        api.create_pin()
    _assert_malformed(info.value, "POST /api/v2/pins", 200)


def test_truncated_body(api: Api, emu: PlexTvEmulator) -> None:
    pin = api.create_pin()
    emu.faults.add("truncated")
    with pytest.raises(MalformedResponseError) as info:
        api.check_pin(pin.id)
    _assert_malformed(info.value, f"GET /api/v2/pins/{pin.id}", 200)


def test_truncated_user_body(api: Api, emu: PlexTvEmulator) -> None:
    emu.faults.add("truncated", path_prefix="/api/v2/user")
    with pytest.raises(MalformedResponseError) as info:
        api.get_user(emu.demo_token)
    _assert_malformed(info.value, "GET /api/v2/user", 200)
    assert emu.demo_token not in str(info.value)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (201, {"code": "AB12", "expiresIn": 900}, "'id'"),
        (201, {"id": 5}, "'code'"),
        (201, [], "pin"),
        (201, "just a string", "pin"),
    ],
)
def test_json_without_required_fields(
    make_api: Callable[..., Api], status: int, body: Any, reason: str
) -> None:
    api = make_api(transport=_mock(lambda r: httpx.Response(status, json=body)))
    with pytest.raises(MalformedResponseError) as info:
        api.create_pin()
    _assert_malformed(info.value, "POST /api/v2/pins", status)
    assert reason in str(info.value)


@pytest.mark.parametrize("content", [b"\xff\xfe{\"id\": 1}", b"", b'{"id": 1, "code": "AB', b"[" * 100_000])
def test_undecodable_bodies(make_api: Callable[..., Api], content: bytes) -> None:
    api = make_api(transport=_mock(lambda r: httpx.Response(201, content=content)))
    with pytest.raises(MalformedResponseError) as info:
        api.create_pin()
    _assert_malformed(info.value, "POST /api/v2/pins", 201)


def test_resources_not_a_list(make_api: Callable[..., Api]) -> None:
    api = make_api(transport=_mock(lambda r: httpx.Response(200, json={"name": "x"})))
    with pytest.raises(MalformedResponseError) as info:
        api.get_resources("some-token-value")
    assert "array" in str(info.value)


def test_error_body_that_is_not_json(make_api: Callable[..., Api]) -> None:
    api = make_api(transport=_mock(lambda r: httpx.Response(404, text="<html>nope</html>")))
    with pytest.raises(PinNotFoundError) as info:
        api.check_pin(7)
    assert info.value.plex_code is None and info.value.plex_message is None


# ----------------------------------------------------------------------------- headers


def test_every_request_carries_identity_and_accept(make_api: Callable[..., Api], emu: PlexTvEmulator) -> None:
    recorder = Recorder(emu.transport())
    api = make_api(transport=recorder)
    pin = api.create_pin()
    token = emu.claim(pin_id=pin.id)
    api.check_pin(pin.id)
    api.get_user(token)
    api.get_resources(token)
    expected = ClientIdentity.create("Test Suite", "test-client-1").headers()
    assert len(recorder.requests) == 4
    for request in recorder.requests:
        assert request.headers["Accept"] == "application/json"
        for name in IDENTITY_HEADERS:
            assert request.headers[name] == expected[name], name
    pin_requests, account_requests = recorder.requests[:2], recorder.requests[2:]
    assert all("X-Plex-Token" not in r.headers for r in pin_requests)
    assert all(r.headers["X-Plex-Token"] == token for r in account_requests)
    assert all(token not in str(r.url) for r in recorder.requests)  # never in the query string
    assert {e.client_identifier for e in emu.request_log()} == {"test-client-1"}
    assert [e.status for e in emu.request_log("test-client-1")] == [201, 200, 200, 200]


def test_strong_is_a_query_parameter(make_api: Callable[..., Api], emu: PlexTvEmulator) -> None:
    recorder = Recorder(emu.transport())
    make_api(transport=recorder).create_pin(strong=True)
    assert recorder.requests[0].url.params["strong"] == "true"


def test_non_ascii_product_is_sent_as_utf8(make_api: Callable[..., Api], emu: PlexTvEmulator) -> None:
    recorder = Recorder(emu.transport())
    api = make_api(transport=recorder, product="Café ✓ 日本")
    assert api.create_pin().code
    raw = dict(recorder.requests[0].headers.raw)
    assert raw[b"X-Plex-Product"] == "Café ✓ 日本".encode()


def test_explicit_identity_is_used(make_api: Callable[..., Api], emu: PlexTvEmulator) -> None:
    identity = ClientIdentity(client_identifier="explicit-id", product="Explicit")
    pin = make_api(identity=identity, transport=emu.transport()).create_pin()
    assert (pin.client_identifier, pin.product) == ("explicit-id", "Explicit")


# ----------------------------------------------------------------------------- secrets


def test_token_never_in_errors_or_logs(
    make_api: Callable[..., Api], emu: PlexTvEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api = make_api(transport=emu.transport())
    pin = api.create_pin()
    token = emu.claim(pin_id=pin.id)
    revoked = emu.add_account("gone")
    emu.revoke(revoked)
    texts: list[str] = []
    assert api.check_pin(pin.id).auth_token == token
    api.get_user(token)
    api.get_resources(token)
    for secret in (revoked, "unknown-token-abcdef"):
        for call in (api.get_user, api.get_resources):
            with pytest.raises(InvalidTokenError) as info:
                call(secret)
            texts += [str(info.value), repr(info.value), repr(info.value.args)]
    emu.faults.add("status", status=503, path_prefix="/api/v2/user")
    with pytest.raises(ServerError) as info5:
        api.get_user(token)
    emu.faults.add("latency", delay=30, path_prefix="/api/v2/resources")
    slow = make_api(transport=emu.transport(), timeout=0.05)
    with pytest.raises(RequestTimeoutError) as info_t:
        slow.get_resources(token)
    with pytest.raises(ConfigurationError) as info_c:
        api.get_user(token + "\n")
    texts += [str(e.value) for e in (info5, info_t, info_c)]
    texts += [repr(api.client), repr(slow.client)]
    texts += [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    assert any(r.name == "plexpin_widget.client" for r in caplog.records)  # logging did happen
    for secret in (token, revoked, "unknown-token-abcdef"):
        assert not [t for t in texts if secret in t], secret


# ----------------------------------------------------------------------------- arguments, lifecycle


@pytest.mark.parametrize("bad", ["12", -1, 1.5, True, None])
def test_bad_pin_id(api: Api, bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="pin_id"):
        api.check_pin(bad)


@pytest.mark.parametrize("bad", ["", "  ", None, 42, "has space", "new\nline"])
def test_bad_token(api: Api, bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="token"):
        api.get_user(bad)


@pytest.mark.parametrize("bad", [0, -1, "10", True, float("nan")])
def test_bad_timeout(bad: Any) -> None:
    for cls in (PlexTvClient, AsyncPlexTvClient):
        with pytest.raises(ConfigurationError, match="timeout"):
            cls(product="x", client_identifier="c", timeout=bad)


def test_bad_base_url() -> None:
    for cls in (PlexTvClient, AsyncPlexTvClient):
        with pytest.raises(ConfigurationError, match="base_url"):
            cls(product="x", client_identifier="c", base_url="http://plex.tv")


def test_base_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXPIN_BASE_URL", "http://127.0.0.1:9/")
    with PlexTvClient(product="x", client_identifier="c") as client:
        assert client.base_url == "http://127.0.0.1:9"
    assert client.is_closed


async def test_async_context_manager(emu: PlexTvEmulator) -> None:
    async with AsyncPlexTvClient(product="x", client_identifier="c", transport=emu.transport()) as client:
        assert (await client.create_pin()).code
    assert client.is_closed


def _ssl_contexts(http: httpx.Client | httpx.AsyncClient) -> list[ssl.SSLContext]:
    transports = [http._transport, *(t for t in http._mounts.values() if t is not None)]
    return [t._pool._ssl_context for t in transports]  # type: ignore[union-attr]


@pytest.mark.parametrize("cls", [PlexTvClient, AsyncPlexTvClient])
def test_tls_is_verified(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    # Even with proxies configured in the environment, every transport verifies certificates.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    client = cls(product="x", client_identifier="c")
    try:
        contexts = _ssl_contexts(client._http)
        assert len(contexts) >= 2
        for context in contexts:
            assert context.verify_mode == ssl.CERT_REQUIRED
            assert context.check_hostname is True
    finally:
        if isinstance(client, PlexTvClient):
            client.close()
        else:
            asyncio.run(client.aclose())
