"""The exception hierarchy. Every exception the package raises on purpose is a :class:`PlexPinError`.

::

    PlexPinError
    ├── ConfigurationError (also ValueError)     a bad argument or environment variable
    │   └── JwtUnavailableError                  jwt=True without PyJWT/cryptography installed
    ├── TransportError                           no usable HTTP answer (retryable)
    │   ├── RequestTimeoutError
    │   └── NetworkError
    │       ├── CertificateError                 TLS verification failed (not retryable)
    │       └── PlexTvUnreachableError           no answer ever came; the login gave up
    ├── MalformedResponseError                   an answer that is not the JSON we expect (retryable)
    ├── PlexApiError                             plex.tv answered with an error status
    │   ├── MissingClientIdentifierError         400, Plex code 1000
    │   ├── PinNotFoundError                     404, Plex code 1020 (unknown, expired, other client id)
    │   ├── InvalidTokenError                    401 (code 1001) or 422: the token is bad or revoked
    │   │   ├── TokenExpiredError                498: a Plex JWT past its expiry (refresh it)
    │   │   └── DeviceKeyRejectedError           plex.tv refuses the device key (1097, 422, 401)
    │   ├── RateLimitedError                     429, with ``retry_after`` (retryable)
    │   ├── ServerError                          5xx (retryable)
    │   └── UnexpectedStatusError                any other status
    ├── JwtVerificationError                     a JWT's signature or claims do not check out
    └── LoginError                               how a PIN login ended without a token
        ├── PinExpiredError
        ├── LoginCancelledError
        └── LoginFailedError                     the flow stopped on a non-retryable error

Messages never contain a token: the client builds them from the endpoint path, the status
and Plex's own error code and message only.
"""

from __future__ import annotations

__all__ = [
    "CertificateError",
    "ConfigurationError",
    "DeviceKeyRejectedError",
    "InvalidTokenError",
    "JwtUnavailableError",
    "JwtVerificationError",
    "LoginCancelledError",
    "LoginError",
    "LoginFailedError",
    "MalformedResponseError",
    "MissingClientIdentifierError",
    "NetworkError",
    "PinExpiredError",
    "PinNotFoundError",
    "PlexApiError",
    "PlexPinError",
    "PlexTvUnreachableError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ServerError",
    "TokenExpiredError",
    "TransportError",
    "UnexpectedStatusError",
]


class PlexPinError(Exception):
    """Base class of every error raised by plexpin_widget.

    ``retryable`` says whether trying the same request again later may succeed.
    """

    retryable: bool = False


class ConfigurationError(PlexPinError, ValueError):
    """An argument or environment variable has a value that cannot work.

    ``name`` is the argument or variable at fault.
    """

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(f"{name}: {message}")


class JwtUnavailableError(ConfigurationError):
    """JWT sign-in needs PyJWT with cryptography, which are not installed."""

    def __init__(self, missing: str = "PyJWT") -> None:
        self.missing = missing
        super().__init__(
            "jwt",
            f"JWT sign-in needs PyJWT with cryptography ({missing} is not installed); "
            "install them with: pip install 'plexpin-widget[jwt]'",
        )


class JwtVerificationError(PlexPinError):
    """A JWT failed verification: bad signature, wrong issuer or audience, expired, or not ours.

    ``reason`` says which check failed, in words. It never contains the token.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"JWT verification failed: {reason}")


class TransportError(PlexPinError):
    """The request got no HTTP answer (timeout, refused or dropped connection)."""

    retryable = True

    def __init__(self, message: str, *, endpoint: str = "") -> None:
        self.endpoint = endpoint
        super().__init__(message)


class RequestTimeoutError(TransportError):
    """plex.tv did not answer within the request timeout."""


class NetworkError(TransportError):
    """The connection could not be made or was broken."""


class CertificateError(NetworkError):
    """The server's TLS certificate could not be verified.

    Not retried: waiting does not fix a certificate, and verification is never turned off.
    Usually a proxy that intercepts TLS, or a missing system CA bundle. ``reason`` is the
    verifier's own words.
    """

    retryable = False

    def __init__(self, message: str, *, endpoint: str = "", reason: str = "") -> None:
        super().__init__(message, endpoint=endpoint)
        self.reason = reason


class PlexTvUnreachableError(NetworkError):
    """plex.tv never answered (connection refused, DNS failure, timeouts), and the login gave up.

    Raised only where a give-up time was asked for (``plexpin login`` gives up after 15 s);
    once plex.tv has answered once, a login keeps retrying. ``waited`` is how long it tried,
    in seconds; ``last_error`` the last failure, also the ``__cause__``.
    """

    def __init__(self, waited: float, last_error: BaseException) -> None:
        super().__init__(
            f"plex.tv never answered in {waited:.0f} s (last try: {last_error})",
            endpoint=getattr(last_error, "endpoint", ""),
        )
        self.waited = waited
        self.last_error = last_error
        self.__cause__ = last_error


class MalformedResponseError(PlexPinError):
    """plex.tv answered, but the body is not the JSON the endpoint should return.

    Treated as transient: proxies and overloaded servers truncate bodies.
    """

    retryable = True

    def __init__(self, endpoint: str, status_code: int, reason: str) -> None:
        self.endpoint = endpoint
        self.status_code = status_code
        self.reason = reason
        super().__init__(f"{endpoint} answered {status_code} with an unreadable body: {reason}")


class PlexApiError(PlexPinError):
    """plex.tv answered with an error status.

    ``plex_code`` and ``plex_message`` are Plex's own error code and text when the body had
    them (``None`` otherwise).
    """

    def __init__(
        self,
        endpoint: str,
        status_code: int,
        plex_code: int | None = None,
        plex_message: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.status_code = status_code
        self.plex_code = plex_code
        self.plex_message = plex_message
        detail = f"{endpoint} answered {status_code}"
        if plex_code is not None:
            detail += f" (Plex error {plex_code}"
            detail += f": {plex_message})" if plex_message else ")"
        elif plex_message:
            detail += f" ({plex_message})"
        super().__init__(detail)


class MissingClientIdentifierError(PlexApiError):
    """400 / 1000: the request had no ``X-Plex-Client-Identifier``."""


class PinNotFoundError(PlexApiError):
    """404 / 1020: the pin is unknown, expired, or was created by another client identifier."""


class InvalidTokenError(PlexApiError):
    """401 / 1001 or 422: the token is unknown, revoked or de-authorised."""


class TokenExpiredError(InvalidTokenError):
    """498: the Plex JWT has expired. A JWT login refreshes it with its device key."""


class DeviceKeyRejectedError(InvalidTokenError):
    """plex.tv refuses this device's key (Plex code 1097, 422 or 401 on a JWT call).

    Usually the device was removed under Authorized Devices at plex.tv; a new code (and a new
    key) is needed to sign in again.
    """


class RateLimitedError(PlexApiError):
    """429: too many requests. ``retry_after`` is the server's wait in seconds, if it gave one."""

    retryable = True

    def __init__(
        self,
        endpoint: str,
        status_code: int,
        plex_code: int | None = None,
        plex_message: str | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(endpoint, status_code, plex_code, plex_message)
        self.retry_after = retry_after


class ServerError(PlexApiError):
    """5xx: plex.tv (or a proxy in front of it) failed."""

    retryable = True


class UnexpectedStatusError(PlexApiError):
    """A status the endpoint is not documented to return."""


class LoginError(PlexPinError):
    """A PIN login ended without a token."""


class PinExpiredError(LoginError):
    """The code expired before anyone approved it. Call ``restart()`` for a new one."""


class LoginCancelledError(LoginError):
    """The login was cancelled (``cancel()``, ``close()`` or the Cancel button)."""


class LoginFailedError(LoginError):
    """The flow stopped on an error that retrying cannot fix; ``__cause__`` holds it."""
