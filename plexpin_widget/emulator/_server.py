"""Serve a :class:`PlexTvEmulator` over real HTTP/1.1 on loopback: asyncio + h11, one thread.

All connections live on one event loop in one background thread, so thousands of concurrent
keep-alive clients cost no threads; "latency" faults are ``asyncio.sleep`` and never hold up
other connections; "drop" closes the TCP connection without a byte of response.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import inspect
import logging
import socket
import threading
import urllib.parse
from types import TracebackType
from typing import TYPE_CHECKING

import h11

from ._messages import EmulatorRequest, EmulatorResponse, header_text

if TYPE_CHECKING:
    from ._app import PlexTvEmulator

__all__ = ["EmulatorServer"]

logger = logging.getLogger("plexpin_widget.emulator")

_MAX_BODY = 1 << 20
_READ_CHUNK = 65536
_SERVER_NAME = b"plexpin-emulator"


class _RequestTooLarge(Exception):
    pass


class EmulatorServer:
    """``with EmulatorServer(emu) as server: httpx.get(server.url + "/api/v2/user", ...)``.

    ``port=0`` picks a free port (read :attr:`port` after :meth:`start`). The socket uses
    ``SO_REUSEADDR`` and remembers its port, so ``stop()`` then ``start()`` (or a new server
    on the same port) listens again at once, serving the same emulator state.
    """

    def __init__(
        self, emulator: PlexTvEmulator, host: str = "127.0.0.1", port: int = 0, *, backlog: int = 4096
    ) -> None:
        self.emulator = emulator
        self.host = host
        self.port = port
        self.backlog = backlog
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __repr__(self) -> str:
        return f"<EmulatorServer {self.url} {'running' if self.running else 'stopped'}>"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> EmulatorServer:
        """Start listening; returns once connections are accepted (or raises the bind error)."""
        if self.running:
            raise RuntimeError("the server is already running")
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run, name=f"plexpin-emulator:{self.port}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise self._startup_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening and close every connection (idempotent)."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may have just closed
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            # Lets a restarted server take the port back while old connections sit in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(self.backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return sock

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        try:
            self._stopping = asyncio.Event()
            server = await asyncio.start_server(self._on_connection, sock=self._bind(), backlog=self.backlog)
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            await self._end_connections()
            await server.wait_closed()

    async def _end_connections(self) -> None:
        """End every task of this loop, so that no connection outlives the loop.

        A connection accepted just before ``server.close()`` may still be on its way to
        :meth:`_on_connection` (asyncio's accept task, or a handler not yet started); such a
        handler would miss the cancel and be left pending on a closed loop with its socket
        open, and a later run would meet it in ``_connections``. A handler that has not started
        cannot close its socket when cancelled, so each is first let start.
        """
        current = asyncio.current_task()
        while True:
            others = [task for task in asyncio.all_tasks() if task is not current]
            if not others:
                return
            if any(inspect.getcoroutinestate(task.get_coro()) == inspect.CORO_CREATED for task in others):
                await asyncio.sleep(0)
                continue
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

    # ------------------------------------------------------------------ one connection

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.CancelledError, h11.ProtocolError, _RequestTooLarge):
            pass
        finally:
            self._connections.discard(task)
            # close() still flushes what was written; only then is the FIN sent.
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            try:
                received = await self._read_request(conn, reader, writer)
            except (h11.RemoteProtocolError, _RequestTooLarge) as exc:
                status = 413 if isinstance(exc, _RequestTooLarge) else 400
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    error = EmulatorResponse(status, [("Connection", "close")], b"")
                    await self._send(conn, writer, error)
                return
            if received is None:
                return
            try:
                response = self.emulator.handle(received)
            except Exception:  # a bug in one request must not take the connection loop down
                logger.exception("emulator failed on %s %s", received.method, received.path)
                response = EmulatorResponse(500, [("Content-Type", "text/plain")], b"emulator error")
            if response.delay > 0:
                await asyncio.sleep(response.delay)
            if response.drop:
                return  # _on_connection closes the socket: no status line, no bytes
            await self._send(conn, writer, response)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> EmulatorRequest | None:
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if request is not None and conn.they_are_waiting_for_100_continue:
                    writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
                conn.receive_data(await reader.read(_READ_CHUNK))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > _MAX_BODY:
                    raise _RequestTooLarge()
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                return self._to_emulator(request, bytes(body))
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    def _to_emulator(self, request: h11.Request, body: bytes) -> EmulatorRequest:
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        if "://" in path:  # absolute-form target, as sent to a proxy
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        headers = [(name.decode("latin-1"), header_text(value)) for name, value in request.headers]
        host = next((value for name, value in headers if name == "host"), "") or f"{self.host}:{self.port}"
        return EmulatorRequest(
            method=request.method.decode("ascii"),
            path=urllib.parse.unquote(path),
            query=query,
            headers=headers,
            body=body,
            base_url=f"http://{host}",
        )

    @staticmethod
    async def _send(conn: h11.Connection, writer: asyncio.StreamWriter, response: EmulatorResponse) -> None:
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
        headers.append((b"Date", email.utils.formatdate(usegmt=True).encode("ascii")))
        headers.append((b"Server", _SERVER_NAME))
        no_body = response.status in (204, 304) or response.status < 200
        if not no_body:
            headers.append((b"Content-Length", str(len(response.body)).encode("ascii")))
        data = conn.send(h11.Response(status_code=response.status, headers=headers))
        if not no_body and response.body:
            data += conn.send(h11.Data(data=response.body))
        data += conn.send(h11.EndOfMessage())
        writer.write(data)
        await writer.drain()

