"""The clients' lean request path: each call is built into an ``httpx.Request`` once and re-sent
straight to the transport httpx would have chosen, with the same bytes, timeouts and error handling.

The status-to-error mapping itself is covered by test_client.py and test_fuzz.py, which forbid
httpx's client layer for our requests (``forbid_httpx_client_layer``), so they run this path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from plexpin_widget._client import AsyncPlexTvClient, PlexTvClient, _check_pin_call, _create_pin_call
from plexpin_widget._errors import NetworkError, RequestTimeoutError
from plexpin_widget._identity import ClientIdentity
from plexpin_widget.emulator import PlexTvEmulator
from helpers import IDENTITY_HEADERS, forbid_httpx_client_layer

BASE_URL = "https://plex.invalid"
IDENTITY = ClientIdentity(client_identifier="lean-client", product="Lean Café")
PIN_BODY = b'{"id": 7, "code": "ABCD", "expiresIn": 900, "authToken": null}'


@pytest.fixture(autouse=True)
def _lean_path_only(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_httpx_client_layer(monkeypatch)


class Recording(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Keeps every request it is sent (without changing it) and answers from the emulator."""

    def __init__(self, emu: PlexTvEmulator) -> None:
        self.inner = emu.transport()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


def _run(kind: str, transport: Any, calls: Any, **kwargs: Any) -> Any:
    """Run ``calls(client)`` (a list of zero-argument callables) with a sync or async client."""
    if kind == "sync":
        with PlexTvClient(IDENTITY, base_url=BASE_URL, transport=transport, **kwargs) as client:
            return [call() for call in calls(client)], client

    async def main() -> Any:
        async with AsyncPlexTvClient(IDENTITY, base_url=BASE_URL, transport=transport, **kwargs) as client:
            return [await call() for call in calls(client)], client

    return asyncio.run(main())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_repeated_check_resends_one_prepared_request(kind: str) -> None:
    emu = PlexTvEmulator()
    transport = Recording(emu)

    (pin,), _ = _run(kind, transport, lambda client: [lambda: client.create_pin()])
    (a, b, c), _ = _run(kind, transport, lambda client: [lambda: client.check_pin(pin.id)] * 3)
    assert a.id == b.id == c.id == pin.id
    checks = transport.requests[1:]
    assert len(checks) == 3 and checks[0] is checks[1] is checks[2]
    assert checks[0].url.path == f"/api/v2/pins/{pin.id}"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_calls_with_a_token_are_built_afresh_and_not_kept(kind: str) -> None:
    emu = PlexTvEmulator()
    transport = Recording(emu)
    _, client = _run(kind, transport, lambda c: [lambda: c.create_pin(), lambda: c.create_pin()])
    assert transport.requests[0] is transport.requests[1]  # token-less: prepared once
    secret = "lean-SECRET-token"

    def calls(c: Any) -> list[Any]:
        async def swallow_async() -> Any:
            try:
                return await c.get_user(secret)
            except Exception as exc:
                return exc

        def swallow() -> Any:  # an unknown token: InvalidTokenError, not the point here
            try:
                return c.get_user(secret)
            except Exception as exc:
                return exc

        fn = swallow if kind == "sync" else swallow_async
        return [fn, fn]

    before = len(transport.requests)
    _, client = _run(kind, transport, calls)
    first, second = transport.requests[before:]
    assert first is not second
    assert first.headers["X-Plex-Token"] == secret
    assert all("X-Plex-Token" not in request.headers for request, _t in client._prepared.values())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_request_is_what_httpx_would_send(kind: str) -> None:
    emu = PlexTvEmulator()
    transport = Recording(emu)
    (pin,), _ = _run(kind, transport, lambda c: [lambda: c.create_pin(strong=True)], timeout=3.5)
    request = transport.requests[0]
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/api/v2/pins?strong=true"
    # The client's defaults (Host, User-Agent, Accept-Encoding, Connection) and ours.
    names = {name.lower() for name in request.headers}
    assert {"host", "user-agent", "accept-encoding", "connection", "accept"} <= names
    assert {name.lower() for name in IDENTITY_HEADERS} <= names
    assert request.headers["Accept"] == "application/json"
    assert request.headers.raw[[k.lower() for k, _ in request.headers.raw].index(b"x-plex-product")][1] == (
        "Lean Café".encode())
    # Timeouts travel as the request extension that httpx's transports read.
    assert request.extensions["timeout"] == httpx.Timeout(3.5).as_dict()
    assert pin.code


class Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body in pieces, optionally failing before the end; records being closed."""

    def __init__(self, pieces: list[bytes], fail: type[httpx.HTTPError] | None = None) -> None:
        self.pieces = pieces
        self.fail = fail
        self.closed = False

    def _pieces(self) -> Iterator[bytes]:
        yield from self.pieces
        if self.fail is not None:
            raise self.fail("body cut off")

    def __iter__(self) -> Iterator[bytes]:
        yield from self._pieces()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces():
            yield piece

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_streamed_body_is_read_whole_and_the_response_closed(kind: str) -> None:
    stream = Chunks([PIN_BODY[:10], PIN_BODY[10:30], PIN_BODY[30:]])
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=stream))
    (pin,), _ = _run(kind, transport, lambda c: [lambda: c.check_pin(7)])
    assert (pin.id, pin.code, pin.expires_in) == (7, "ABCD", 900)
    assert stream.closed


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(("fault", "expected"), [(httpx.ReadError, NetworkError),
                                                 (httpx.ReadTimeout, RequestTimeoutError)])
def test_a_body_cut_off_is_a_typed_error_and_the_response_closed(
    kind: str, fault: type[httpx.HTTPError], expected: type[Exception]
) -> None:
    stream = Chunks([PIN_BODY[:10]], fail=fault)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=stream))

    def calls(c: Any) -> list[Any]:
        def sync() -> Any:
            with pytest.raises(expected):
                c.check_pin(7)

        async def asynchronous() -> Any:
            with pytest.raises(expected):
                await c.check_pin(7)

        return [sync if kind == "sync" else asynchronous]

    _run(kind, transport, calls)
    assert stream.closed


def test_a_closed_client_refuses_to_send() -> None:
    client = PlexTvClient(IDENTITY, base_url=BASE_URL, transport=PlexTvEmulator().transport())
    client.create_pin()
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.create_pin()

    async def main() -> None:
        aclient = AsyncPlexTvClient(IDENTITY, base_url=BASE_URL, transport=PlexTvEmulator().transport())
        await aclient.create_pin()
        await aclient.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await aclient.create_pin()

    asyncio.run(main())


@pytest.mark.parametrize("cls", [PlexTvClient, AsyncPlexTvClient])
def test_a_proxy_from_the_environment_still_carries_the_request(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    client = cls(IDENTITY)  # https://plex.tv; nothing is sent here
    try:
        request, transport = client._prepare(_check_pin_call(1))
        assert transport is client._http._transport_for_url(request.url)
        assert transport is not client._http._transport  # the proxy's, mounted by httpx
        assert client._prepare(_create_pin_call(False))[1] is transport
    finally:
        if isinstance(client, PlexTvClient):
            client.close()
        else:
            asyncio.run(client.aclose())
