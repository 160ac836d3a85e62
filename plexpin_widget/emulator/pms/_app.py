""":class:`PlexMediaServerEmulator`: a Plex Media Server stand-in that python-plexapi reads.

It answers the endpoints python-plexapi uses (reference ``pms-standin.md`` §0; the handlers are
in ``_routes``) from a
:class:`~._library.Library`, in XML unless the client asks for JSON. It is a request ->
response core like :class:`~plexpin_widget.emulator.PlexTvEmulator`, so the same
``EmulatorServer`` serves it on loopback and the same ``EmulatorTransport`` in-process.
"""

from __future__ import annotations

import collections
import hmac
import re
import secrets
import threading
import time
from typing import TYPE_CHECKING

from plexpin_widget._models import Connection

from .._app import LoggedRequest
from .._jwt_state import looks_like_jwt
from .._messages import EmulatorRequest, EmulatorResponse, json_response
from .._server import EmulatorServer
from ._library import Library
from ._routes import Handler, MediaServerRoutes, error_page

if TYPE_CHECKING:
    from .._app import PlexTvEmulator
    from .._transport import EmulatorTransport

__all__ = ["PlexMediaServerEmulator"]

class PlexMediaServerEmulator(MediaServerRoutes):
    """A Plex Media Server with an invented demo library, for python-plexapi and the notebooks.

    ``PlexMediaServerEmulator(plex_tv)`` becomes the demo account's server on that
    :class:`PlexTvEmulator` (its name, machine identifier and access token), and the account's
    own token is accepted too, as a real server accepts its owner's. Without ``plex_tv`` it is a
    stand-alone server with a token of its own (:attr:`access_token`).

    ``accept_jwt`` decides what a Plex JWT gets: by default 401, as field reports through
    August 2026 say real servers answer (reference ``plex-jwt-auth.md`` §8); when true, a live
    JWT of the owning account is let in, as Plex's documentation says it should be. It can be
    switched at any time (attribute, or ``POST /__emulator__/accept-jwt {"accept": bool}``).

    :meth:`server` listens on loopback and publishes the address in plex.tv's
    ``/api/v2/resources``; :meth:`transport` answers httpx in-process.
    """

    def __init__(self, plex_tv: PlexTvEmulator | None = None, *, library: Library | None = None,
                 allow_anonymous: bool = False, accept_jwt: bool = False) -> None:
        self._plex_tv = plex_tv
        resource = plex_tv.resources()[0] if plex_tv is not None else None
        self.name = resource.name if resource is not None else "Demo Server"
        self.machine_identifier = resource.client_identifier if resource is not None else secrets.token_hex(20)
        self.access_token: str = (resource.access_token if resource is not None else None) or secrets.token_urlsafe(15)
        owner = plex_tv.username if plex_tv is not None else "demo"
        self.owner = owner
        self.library = library if library is not None else Library(owner=owner)
        self.allow_anonymous = allow_anonymous
        self.accept_jwt = accept_jwt
        self._lock = threading.Lock()
        self._log: collections.deque[LoggedRequest] = collections.deque(maxlen=100_000)
        self._routes: list[tuple[re.Pattern[str], Handler]] = self._route_table()

    def __repr__(self) -> str:
        return f"<PlexMediaServerEmulator {self.name!r} {self.machine_identifier[:8]}…>"

    # ------------------------------------------------------------------ serving

    def accepts(self, request: EmulatorRequest) -> bool:
        """Whether the request's ``X-Plex-Token`` (header or query string) lets it in.

        This is the one place that decides it: the server's own :attr:`access_token`, or the
        account token of the plex.tv account that owns the server (looked up in the plex.tv
        emulator, so a revoked account token stops working), is accepted; so is no token at
        all when ``allow_anonymous`` (an unclaimed server on the local network). Everything
        else gets 401. A Plex JWT gets 401 too unless :attr:`accept_jwt`; then a live JWT
        (not expired, revoked or signed out on the plex.tv emulator) of the owner is accepted.
        """
        token = request.token
        if token is None:
            return self.allow_anonymous
        if looks_like_jwt(token) and not self.accept_jwt:
            return False
        if hmac.compare_digest(token.encode(), self.access_token.encode()):
            return True
        return self._plex_tv is not None and self._plex_tv.owns_server(token, self.machine_identifier)

    def handle(self, request: EmulatorRequest) -> EmulatorResponse:
        """Answer one request (the same contract as ``PlexTvEmulator.handle``)."""
        at, wall = time.monotonic(), time.time()
        response = self._respond(request)
        response.set_header("X-Plex-Protocol", "1.0")
        with self._lock:
            self._log.append(LoggedRequest(at=at, wall=wall, method=request.method,
                                           path=request.path + (f"?{request.query}" if request.query else ""),
                                           status=response.status, client_identifier=request.client_identifier))
        return response

    def _respond(self, request: EmulatorRequest) -> EmulatorResponse:
        path = request.route_path
        if path == "/__emulator__/accept-jwt" and request.method == "POST":
            return self._accept_jwt_hook(request)
        if path != "/identity" and not self.accepts(request):
            return error_page(401, "Unauthorized")
        if request.method not in ("GET", "HEAD"):
            return error_page(405, "Method Not Allowed")
        for pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match:
                return handler(request, match)
        return error_page(404, "Not Found")

    def _accept_jwt_hook(self, request: EmulatorRequest) -> EmulatorResponse:
        body = request.json_body
        if not isinstance(body, dict) or not isinstance(body.get("accept"), bool):
            return json_response(400, {"error": 'the body must be {"accept": true|false}'})
        self.accept_jwt = body["accept"]
        return json_response(200, {"accept": self.accept_jwt})

    def transport(self) -> EmulatorTransport:
        """An httpx transport (sync and async) answering from this server, without sockets."""
        from .._transport import EmulatorTransport

        return EmulatorTransport(self)

    def server(self, host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
        """A loopback HTTP server for this stand-in (not started: use ``with`` or ``.start()``).

        Once it listens, its address is published in the plex.tv emulator's resources, first
        among the server's connections, so ``login.server()`` and python-plexapi find it.
        """
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"the media server stand-in listens on loopback only, not {host!r}")
        return _PublishingServer(self, host=host, port=port)

    def _publish(self, server: EmulatorServer) -> None:
        if self._plex_tv is None:
            return
        ipv6 = ":" in server.host
        self._plex_tv.publish_connection(self.machine_identifier, Connection(
            uri=server.url, protocol="http", address="::1" if ipv6 else "127.0.0.1", port=server.port,
            local=True, ipv6=ipv6,
        ))

    def request_log(self) -> list[LoggedRequest]:
        """Answered requests, oldest first; ``path`` includes the query string."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()


class _PublishingServer(EmulatorServer):
    """An ``EmulatorServer`` that tells plex.tv where the media server listens once it does."""

    emulator: PlexMediaServerEmulator  # type: ignore[assignment]

    def start(self) -> _PublishingServer:
        super().start()
        self.emulator._publish(self)
        return self
