"""plex.tv over httpx: one synchronous and one asynchronous client sharing everything but I/O.

Each endpoint is described once by a :class:`_Call` (method, path, params, expected status and
how to parse the body); :func:`_interpret` turns an ``httpx.Response`` into a model or a typed
error. The two client classes only send requests and translate httpx's exceptions.

Nothing here logs or raises a token: requests are logged by method and path, and error messages
are built from the endpoint, the status and Plex's own error code and message.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import re
import ssl
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from ._errors import (
    CertificateError,
    ConfigurationError,
    DeviceKeyRejectedError,
    InvalidTokenError,
    MalformedResponseError,
    MissingClientIdentifierError,
    NetworkError,
    PinNotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TokenExpiredError,
    TransportError,
    UnexpectedStatusError,
)
from ._identity import DEFAULT_PRODUCT, ClientIdentity
from ._models import Pin, PlexResource, PlexUser
from ._timeouts import check_request_timeout
from ._urls import resolve_base_url

__all__ = ["DEFAULT_TIMEOUT", "AsyncPlexTvClient", "PlexTvClient", "parse_retry_after", "sync_transport"]

logger = logging.getLogger("plexpin_widget.client")

_DEVICE_JWT_PARAM = re.compile(r"(deviceJWT=)[^&\s\"']+")


class _RedactDeviceJwt(logging.Filter):
    """httpx's client layer logs each request's URL at INFO. Our own requests skip that layer,
    but a pin check's URL carries the signed device JWT (good for the Plex JWT within its 5
    minutes), so any such line that does get logged has it blanked out."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any("deviceJWT=" in str(arg) for arg in args):
            record.args = tuple(
                _DEVICE_JWT_PARAM.sub(r"\1[redacted]", str(arg)) if "deviceJWT=" in str(arg) else arg
                for arg in args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactDeviceJwt())

DEFAULT_TIMEOUT = 10.0
_T = TypeVar("_T")


# --------------------------------------------------------------------------- shared, no I/O


@dataclasses.dataclass(frozen=True)
class _Call(Generic[_T]):
    method: str
    path: str
    expect: int
    parse: Callable[[Any], _T]
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Kept out of repr so that a _Call in a traceback never shows the token.
    token: str | None = dataclasses.field(default=None, repr=False)
    # A JSON body, and query parameters that carry a signed device JWT: out of repr too.
    body: Any = dataclasses.field(default=None, repr=False)
    secret_params: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    #: False for endpoints that answer with no body (sign-out).
    has_body: bool = True

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.path}"


def _create_pin_call(strong: bool, jwk: Mapping[str, str] | None = None) -> _Call[Pin]:
    if jwk is not None:
        # The JWT sign-in sends the device's public key with the pin, and `strong` in the body.
        return _Call("POST", "/api/v2/pins", 201, Pin.from_json, body={"jwk": dict(jwk), "strong": bool(strong)})
    params = {"strong": "true"} if strong else {}
    return _Call("POST", "/api/v2/pins", 201, Pin.from_json, params)


def _check_jwt_text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value or any(ord(ch) < 33 or ord(ch) > 126 for ch in value):
        raise ConfigurationError(name, "must be a signed JWT (printable ASCII, no spaces)")
    return value


def _check_pin_call(pin_id: int, device_jwt: str | None = None) -> _Call[Pin]:
    if isinstance(pin_id, bool) or not isinstance(pin_id, int) or pin_id < 0:
        raise ConfigurationError("pin_id", f"must be a non-negative integer, not {pin_id!r}")
    secret = {"deviceJWT": _check_jwt_text(device_jwt, "device_jwt")} if device_jwt is not None else {}
    return _Call("GET", f"/api/v2/pins/{pin_id}", 200, Pin.from_json, secret_params=secret)


def _parse_nonce(payload: Any) -> str:
    nonce = payload.get("nonce") if isinstance(payload, Mapping) else None
    if not isinstance(nonce, str) or not nonce.strip():
        raise ValueError("nonce: expected {\"nonce\": \"...\"}")
    return nonce.strip()


def _nonce_call() -> _Call[str]:
    return _Call("GET", "/api/v2/auth/nonce", 200, _parse_nonce)


def _parse_auth_token(payload: Any) -> str:
    # plex.tv writes `auth_token` here (snake case) and `authToken` on pins; accept both.
    token = None
    if isinstance(payload, Mapping):
        token = payload.get("auth_token") or payload.get("authToken")
    if not isinstance(token, str) or not token.strip():
        raise ValueError("auth/token: the answer holds no auth_token")
    return token.strip()


def _token_call(device_jwt: str) -> _Call[str]:
    body = {"jwt": _check_jwt_text(device_jwt, "device_jwt")}
    return _Call("POST", "/api/v2/auth/token", 200, _parse_auth_token, body=body)


def _parse_keys(payload: Any) -> list[dict[str, Any]]:
    keys = payload.get("keys") if isinstance(payload, Mapping) else None
    if not isinstance(keys, list):
        raise ValueError("auth/keys: expected {\"keys\": [...]}")
    return [dict(key) for key in keys if isinstance(key, Mapping)]


def _keys_call() -> _Call[list[dict[str, Any]]]:
    return _Call("GET", "/api/v2/auth/keys", 200, _parse_keys)


def _ignore_body(payload: Any) -> None:
    return None


def _sign_out_call(token: str) -> _Call[None]:
    return _Call("DELETE", "/api/v2/users/signout", 204, _ignore_body, token=_check_token(token), has_body=False)


def _check_token(token: object) -> str:
    if not isinstance(token, str) or not token.strip():
        raise ConfigurationError("token", "must be a non-empty string")
    if any(ord(ch) < 33 or ord(ch) > 126 for ch in token):
        raise ConfigurationError("token", "contains characters that cannot be sent in a header")
    return token


def _user_call(token: str) -> _Call[PlexUser]:
    return _Call("GET", "/api/v2/user", 200, PlexUser.from_json, token=_check_token(token))


def _parse_resources(payload: Any) -> list[PlexResource]:
    if not isinstance(payload, list):
        raise ValueError(f"resources: expected a JSON array, got {type(payload).__name__}")
    return [PlexResource.from_json(item) for item in payload]


def _resources_call(
    token: str, include_https: bool, include_relay: bool, include_ipv6: bool
) -> _Call[list[PlexResource]]:
    params = {
        "includeHttps": "1" if include_https else "0",
        "includeRelay": "1" if include_relay else "0",
        "includeIPv6": "1" if include_ipv6 else "0",
    }
    return _Call(
        "GET", "/api/v2/resources", 200, _parse_resources, params, token=_check_token(token)
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        import email.utils  # rare (HTTP-date form); keeps the package's import light

        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, min(seconds, 24 * 3600.0))


def _plex_error(payload: Any) -> tuple[int | None, str | None]:
    """Plex's error code and message from ``{"errors": [{"code", "message", ...}]}``."""
    if not isinstance(payload, Mapping):
        return None, None
    errors = payload.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    if not isinstance(first, Mapping):
        return None, None
    code = first.get("code")
    message = first.get("message")
    code_int = code if isinstance(code, int) and not isinstance(code, bool) else None
    if isinstance(code, str) and code.isdigit():
        code_int = int(code)
    text = message[:200] if isinstance(message, str) else None
    return code_int, text


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None


def _interpret(call: _Call[_T], response: httpx.Response) -> _T:
    """The model for a successful answer, or the typed error for any other."""
    status = response.status_code
    if not call.has_body and 200 <= status < 300:
        return call.parse(None)
    if status == call.expect or (200 <= status < 300 and call.expect in (200, 201)):
        try:
            payload = json.loads(response.content)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise MalformedResponseError(call.endpoint, status, f"not JSON ({type(exc).__name__})") from None
        try:
            return call.parse(payload)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise MalformedResponseError(call.endpoint, status, str(exc)) from None
    plex_code, plex_message = _plex_error(_json_or_none(response))
    args = (call.endpoint, status, plex_code, plex_message)
    if status == 429:
        raise RateLimitedError(*args, retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if status >= 500:
        raise ServerError(*args)
    if status == 400 and plex_code in (1000, None) and "/pins" in call.path:
        raise MissingClientIdentifierError(*args)
    if status == 404 and call.path.startswith("/api/v2/pins/"):
        raise PinNotFoundError(*args)
    if status == 498:
        raise TokenExpiredError(*args)
    if call.path == "/api/v2/auth/nonce" and status in (400, 422):
        raise MissingClientIdentifierError(*args)
    # 1097: no key registered for this client identifier (the device was removed); 401/422
    # on a call signed with the device key: plex.tv refuses the signature or the key.
    signed = call.path.startswith("/api/v2/auth/") or bool(call.secret_params)
    if plex_code == 1097 or (signed and status in (401, 403, 422)):
        raise DeviceKeyRejectedError(*args)
    if status in (401, 422):
        raise InvalidTokenError(*args)
    raise UnexpectedStatusError(*args)


def _certificate_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate error somewhere in ``exc``'s chain (httpx wraps httpcore wraps ssl)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        pending += [e for e in (current.__cause__, current.__context__, *current.args) if isinstance(e, BaseException)]
    return None


def _transport_error(call: _Call[Any], exc: httpx.HTTPError) -> TransportError:
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeoutError(f"{call.endpoint} timed out ({kind})", endpoint=call.endpoint)
    bad_certificate = _certificate_failure(exc)
    if bad_certificate is not None:
        # Verification is never turned off; say plainly why the connection was refused.
        reason = bad_certificate.verify_message or "certificate verify failed"
        return CertificateError(
            f"{call.endpoint} failed: the server's TLS certificate could not be verified ({reason})",
            endpoint=call.endpoint,
            reason=reason,
        )
    return NetworkError(f"{call.endpoint} failed: {kind}", endpoint=call.endpoint)


def _build_timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    if timeout is None:
        return httpx.Timeout(DEFAULT_TIMEOUT)
    checked = check_request_timeout(timeout, "timeout")
    return checked if isinstance(checked, httpx.Timeout) else httpx.Timeout(checked)


def sync_transport(transport: Any, needed_by: str) -> httpx.BaseTransport | None:
    """``transport`` if it can serve blocking requests; ``None`` if none was given.

    An asyncio-only transport is refused rather than dropped: falling back to httpx's default
    transport would send a test's requests to the real plex.tv.
    """
    if transport is None or isinstance(transport, httpx.BaseTransport):
        return transport
    raise ConfigurationError(
        "transport", f"{type(transport).__name__} only supports asyncio; {needed_by} an httpx.BaseTransport"
    )


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """One certificate-verifying TLS context for every client in the process.

    httpx builds a new one per client by default, and loading the CA bundle takes ~30 ms of
    CPU: paid again for every login (each runs its own client), it was most of the time to
    code and of the CPU per login at scale (see docs/benchmarks.md). A context is safe to share.
    """
    return httpx.create_ssl_context()


#: Prepared requests kept per client (a login sends two or three distinct calls).
_PREPARED_LIMIT = 8
_CLOSED_MESSAGE = "Cannot send a request, as the client has been closed."


def _identity_headers(identity: ClientIdentity) -> dict[str, bytes]:
    # httpx encodes str header values as ASCII and would raise on a product such as
    # "Café"; plex.tv expects non-ASCII X-Plex-* values as UTF-8.
    return {name: value.encode("utf-8") for name, value in identity.headers().items()}


class _ClientBase:
    """Configuration shared by both clients: where to send requests and who we say we are.

    A waiting login sends the same pin check once a second, so a call is turned into an
    ``httpx.Request`` once (by the httpx client: base URL, default headers, timeouts as request
    extensions) and that request is sent again straight to the transport the client picks for
    its URL (its pool, or a proxy from the environment). That skips httpx's per-request client
    layer (URL merging, header copies, the cookie jar, the auth and redirect loops), which cost
    about as much CPU as the transport itself (see docs/benchmarks.md); the bytes on the wire
    are the same. Redirects were never followed; plex.tv's API sets no cookies, and none are
    kept or sent. Calls that carry a secret (a token, a device JWT) or a body are built afresh
    each time, so no secret outlives its request.
    """

    _http: httpx.Client | httpx.AsyncClient
    #: httpx.Client or httpx.AsyncClient: the one thing the two clients build differently.
    _http_class: type[httpx.Client] | type[httpx.AsyncClient]

    def __init__(
        self,
        identity: ClientIdentity | None = None,
        *,
        product: str = DEFAULT_PRODUCT,
        base_url: str | None = None,
        client_identifier: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` must suit the client: an ``httpx.BaseTransport`` for
        :class:`PlexTvClient`, an ``httpx.AsyncBaseTransport`` for :class:`AsyncPlexTvClient`."""
        if identity is None:
            identity = ClientIdentity.create(product=product, client_identifier=client_identifier)
        self.identity = identity
        self.base_url = resolve_base_url(base_url)
        self._timeout = _build_timeout(timeout)
        self._headers = _identity_headers(identity)
        self._prepared: dict[tuple[str, str, tuple[tuple[str, str], ...]], tuple[httpx.Request, Any]] = {}
        self._http = self._http_class(
            base_url=self.base_url, timeout=self._timeout, transport=transport, verify=_tls_context()
        )

    def _request_kwargs(self, call: _Call[Any]) -> dict[str, Any]:
        headers = dict(self._headers)
        if call.token is not None:
            headers["X-Plex-Token"] = call.token.encode("utf-8")
        kwargs: dict[str, Any] = {
            "method": call.method, "url": call.path, "params": {**call.params, **call.secret_params},
            "headers": headers,
        }
        if call.body is not None:
            kwargs["json"] = call.body
        return kwargs

    def _prepare(self, call: _Call[Any]) -> tuple[httpx.Request, Any]:
        """The request for ``call`` and the transport that carries it; built once per call
        unless the call carries a secret or a body."""
        if self._http.is_closed:
            raise RuntimeError(_CLOSED_MESSAGE)
        reusable = call.token is None and not call.secret_params and call.body is None
        key = (call.method, call.path, tuple(sorted(call.params.items())))
        if reusable:
            prepared = self._prepared.get(key)
            if prepared is not None:
                return prepared
        request = self._http.build_request(**self._request_kwargs(call))
        prepared = (request, self._http._transport_for_url(request.url))
        if reusable:
            if len(self._prepared) >= _PREPARED_LIMIT:
                self._prepared.clear()
            self._prepared[key] = prepared
        return prepared

    @staticmethod
    def _log(call: _Call[Any], response: httpx.Response | None, started: float) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            status = response.status_code if response is not None else "no answer"
            logger.debug("%s -> %s in %.0f ms", call.endpoint, status, (time.monotonic() - started) * 1000)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, product={self.identity.product!r}, "
            f"client_identifier={self.identity.client_identifier!r})"
        )


class PlexTvClient(_ClientBase):
    """A synchronous plex.tv client.

    >>> with PlexTvClient(product="My analysis") as client:   # doctest: +SKIP
    ...     pin = client.create_pin()
    ...     pin = client.check_pin(pin.id)

    ``base_url`` defaults to ``$PLEXPIN_BASE_URL`` or ``https://plex.tv``; ``transport`` lets
    tests plug in the emulator. TLS certificates are always verified.
    """

    _http: httpx.Client
    _http_class = httpx.Client

    def _exchange(self, call: _Call[Any]) -> httpx.Response:
        request, transport = self._prepare(call)
        response = transport.handle_request(request)
        response.request = request
        try:
            response.read()
        finally:
            response.close()
        return response

    def _send(self, call: _Call[_T]) -> _T:
        started = time.monotonic()
        try:
            response = self._exchange(call)
        except httpx.HTTPError as exc:
            self._log(call, None, started)
            raise _transport_error(call, exc) from None
        self._log(call, response, started)
        return _interpret(call, response)

    def create_pin(self, strong: bool = False, *, jwk: Mapping[str, str] | None = None) -> Pin:
        """Ask plex.tv for a new pin (``strong=True`` for the long code used in URLs).

        With ``jwk`` (a device's public key) the pin is for the JWT sign-in."""
        return self._send(_create_pin_call(strong, jwk))

    def check_pin(self, pin_id: int, *, device_jwt: str | None = None) -> Pin:
        """Read a pin again; its ``auth_token`` is set once the person approved it.

        For a pin made with a JWK, pass a ``device_jwt`` signed by that key: the
        ``auth_token`` is then a Plex JWT."""
        return self._send(_check_pin_call(pin_id, device_jwt))

    def get_nonce(self) -> str:
        """A one-use nonce (valid 5 minutes) for a device JWT that asks for a new Plex JWT."""
        return self._send(_nonce_call())

    def exchange_token(self, device_jwt: str) -> str:
        """A new Plex JWT for a device JWT that carries a nonce (``POST /api/v2/auth/token``).

        The answer is not verified here; check it against :meth:`get_signing_keys`."""
        return self._send(_token_call(device_jwt))

    def get_signing_keys(self) -> list[dict[str, Any]]:
        """The public keys (JWKs) plex.tv signs Plex JWTs with; Plex rotates them."""
        return self._send(_keys_call())

    def sign_out(self, token: str) -> None:
        """Revoke ``token`` at plex.tv (``DELETE /api/v2/users/signout``)."""
        self._send(_sign_out_call(token))

    def get_user(self, token: str) -> PlexUser:
        """The account a token belongs to; :class:`InvalidTokenError` if the token is bad."""
        return self._send(_user_call(token))

    def get_resources(
        self, token: str, *, include_https: bool = True, include_relay: bool = True, include_ipv6: bool = False
    ) -> list[PlexResource]:
        """The devices (servers, players) on the account, each with its connections."""
        return self._send(_resources_call(token, include_https, include_relay, include_ipv6))

    def close(self) -> None:
        self._http.close()

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    def __enter__(self) -> PlexTvClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncPlexTvClient(_ClientBase):
    """The asynchronous twin of :class:`PlexTvClient`; same methods, awaited."""

    _http: httpx.AsyncClient
    _http_class = httpx.AsyncClient

    async def _exchange(self, call: _Call[Any]) -> httpx.Response:
        request, transport = self._prepare(call)
        response = await transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def _send(self, call: _Call[_T]) -> _T:
        started = time.monotonic()
        try:
            response = await self._exchange(call)
        except httpx.HTTPError as exc:
            self._log(call, None, started)
            raise _transport_error(call, exc) from None
        self._log(call, response, started)
        return _interpret(call, response)

    async def create_pin(self, strong: bool = False, *, jwk: Mapping[str, str] | None = None) -> Pin:
        """Ask plex.tv for a new pin (``strong=True`` for the long code used in URLs).

        With ``jwk`` (a device's public key) the pin is for the JWT sign-in."""
        return await self._send(_create_pin_call(strong, jwk))

    async def check_pin(self, pin_id: int, *, device_jwt: str | None = None) -> Pin:
        """Read a pin again; with ``device_jwt`` its ``auth_token`` is a Plex JWT once approved."""
        return await self._send(_check_pin_call(pin_id, device_jwt))

    async def get_nonce(self) -> str:
        """A one-use nonce (valid 5 minutes) for a device JWT that asks for a new Plex JWT."""
        return await self._send(_nonce_call())

    async def exchange_token(self, device_jwt: str) -> str:
        """A new Plex JWT for a device JWT that carries a nonce (not verified here)."""
        return await self._send(_token_call(device_jwt))

    async def get_signing_keys(self) -> list[dict[str, Any]]:
        """The public keys (JWKs) plex.tv signs Plex JWTs with; Plex rotates them."""
        return await self._send(_keys_call())

    async def sign_out(self, token: str) -> None:
        """Revoke ``token`` at plex.tv (``DELETE /api/v2/users/signout``)."""
        await self._send(_sign_out_call(token))

    async def get_user(self, token: str) -> PlexUser:
        """The account a token belongs to; :class:`InvalidTokenError` if the token is bad."""
        return await self._send(_user_call(token))

    async def get_resources(
        self, token: str, *, include_https: bool = True, include_relay: bool = True, include_ipv6: bool = False
    ) -> list[PlexResource]:
        """The devices (servers, players) on the account, each with its connections."""
        return await self._send(_resources_call(token, include_https, include_relay, include_ipv6))

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    async def __aenter__(self) -> AsyncPlexTvClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

