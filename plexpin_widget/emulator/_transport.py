"""An httpx transport that answers from a :class:`PlexTvEmulator` in-process, with no sockets.

One object serves both ``httpx.Client(transport=...)`` and ``httpx.AsyncClient(transport=...)``.
Faults look the way they would over the network: "latency" sleeps (``time.sleep`` or
``asyncio.sleep``) and raises ``httpx.ReadTimeout`` if the request's read timeout is shorter;
"drop" raises ``httpx.RemoteProtocolError`` ("Server disconnected without sending a response").
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse

import httpx

from ._messages import EmulatorRequest, EmulatorResponse, Responder, header_text

__all__ = ["EmulatorTransport"]


def _to_emulator(request: httpx.Request, body: bytes) -> EmulatorRequest:
    raw_path, _, query = request.url.raw_path.decode("ascii").partition("?")
    headers = [(name.decode("latin-1"), header_text(value)) for name, value in request.headers.raw]
    return EmulatorRequest(
        method=request.method,
        path=urllib.parse.unquote(raw_path),
        query=query,
        headers=headers,
        body=body,
        base_url=f"{request.url.scheme}://{request.url.netloc.decode('ascii')}",
    )


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout") or {}
    value = timeout.get("read")
    return float(value) if value is not None else None


def _to_httpx(request: httpx.Request, response: EmulatorResponse) -> httpx.Response:
    if response.drop:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
    return httpx.Response(
        response.status,
        headers=response.headers,
        content=response.body,
        request=request,
        extensions={"http_version": b"HTTP/1.1"},
    )


class EmulatorTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Send httpx requests straight to ``emulator.handle`` (sync and async)."""

    def __init__(self, emulator: Responder) -> None:
        self.emulator = emulator

    def _wait(self, request: httpx.Request, response: EmulatorResponse) -> tuple[float, bool]:
        """How long to wait, and whether the client gives up (read timeout) before then."""
        limit = _read_timeout(request)
        if response.delay > 0 and limit is not None and response.delay > limit:
            return limit, True
        return response.delay, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.emulator.handle(_to_emulator(request, request.read()))
        wait, times_out = self._wait(request, response)
        if wait > 0:
            time.sleep(wait)
        if times_out:
            raise httpx.ReadTimeout("timed out waiting for the emulator (latency fault)", request=request)
        return _to_httpx(request, response)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = self.emulator.handle(_to_emulator(request, await request.aread()))
        wait, times_out = self._wait(request, response)
        if wait > 0:
            await asyncio.sleep(wait)
        if times_out:
            raise httpx.ReadTimeout("timed out waiting for the emulator (latency fault)", request=request)
        return _to_httpx(request, response)

    def close(self) -> None:
        """Nothing to release; present for ``httpx.BaseTransport``."""

    async def aclose(self) -> None:
        """Nothing to release; present for ``httpx.AsyncBaseTransport``."""

