"""After sign-in: the account's servers, and hand-offs to python-plexapi.

:func:`list_resources` uses this package's own client. :func:`plexapi_account` and
:func:`connect_server` return python-plexapi objects (``MyPlexAccount``, ``PlexServer``); that
library is optional (``pip install "plexpin_widget[plexapi]"``) and imported only when they run.

python-plexapi hard-codes ``https://plex.tv`` URLs. When the base URL is something else (the
emulator), every request it makes to plex.tv or a ``*.plex.tv`` host is sent to the base URL
instead, through a ``requests`` session that rewrites those URLs, so nothing meant for an
emulator ever reaches the real plex.tv.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Sequence
from typing import Any

from ._errors import PlexPinError
from ._identity import ClientIdentity
from ._models import Connection, PlexResource
from ._urls import is_plex_tv

__all__ = [
    "PLEXAPI_INSTALL_HINT",
    "ConnectionAttempt",
    "PlexApiMissingError",
    "ServerConnectionError",
    "ServerNotFoundError",
    "connect_server",
    "connection_plan",
    "list_resources",
    "looks_like_jwt",
    "plexapi_account",
    "revoke_token",
]

PLEXAPI_INSTALL_HINT = 'pip install "plexpin_widget[plexapi]"'


class PlexApiMissingError(PlexPinError, ImportError):
    """python-plexapi is not installed; the message says how to install it."""


class ServerNotFoundError(PlexPinError, LookupError):
    """The account has no Plex Media Server (of that name)."""


@dataclasses.dataclass(frozen=True)
class ConnectionAttempt:
    """One connection that was tried: the server, how it was reached, and why it failed."""

    server: str
    kind: str  # "local", "remote" or "relay"
    uri: str
    reason: str

    def __str__(self) -> str:
        return f"{self.server}: {self.kind} {self.uri} — {self.reason}"


class ServerConnectionError(PlexPinError):
    """No connection to the server worked. ``attempts`` lists each one and why it failed."""

    def __init__(self, message: str, attempts: Sequence[ConnectionAttempt]) -> None:
        self.attempts = tuple(attempts)
        lines = [message] + [f"  - {attempt}" for attempt in self.attempts]
        super().__init__("\n".join(lines))


def _require_plexapi() -> Any:
    try:
        import plexapi.myplex
        import plexapi.server
    except ImportError as exc:
        raise PlexApiMissingError(
            f"this needs python-plexapi, which is not installed; run: {PLEXAPI_INSTALL_HINT}"
        ) from exc
    return plexapi


# --------------------------------------------------------------------------- resources


def list_resources(
    token: str,
    *,
    identity: ClientIdentity,
    base_url: str,
    timeout: float = 10.0,
    transport: Any = None,
) -> list[PlexResource]:
    """The account's devices (servers, players…), each with its connections and access token.

    ``transport`` must serve blocking requests (an asyncio-only one is refused)."""
    from ._client import PlexTvClient, sync_transport  # httpx is loaded when first needed

    transport = sync_transport(transport, "resources(), account() and server() need")
    with PlexTvClient(identity, base_url=base_url, timeout=timeout, transport=transport) as client:
        return client.get_resources(token, include_https=True, include_relay=True, include_ipv6=True)


def revoke_token(
    token: str,
    *,
    identity: ClientIdentity,
    base_url: str,
    timeout: float = 10.0,
    transport: Any = None,
) -> None:
    """Revoke ``token`` at plex.tv (``DELETE /api/v2/users/signout``), classic token or Plex JWT.

    Raises the client's typed errors (:class:`~plexpin_widget.TransportError` when plex.tv
    cannot be reached); a token plex.tv no longer knows counts as revoked."""
    from ._client import PlexTvClient, sync_transport
    from ._errors import InvalidTokenError

    transport = sync_transport(transport, "sign_out() needs")
    with PlexTvClient(identity, base_url=base_url, timeout=timeout, transport=transport) as client:
        try:
            client.sign_out(token)
        except InvalidTokenError:
            pass  # already signed out or expired: nothing left to revoke


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has a JWT's shape (three base64url parts, a JSON header)."""
    return token.startswith("eyJ") and token.count(".") == 2


#: What a server's 401 to a Plex JWT means, for people (reference §8).
JWT_SERVER_HINT = (
    "Plex Media Servers answer 401 to Plex JWTs (field reports through August 2026), and this "
    "server's access token from plex.tv is the JWT itself. Sign in without jwt=True (the classic "
    "token) to reach your servers."
)


def _kind(connection: Connection) -> str:
    if connection.relay:
        return "relay"
    return "local" if connection.local else "remote"


_KIND_ORDER = {"local": 0, "remote": 1, "relay": 2}


def connection_plan(resource: PlexResource) -> list[Connection]:
    """The order to try ``resource``'s connections in: local, then remote, relay last; within
    each, https before http and IPv4 before IPv6. A server someone shared with you is not
    tried on its local addresses (those are on its owner's network, not yours)."""
    usable = [c for c in resource.connections if resource.owned is not False or not c.local]
    return sorted(
        usable,
        key=lambda c: (_KIND_ORDER[_kind(c)], c.protocol != "https", c.ipv6),
    )


def choose_servers(resources: Sequence[PlexResource], name: str | None) -> list[PlexResource]:
    """The servers to try for ``name`` (matched case-insensitively against the name, or exactly
    against the machine identifier). For ``None``, every server: your own first, and among
    those the ones on your network (same public address) and online first."""
    servers = [r for r in resources if r.is_server]
    if not servers:
        raise ServerNotFoundError("the account has no Plex Media Server")
    if name is None:
        return sorted(
            servers,
            key=lambda r: (r.owned is False, r.public_address_matches is not True, r.presence is False),
        )
    wanted = name.strip().lower()
    matches = [r for r in servers if r.name.lower() == wanted or r.client_identifier == name]
    if not matches:
        known = ", ".join(repr(r.name) for r in servers)
        raise ServerNotFoundError(f"the account has no server named {name!r}; it has {known}")
    return matches


# --------------------------------------------------------------------------- python-plexapi


def _rebase(url: str, base_url: str) -> str:
    """``url`` with its scheme and host replaced by ``base_url``'s (path and query kept)."""
    target = urllib.parse.urlsplit(base_url)
    parts = urllib.parse.urlsplit(url)
    path = target.path.rstrip("/") + parts.path
    return urllib.parse.urlunsplit((target.scheme, target.netloc, path, parts.query, parts.fragment))


def _plex_tv_host(url: str) -> bool:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    return host == "plex.tv" or host.endswith(".plex.tv")


def _session_for(base_url: str) -> Any:
    """A ``requests`` session: plain for plex.tv, rewriting plex.tv URLs for anything else."""
    import requests
    import requests.adapters

    if is_plex_tv(base_url):
        return requests.Session()

    class _RebaseAdapter(requests.adapters.HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            request.url = _rebase(request.url, base_url)
            return super().send(request, *args, **kwargs)

    class _EmulatorSession(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            self._rebase = _RebaseAdapter()

        def get_adapter(self, url: str) -> Any:
            if _plex_tv_host(url):
                return self._rebase
            return super().get_adapter(url)

    return _EmulatorSession()


_ACCOUNT_CLASS: Any = None


def _account_class() -> Any:
    """``MyPlexAccount`` that also sends our ``X-Plex-*`` identity headers, so plex.tv sees the
    same client identifier as during the sign-in. Built once, after the lazy import."""
    global _ACCOUNT_CLASS
    plexapi = _require_plexapi()
    if _ACCOUNT_CLASS is None:

        class PlexPinAccount(plexapi.myplex.MyPlexAccount):  # type: ignore[misc,name-defined]
            """python-plexapi's ``MyPlexAccount``, identifying itself as the plexpin client."""

            _plexpin_headers: dict[str, str] = {}

            def _headers(self, **kwargs: Any) -> dict[str, str]:
                headers = super()._headers()
                headers.update(self._plexpin_headers)
                headers.update(kwargs)
                return headers

        _ACCOUNT_CLASS = PlexPinAccount
    return _ACCOUNT_CLASS


def _identity_headers(identity: ClientIdentity) -> dict[str, str]:
    headers = identity.headers()
    headers.pop("Accept", None)  # python-plexapi parses XML, plex.tv's default
    return headers


def plexapi_account(
    token: str, *, identity: ClientIdentity, base_url: str, timeout: float = 10.0
) -> Any:
    """A python-plexapi ``MyPlexAccount`` for ``token`` (talking to ``base_url``).

    Raises :class:`PlexApiMissingError` without python-plexapi, and python-plexapi's own
    errors (``Unauthorized``…) for what plex.tv answers.
    """
    cls = _account_class()
    session = _session_for(base_url)
    # Set per instance before __init__ runs, because __init__ already sends the first request.
    account = cls.__new__(cls)
    account._plexpin_headers = _identity_headers(identity)
    cls.__init__(account, token=token, session=session, timeout=timeout)
    return account


def _reason(error: BaseException, secrets: Sequence[str]) -> str:
    import requests

    if isinstance(error, requests.exceptions.Timeout):
        text = "timed out"
    elif isinstance(error, requests.exceptions.SSLError):
        text = "TLS failed (certificate or protocol)"
    elif isinstance(error, requests.exceptions.ConnectionError):
        text = "could not connect (refused, unreachable or name not found)"
    else:
        name = type(error).__name__
        detail = str(error).split(";")[0].strip()
        text = f"{name}: {detail}" if detail else name
    for secret in secrets:
        if secret:
            text = text.replace(secret, "…")
    return text[:200]


def _try_connection(
    plexapi: Any, resource: PlexResource, connection: Connection, token: str, timeout: float
) -> Any:
    import requests

    server = plexapi.server.PlexServer(connection.uri, token, session=requests.Session(), timeout=timeout)
    machine = getattr(server, "machineIdentifier", None)
    if resource.client_identifier and machine and machine != resource.client_identifier:
        raise ValueError(f"a different server answered there (machine identifier {machine})")
    return server


def connect_server(
    token: str,
    name: str | None = None,
    *,
    identity: ClientIdentity,
    base_url: str,
    timeout: float = 10.0,
    transport: Any = None,
    resources: Sequence[PlexResource] | None = None,
) -> Any:
    """A python-plexapi ``PlexServer`` for the server called ``name`` (any server if ``None``).

    Connections are tried local first, then remote, relay last (all at once, the best one
    that answers wins), each with the server's own access token. Raises
    :class:`ServerNotFoundError` when there is no such server and
    :class:`ServerConnectionError` (listing every connection and why it failed) when none
    answers.
    """
    plexapi = _require_plexapi()
    if resources is None:
        resources = list_resources(token, identity=identity, base_url=base_url, timeout=timeout, transport=transport)
    attempts: list[ConnectionAttempt] = []
    refused_jwt = False
    for resource in choose_servers(resources, name):
        server_token = resource.access_token or token
        plan = connection_plan(resource)
        if not plan:
            attempts.append(ConnectionAttempt(resource.name, "-", "(none)", "plex.tv lists no usable connection"))
            continue
        import concurrent.futures

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(plan)), thread_name_prefix="plexpin-connect")
        try:
            futures = [
                pool.submit(_try_connection, plexapi, resource, connection, server_token, timeout)
                for connection in plan
            ]
            # Wait in order of preference: the first success that every better choice failed wins.
            for connection, future in zip(plan, futures):
                try:
                    return future.result()
                except Exception as exc:
                    reason = _reason(exc, (token, server_token))
                    if looks_like_jwt(server_token) and _is_unauthorized(exc):
                        refused_jwt = True
                        reason = "the server refused the Plex JWT (401 Unauthorized)"
                    attempts.append(ConnectionAttempt(resource.name, _kind(connection), connection.uri, reason))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    what = f"the server {name!r}" if name is not None else "any server on the account"
    message = f"could not connect to {what}; tried {len(attempts)} connection(s):"
    if refused_jwt:
        message = f"could not connect to {what}: {JWT_SERVER_HINT} Tried {len(attempts)} connection(s):"
    raise ServerConnectionError(message, attempts)


def _is_unauthorized(error: BaseException) -> bool:
    from plexapi.exceptions import Unauthorized

    if isinstance(error, Unauthorized):
        return True
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None) == 401
