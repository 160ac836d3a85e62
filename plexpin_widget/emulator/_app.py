"""The emulator's public face: :class:`PlexTvEmulator`, a request -> response core with test hooks.

It adds to plex.tv's behaviour (``_api.PlexTv``) what tests need around it: a movable clock,
injected faults, an optional per-client rate limit, a request log, auto-claims and hooks to
claim pins, add accounts and revoke tokens. Everything is guarded by one lock, so the loopback
server's thread and a test's thread can use the same emulator.
"""

from __future__ import annotations

import collections
import dataclasses
import http
import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from plexpin_widget._models import Connection, Pin, PlexResource

from . import _hooks
from ._api import PlexTv
from ._faults import RATE_LIMIT_CODE, Fault, Faults
from ._jwt_state import DEFAULT_JWT_LIFETIME
from ._messages import JSON_TYPE, EmulatorRequest, EmulatorResponse, error_response
from ._state import Clock, PinRecord

if TYPE_CHECKING:
    from ._transport import EmulatorTransport

__all__ = ["LoggedRequest", "PlexTvEmulator"]

logger = logging.getLogger("plexpin_widget.emulator")

# Neither JSON nor XML: an HTML error page cut off mid-way, as a confused proxy might send.
_MALFORMED_BODY = b"<html><body><h1>Temporarily unavailable</h1><p>Please try again {"


@dataclasses.dataclass(frozen=True)
class LoggedRequest:
    """One request the emulator answered (test hooks under ``/__emulator__/`` are not logged).

    ``at`` is :func:`time.monotonic` and ``wall`` :func:`time.time` when it arrived; ``status``
    is ``None`` when a "drop" fault closed the connection instead; ``retry_after`` is the
    ``Retry-After`` that was sent, in seconds; ``fault`` the kind of injected fault, if any.
    """

    at: float
    wall: float
    method: str
    path: str
    status: int | None
    client_identifier: str | None
    retry_after: float | None = None
    fault: str | None = None


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


#: Plex's code for "too many requests", seen when minting JWTs (reference §2.9).
NONCE_RATE_LIMIT_CODE = 1003


def _check_rate_limit(name: str, value: tuple[int, float] | None) -> tuple[int, float] | None:
    if value is None:
        return None
    max_requests, per_seconds = value
    if int(max_requests) < 1 or not float(per_seconds) > 0:
        raise ValueError(f"{name} must be (max_requests >= 1, per_seconds > 0)")
    return int(max_requests), float(per_seconds)


def _over_limit(
    windows: dict[str | None, collections.deque[float]], limit: tuple[int, float], client: str | None, now: float
) -> int | None:
    """Seconds to wait when ``client`` is over ``limit`` (``None``: let it through, and count it)."""
    most, per = limit
    window = windows.setdefault(client, collections.deque())
    while window and window[0] <= now - per:
        window.popleft()
    if len(window) >= most:
        # Refused requests do not count, so a client that waits Retry-After gets through.
        return max(1, math.ceil(window[0] + per - now))
    window.append(now)
    return None


def _check_lifetime(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of seconds >= 1, not {value!r}")
    return value


class PlexTvEmulator:
    """A local stand-in for the parts of plex.tv a PIN login touches.

    ``short_lifetime``/``strong_lifetime`` are the pin lifetimes in seconds; ``rate_limit``
    ``(max_requests, per_seconds)`` answers 429 to a client identifier sending more than that
    many ``/api/`` requests within ``per_seconds``; ``public_url`` is the base of each pin's
    ``qr`` link (default: whatever host the request used); ``clock`` lets several emulators
    share one :class:`Clock`; ``username`` names the demo account that approves pins;
    ``jwt_lifetime`` is the lifetime in seconds of the Plex JWTs it issues (7 days);
    ``nonce_rate_limit`` ``(max_requests, per_seconds)`` answers ``/api/v2/auth/nonce`` with
    429 (Plex code 1003, ``Retry-After``) past that many nonces per client identifier.

    Serve it with :meth:`transport` (in-process httpx) or ``EmulatorServer`` (loopback HTTP).
    """

    def __init__(
        self,
        *,
        short_lifetime: int = 900,
        strong_lifetime: int = 1800,
        rate_limit: tuple[int, float] | None = None,
        public_url: str | None = None,
        clock: Clock | None = None,
        username: str = "demo",
        log_limit: int = 100_000,
        jwt_lifetime: int = DEFAULT_JWT_LIFETIME,
        nonce_rate_limit: tuple[int, float] | None = None,
    ) -> None:
        self._clock: Clock = clock if clock is not None else Clock()
        self.faults: Faults = Faults()
        self.rate_limit = _check_rate_limit("rate_limit", rate_limit)
        self.nonce_rate_limit = _check_rate_limit("nonce_rate_limit", nonce_rate_limit)
        self._lock = threading.RLock()
        self._core = PlexTv(
            clock=self._clock,
            short_lifetime=_check_lifetime("short_lifetime", short_lifetime),
            strong_lifetime=_check_lifetime("strong_lifetime", strong_lifetime),
            public_url=public_url,
            username=username,
            jwt_lifetime=_check_lifetime("jwt_lifetime", jwt_lifetime),
        )
        self._log: collections.deque[LoggedRequest] = collections.deque(maxlen=log_limit)
        self._log_by_client: dict[str | None, collections.deque[LoggedRequest]] = {}
        self._log_limit = log_limit
        self._windows: dict[str | None, collections.deque[float]] = {}
        self._nonce_windows: dict[str | None, collections.deque[float]] = {}

    def __repr__(self) -> str:
        return f"<PlexTvEmulator pins={len(self._core.pins)} username={self.username!r}>"

    @property
    def clock(self) -> Clock:
        """The clock pins expire by: ``emu.clock.advance(901)`` expires a short pin."""
        return self._clock

    # ------------------------------------------------------------------ serving

    def handle(self, request: EmulatorRequest) -> EmulatorResponse:
        """Answer one request. ``status, headers, body = emu.handle(request)``.

        The response may also ask its deliverer to wait (``delay``) or to hang up (``drop``).
        """
        if request.route_path.startswith("/__emulator__"):
            return _hooks.handle(self, request)
        at, wall = time.monotonic(), time.time()
        client = request.client_identifier
        with self._lock:
            now = self.clock.now()
            self._core.run_auto_claims(now)
            response = self._rate_limited(request, client, now)
            if response is None:
                response = self._respond(request, self.faults.take(request.method, request.path))
            if request.route_path.startswith("/api/"):
                # plex.tv lets browser apps (app.plex.tv, Overseerr...) call its API cross-origin.
                response.set_header("Access-Control-Allow-Origin", "*")
                response.set_header("Access-Control-Expose-Headers", "Retry-After")
            retry_after = response.header("Retry-After")
            entry = LoggedRequest(
                at=at,
                wall=wall,
                method=request.method,
                path=request.path,
                status=None if response.drop else response.status,
                client_identifier=client,
                retry_after=float(retry_after) if retry_after is not None else None,
                fault=response.fault,
            )
            self._log.append(entry)
            per_client = self._log_by_client.get(client)
            if per_client is None:
                per_client = self._log_by_client[client] = collections.deque(maxlen=self._log_limit)
            per_client.append(entry)
        return response

    def transport(self) -> EmulatorTransport:
        """An httpx transport (sync and async) that answers from this emulator, without sockets."""
        from ._transport import EmulatorTransport

        return EmulatorTransport(self)

    def _rate_limited(self, request: EmulatorRequest, client: str | None, now: float) -> EmulatorResponse | None:
        if not request.route_path.startswith("/api/"):
            return None
        if request.route_path == "/api/v2/auth/nonce" and self.nonce_rate_limit is not None:
            # plex.tv documents that nonce requests are rate-limited; the body follows CL's 1003 (§2.5).
            wait = _over_limit(self._nonce_windows, self.nonce_rate_limit, client, now)
            if wait is not None:
                return error_response(
                    request, 429, NONCE_RATE_LIMIT_CODE, "too many requests", headers=[("Retry-After", str(wait))]
                )
        if self.rate_limit is None:
            return None
        wait = _over_limit(self._windows, self.rate_limit, client, now)
        if wait is not None:
            return error_response(
                request, 429, RATE_LIMIT_CODE, "Too Many Requests", headers=[("Retry-After", str(wait))]
            )
        return None

    def _respond(self, request: EmulatorRequest, fault: Fault | None) -> EmulatorResponse:
        if fault is None or fault.kind in ("pass", "latency", "truncated"):
            response = self._dispatch(request)
            if fault is not None and fault.kind == "truncated":
                content_type = response.header("Content-Type") or JSON_TYPE
                half = response.body[: len(response.body) // 2]
                response = EmulatorResponse(200, [("Content-Type", content_type)], half)
        elif fault.kind == "status":
            message = fault.message or _reason(fault.status)
            response = error_response(request, fault.status, fault.code or fault.status, message)
        elif fault.kind == "rate_limit":
            wait = str(max(0, math.ceil(fault.retry_after if fault.retry_after is not None else 1)))
            message = fault.message or "Too Many Requests"
            response = error_response(
                request, 429, fault.code or RATE_LIMIT_CODE, message, headers=[("Retry-After", wait)]
            )
        elif fault.kind == "malformed":
            response = EmulatorResponse(200, [("Content-Type", JSON_TYPE)], _MALFORMED_BODY)
        else:  # "drop"
            response = EmulatorResponse(0, drop=True)
        if fault is not None:
            if fault.retry_after is not None and fault.kind != "rate_limit":
                response.set_header("Retry-After", str(max(0, math.ceil(fault.retry_after))))
            response.delay = fault.delay
            response.fault = fault.kind
        return response

    def _dispatch(self, request: EmulatorRequest) -> EmulatorResponse:
        try:
            return self._core.dispatch(request)
        except Exception as exc:  # the server must outlive a bug in one handler
            logger.exception("emulator handler failed for %s %s", request.method, request.path)
            return error_response(request, 500, None, f"emulator error: {type(exc).__name__}")

    # ------------------------------------------------------------------ state for tests

    @property
    def username(self) -> str:
        """The demo account's username (the account that approves pins)."""
        return self._core.demo.username

    @property
    def demo_token(self) -> str:
        """The demo account's token: what claimed pins carry unless told otherwise."""
        return self._core.demo.token

    @property
    def pins(self) -> dict[int, Pin]:
        """Every pin created since the last reset, by id, as plex.tv would show it now."""
        with self._lock:
            now = self.clock.now()
            self._core.run_auto_claims(now)
            return {r.id: r.to_model(now) for r in self._core.pins.records()}

    def approval_url(self, code: str, base_url: str = "http://127.0.0.1") -> str:
        """The page a person would open to approve ``code`` (``/link/?pin=`` or ``/auth#?``)."""
        with self._lock:
            return self._core.approval_url(self._core.public_url or base_url.rstrip("/"), code)

    def claim(self, pin_id: int | None = None, code: str | None = None, token: str | None = None) -> str:
        """Approve a pin as if its person said yes; returns the token the pin now carries.

        Name the pin by ``pin_id`` or ``code``; with neither, the newest unclaimed live pin is
        taken. ``token`` picks the approving account (default: the demo account) and is the
        token handed out. A pin created with a device key (JWK) hands out a Plex JWT instead,
        on the first poll with a valid ``deviceJWT`` (see :meth:`issued_jwts`); the token
        returned is then the approving account's classic one, which that pin never shows.
        Raises :class:`LookupError` for an unknown or expired pin and
        :class:`ValueError` for a token that is not an active account's.
        """
        return self.claim_pin(pin_id, code, token)[1]

    def claim_pin(
        self, pin_id: int | None = None, code: str | None = None, token: str | None = None
    ) -> tuple[int, str]:
        """Like :meth:`claim`, returning ``(pin_id, token)``."""
        with self._lock:
            now = self.clock.now()
            record = self._find_pin(pin_id, code, now)
            if record.expired(now):
                raise LookupError(f"pin {record.id} has expired")
            token = token or self._core.demo.token
            account, revoked = self._core.accounts.find(token)
            if account is None or revoked:
                raise ValueError("token is not an active account token of this emulator")
            self._core.claim_record(record, token)
            return record.id, token

    def _find_pin(self, pin_id: int | None, code: str | None, now: float) -> PinRecord:
        if pin_id is None and code is None:
            waiting = [r for r in self._core.pins.records() if not r.auth_token and not r.expired(now)]
            if not waiting:
                raise LookupError("no unclaimed pin is waiting")
            return max(waiting, key=lambda r: r.created)
        record = self._core.pins.get(int(pin_id)) if pin_id is not None else self._core.pins.by_code(str(code))
        if record is None or (code is not None and pin_id is not None and record.code != code):
            raise LookupError(f"no pin with id={pin_id!r} code={code!r}")
        return record

    def auto_claim(self, delay: float | None) -> None:
        """Claim every pin created from now on ``delay`` emulator-clock seconds after its creation.

        ``None`` turns it off and cancels pending auto-claims. Checked on each request (and
        when :attr:`pins` is read), so no timer runs in the background.
        """
        if delay is not None and (not math.isfinite(float(delay)) or float(delay) < 0):
            raise ValueError("delay must be None or a number of seconds >= 0")
        with self._lock:
            self._core.auto_claim_delay = None if delay is None else float(delay)
            if delay is None:
                self._core.pins.cancel_auto_claims()

    def request_log(self, client_identifier: str | None = None) -> list[LoggedRequest]:
        """Answered requests, oldest first; only those of ``client_identifier`` if given."""
        with self._lock:
            if client_identifier is None:
                return list(self._log)
            return list(self._log_by_client.get(client_identifier, ()))

    def add_account(self, username: str, *, token: str | None = None, **fields: Any) -> str:
        """Create another account and return its token.

        ``fields`` override ``/api/v2/user`` values (snake_case or camelCase keys; dicts such
        as ``subscription={"active": False}`` are merged). ``token`` picks the token.
        """
        with self._lock:
            return self._core.accounts.create(username, self.clock.now(), token=token, **fields).token

    def revoke(self, token: str) -> None:
        """De-authorise ``token``: ``/api/v2/user`` then answers 422 "Invalid token"."""
        with self._lock:
            self._core.accounts.revoke(token)

    def add_resource(self, token: str, resource: PlexResource) -> None:
        """Add a device to the resources of the account that owns ``token``."""
        with self._lock:
            account, _ = self._core.accounts.find(token)
            if account is None:
                raise KeyError("unknown token")
            account.resources.append(resource)

    def publish_connection(self, client_identifier: str, connection: Connection) -> None:
        """List ``connection`` first among the connections of the server ``client_identifier``
        (in every account that has it, and across :meth:`reset`); the media server stand-in
        calls this with the address it really listens on."""
        with self._lock:
            self._core.publish_connection(client_identifier, connection)

    def owns_server(self, token: str, client_identifier: str) -> bool:
        """Whether ``token`` is a live account token or Plex JWT whose account owns that server."""
        with self._lock:
            issued = self._core.jwt.issued_jwt(token)
            if issued is not None:
                live = not issued.revoked and not issued.is_expired(self.clock.now())
                account, revoked = (issued.account, False) if live else (None, False)
            else:
                account, revoked = self._core.accounts.find(token)
            if account is None or revoked:
                return False
            return any(r.client_identifier == client_identifier and r.owned for r in account.resources)

    def resources(self, token: str | None = None) -> list[PlexResource]:
        """The resources of the account owning ``token`` (default: the demo account)."""
        with self._lock:
            account, _ = self._core.accounts.find(token or self._core.demo.token)
            if account is None:
                raise KeyError("unknown token")
            return list(account.resources)

    # ------------------------------------------------------------------ JWT sign-in

    @property
    def jwt_lifetime(self) -> int:
        """Lifetime in seconds of the Plex JWTs issued from now on (settable; 7 days by default)."""
        return self._core.jwt_authority.lifetime

    @jwt_lifetime.setter
    def jwt_lifetime(self, seconds: int) -> None:
        with self._lock:
            self._core.jwt_authority.lifetime = _check_lifetime("jwt_lifetime", seconds)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """What ``GET /api/v2/auth/keys`` answers: ``{"keys": [...]}``, the signing key last."""
        with self._lock:
            return self._core.jwt_authority.jwks()

    def rotate_signing_key(self, keep: int = 2) -> str:
        """Sign new Plex JWTs with a fresh key, published last; keep ``keep`` keys in all. Returns its kid.

        JWTs signed by a key that is no longer published still work on the emulator's own
        endpoints but fail a client's check against ``/api/v2/auth/keys``.
        """
        with self._lock:
            return self._core.jwt_authority.rotate(keep)

    def devices(self) -> dict[str, dict[str, Any]]:
        """Registered device keys by client identifier: ``{"kid", "jwk", "username"}`` (username
        ``None`` until a pin created with the key is approved)."""
        with self._lock:
            return {
                client: {
                    "kid": device.kid,
                    "jwk": dict(device.jwk),
                    "username": device.account.username if device.account is not None else None,
                }
                for client, device in self._core.jwt_authority.devices.items()
            }

    def remove_device(self, client_identifier: str, *, revoke_tokens: bool = True) -> None:
        """Remove a device as under Authorized Devices: its key is dropped, so a refresh gets
        Plex error 1097; with ``revoke_tokens`` its JWTs also stop working (401).
        :class:`KeyError` for a client identifier with no registered key."""
        with self._lock:
            self._core.jwt_authority.remove_device(client_identifier, revoke_tokens=revoke_tokens)

    def expire_jwts(self, client_identifier: str | None = None) -> int:
        """Make issued Plex JWTs (all, or one client's) answer 498 "Token Expired"; returns how many.

        Their ``exp`` claim is unchanged: this is the server changing its mind, as when its
        clock runs ahead. ``clock.advance(jwt_lifetime)`` expires them the ordinary way.
        """
        with self._lock:
            return self._core.jwt_authority.expire(client_identifier)

    def issued_jwts(self, client_identifier: str | None = None) -> list[str]:
        """Every Plex JWT handed out (to ``client_identifier``, if given), oldest first."""
        with self._lock:
            return [
                issued.token
                for issued in self._core.jwt_authority.issued.values()
                if client_identifier is None or issued.client_identifier == client_identifier
            ]

    def reset(self) -> None:
        """Back to a fresh emulator: no pins, faults, log, rate-limit history, auto-claim or
        clock offset, and only the demo account (same username and token) with its server.
        Device keys and issued JWTs are forgotten; the signing keys stay."""
        with self._lock:
            self._core.reset()
            self.faults.clear()
            self._log.clear()
            self._log_by_client.clear()
            self._windows.clear()
            self._nonce_windows.clear()
            reset_clock = getattr(self.clock, "reset", None)
            if callable(reset_clock):
                reset_clock()
