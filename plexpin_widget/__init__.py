"""Sign in to Plex from a Jupyter notebook with Plex's PIN flow.

>>> from plexpin_widget import PlexPinLogin
>>> login = PlexPinLogin(product="My analysis")   # doctest: +SKIP
>>> login                                          # shows the code, a QR image and a countdown

The token arrives as the observable, never-synced trait ``login.token``.
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import (
    CertificateError,
    ConfigurationError,
    DeviceKeyRejectedError,
    InvalidTokenError,
    JwtUnavailableError,
    JwtVerificationError,
    LoginCancelledError,
    LoginError,
    LoginFailedError,
    MalformedResponseError,
    MissingClientIdentifierError,
    NetworkError,
    PinExpiredError,
    PinNotFoundError,
    PlexApiError,
    PlexPinError,
    PlexTvUnreachableError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TokenExpiredError,
    TransportError,
    UnexpectedStatusError,
)
from ._flow import PinFlow, Status
from ._identity import ClientIdentity, resolve_client_identifier
from ._models import Connection, GeoData, Pin, PlexResource, PlexUser, Subscription
from ._sources import FoundToken, find_token
from ._store import TokenStore
from ._urls import auth_url, resolve_base_url
from ._version import __version__

if TYPE_CHECKING:
    from ._account import ConnectionAttempt, PlexApiMissingError, ServerConnectionError, ServerNotFoundError
    from ._client import AsyncPlexTvClient, PlexTvClient
    from ._widget import PlexPinLogin

# Loaded on first use: the widget needs ipywidgets and the clients need httpx, and neither is
# wanted by `plexpin login` (which imports this package) or by code that only reads the models.
_LAZY = {
    "ConnectionAttempt": "._account",
    "PlexApiMissingError": "._account",
    "ServerConnectionError": "._account",
    "ServerNotFoundError": "._account",
    "PlexPinLogin": "._widget",
    "PlexTvClient": "._client",
    "AsyncPlexTvClient": "._client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "CertificateError",
    "AsyncPlexTvClient",
    "ClientIdentity",
    "ConfigurationError",
    "Connection",
    "ConnectionAttempt",
    "DeviceKeyRejectedError",
    "FoundToken",
    "GeoData",
    "InvalidTokenError",
    "JwtUnavailableError",
    "JwtVerificationError",
    "LoginCancelledError",
    "LoginError",
    "LoginFailedError",
    "MalformedResponseError",
    "MissingClientIdentifierError",
    "NetworkError",
    "Pin",
    "PinExpiredError",
    "PinFlow",
    "PinNotFoundError",
    "PlexApiError",
    "PlexApiMissingError",
    "PlexPinError",
    "PlexPinLogin",
    "PlexResource",
    "PlexTvClient",
    "PlexTvUnreachableError",
    "PlexUser",
    "RateLimitedError",
    "RequestTimeoutError",
    "ServerConnectionError",
    "ServerError",
    "ServerNotFoundError",
    "Status",
    "Subscription",
    "TokenExpiredError",
    "TokenStore",
    "TransportError",
    "UnexpectedStatusError",
    "__version__",
    "auth_url",
    "find_token",
    "resolve_base_url",
    "resolve_client_identifier",
]
