"""Sign in to Plex from a Jupyter notebook with Plex's PIN flow.

>>> from plexpin_widget import PlexPinLogin
>>> login = PlexPinLogin(product="My analysis")   # doctest: +SKIP
>>> login                                          # shows the code, a QR image and a countdown

The token arrives as the observable, never-synced trait ``login.token``.
"""

from ._account import ConnectionAttempt, PlexApiMissingError, ServerConnectionError, ServerNotFoundError
from ._client import AsyncPlexTvClient, PlexTvClient
from ._errors import (
    ConfigurationError,
    InvalidTokenError,
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
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
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
from ._widget import PlexPinLogin

__all__ = [
    "AsyncPlexTvClient",
    "ClientIdentity",
    "ConfigurationError",
    "Connection",
    "ConnectionAttempt",
    "FoundToken",
    "GeoData",
    "InvalidTokenError",
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
    "PlexUser",
    "RateLimitedError",
    "RequestTimeoutError",
    "ServerConnectionError",
    "ServerError",
    "ServerNotFoundError",
    "Status",
    "Subscription",
    "TokenStore",
    "TransportError",
    "UnexpectedStatusError",
    "__version__",
    "auth_url",
    "find_token",
    "resolve_base_url",
    "resolve_client_identifier",
]
