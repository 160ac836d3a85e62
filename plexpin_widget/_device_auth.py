"""The JWT sign-in's requests, written once for both drivers: the device key and its steps.

A JWT login holds an Ed25519 device key for its client identifier (made once per process, or
read back from where ``remember=True`` kept it). Each step the flow asks for takes one to four
requests: sign a device JWT, fetch a nonce, exchange it, check the answer against plex.tv's
keys (fetched once and cached; fetched again once when a token names a key the cache does not
hold, since Plex rotates them). Those sequences are generators that *yield* the client call
they need and receive its result, so the asyncio driver and the blocking driver run the very
same code with :func:`run_steps` and :func:`arun_steps`.

Nothing here logs or raises a token or a key: errors name the step and the check that failed.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import threading
import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from ._errors import JwtVerificationError
from ._jwk import DeviceKey, require_jwt, unverified_header, verify_plex_jwt
from ._models import IssuedToken, Pin

__all__ = [
    "AsyncDeviceClient",
    "ClientCall",
    "DeviceAuth",
    "DeviceClient",
    "JwtPin",
    "JwtRefresh",
    "Steps",
    "arun_steps",
    "forget_device_key",
    "run_steps",
]

_T = TypeVar("_T")
_UTC = _dt.timezone.utc


@dataclasses.dataclass(frozen=True)
class ClientCall:
    """One call of a :class:`~plexpin_widget._client.PlexTvClient` method, by name."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)


Steps = Generator[ClientCall, Any, _T]


def _advance(steps: Steps[_T], result: Any, error: BaseException | None) -> tuple[ClientCall | None, Any]:
    """Feed ``steps`` the last call's result (or throw its error in): the next call, or
    ``None`` and the steps' value once they are done."""
    try:
        return (steps.throw(error) if error is not None else steps.send(result)), None
    except StopIteration as done:
        return None, done.value


def run_steps(steps: Steps[_T], client: Any) -> _T:
    """Carry out ``steps`` with a blocking client; a failed call is thrown into the steps."""
    call, value = _advance(steps, None, None)
    while call is not None:
        try:
            result, error = getattr(client, call.method)(*call.args, **call.kwargs), None
        except Exception as exc:
            result, error = None, exc
        call, value = _advance(steps, result, error)
    return value  # type: ignore[no-any-return]


async def arun_steps(steps: Steps[_T], client: Any) -> _T:
    """Like :func:`run_steps`, with an asyncio client."""
    call, value = _advance(steps, None, None)
    while call is not None:
        try:
            result, error = await getattr(client, call.method)(*call.args, **call.kwargs), None
        except Exception as exc:
            result, error = None, exc
        call, value = _advance(steps, result, error)
    return value  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- process-wide state

_lock = threading.Lock()
# One device key per client identifier and base URL in this process ("made once").
_device_keys: dict[tuple[str, str], DeviceKey] = {}
# plex.tv's signing keys per base URL: the same for every login, so fetched once per process.
_signing_keys: dict[str, list[dict[str, Any]]] = {}


def forget_device_key(client_identifier: str, base_url: str) -> None:
    """Drop this process's device key for the identifier (after sign-out or a refusal)."""
    with _lock:
        _device_keys.pop((client_identifier, base_url.rstrip("/")), None)


def _forget_process_state() -> None:
    """As if this were a new process: no device key in memory, plex.tv's keys not cached (for tests)."""
    with _lock:
        _device_keys.clear()
        _signing_keys.clear()


def _utc(seconds: Any) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(float(seconds), _UTC)


class DeviceAuth:
    """The device key of one client identifier, and the steps that sign in and refresh with it.

    ``clock`` is the wall clock (epoch seconds) used to sign device JWTs and check Plex JWTs.
    """

    def __init__(
        self,
        client_identifier: str,
        base_url: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        require_jwt()  # jwt=True without PyJWT/cryptography fails here, naming the extra
        self.client_identifier = client_identifier
        self.base_url = base_url.rstrip("/")
        self._clock = clock

    # ----------------------------------------------------------------- the key

    @property
    def key(self) -> DeviceKey:
        """This identifier's device key, made on first use."""
        with _lock:
            slot = (self.client_identifier, self.base_url)
            key = _device_keys.get(slot)
            if key is None:
                key = _device_keys[slot] = DeviceKey.generate()
            return key

    @property
    def current_key(self) -> DeviceKey | None:
        """The key if one was made or loaded already (never makes one)."""
        with _lock:
            return _device_keys.get((self.client_identifier, self.base_url))

    def use_key(self, key: DeviceKey) -> None:
        """Sign with ``key`` from now on (one read back from where it was remembered)."""
        with _lock:
            _device_keys[(self.client_identifier, self.base_url)] = key

    def new_key(self) -> DeviceKey:
        """Replace the key (plex.tv refused the old one) and return the new one."""
        forget_device_key(self.client_identifier, self.base_url)
        return self.key

    def forget(self) -> None:
        """Drop the key from this process."""
        forget_device_key(self.client_identifier, self.base_url)

    def _device_jwt(self, nonce: str | None = None) -> str:
        return self.key.sign_device_jwt(self.client_identifier, now=self._clock(), nonce=nonce)

    # ----------------------------------------------------------------- steps

    def create_pin(self, strong: bool, *, fresh_key: bool = False) -> Steps[Pin]:
        """A pin that carries the public JWK (a new key first, when ``fresh_key``)."""
        key = self.new_key() if fresh_key else self.key
        pin: Pin = yield ClientCall("create_pin", (strong,), {"jwk": key.public_jwk})
        return pin

    def check_pin(self, pin_id: int) -> Steps[tuple[Pin, IssuedToken | None]]:
        """The pin, and once it is approved the verified Plex JWT it carries."""
        pin: Pin = yield ClientCall("check_pin", (pin_id,), {"device_jwt": self._device_jwt()})
        if not pin.auth_token:
            return pin, None
        issued = yield from self.verify(pin.auth_token)
        return pin, issued

    def refresh(self) -> Steps[IssuedToken]:
        """A new, verified Plex JWT: a nonce, a device JWT carrying it, the exchange."""
        nonce: str = yield ClientCall("get_nonce")
        token: str = yield ClientCall("exchange_token", (self._device_jwt(nonce),))
        return (yield from self.verify(token))

    def verify(self, token: str) -> Steps[IssuedToken]:
        """``token`` checked against plex.tv's keys: cached, and fetched again once if the
        token names a key the cache does not hold (Plex rotates its keys)."""
        kid = unverified_header(token).get("kid")
        with _lock:
            keys = _signing_keys.get(self.base_url)
        fetched = False
        if keys is None or (kid is not None and kid not in {k.get("kid") for k in keys}):
            keys = yield ClientCall("get_signing_keys")
            fetched = True
            with _lock:
                _signing_keys[self.base_url] = keys
        try:
            claims = self._check(token, keys)
        except JwtVerificationError:
            if fetched:
                raise
            # A cached set may be missing a key that replaced one under the same kid.
            keys = yield ClientCall("get_signing_keys")
            with _lock:
                _signing_keys[self.base_url] = keys
            claims = self._check(token, keys)
        return IssuedToken(token=token, issued_at=_utc(claims["iat"]), expires_at=_utc(claims["exp"]))

    def _check(self, token: str, keys: list[dict[str, Any]]) -> dict[str, Any]:
        return verify_plex_jwt(
            token, keys, client_identifier=self.client_identifier, kid=self.key.kid, now=self._clock()
        )

    def seconds_left(self, issued: IssuedToken) -> float:
        """What the wall clock says is left of ``issued``."""
        return issued.expires_at.timestamp() - self._clock()

    def __repr__(self) -> str:
        return f"DeviceAuth(client_identifier={self.client_identifier!r}, base_url={self.base_url!r})"


# --------------------------------------------------------------------------- what the drivers call


@dataclasses.dataclass(frozen=True)
class JwtPin:
    """A pin read with the device key; ``issued`` is its verified Plex JWT once approved, and
    ``expires_in`` what the wall clock said was left of it on arrival."""

    pin: Pin
    issued: IssuedToken | None = None
    expires_in: float | None = None


@dataclasses.dataclass(frozen=True)
class JwtRefresh:
    """A new, verified Plex JWT from a refresh, and what the wall clock said was left of it."""

    issued: IssuedToken
    expires_in: float


class DeviceClient:
    """A blocking plex.tv client for a JWT login: the pin calls and ``refresh_token`` run the
    device-key steps; everything else (``get_user``, ``close``…) is the wrapped client's."""

    def __init__(self, client: Any, device: DeviceAuth) -> None:
        self._client = client
        self._device = device

    def create_pin(self, strong: bool = False, *, fresh_key: bool = False) -> Pin:
        return run_steps(self._device.create_pin(strong, fresh_key=fresh_key), self._client)

    def check_pin(self, pin_id: int) -> JwtPin:
        pin, issued = run_steps(self._device.check_pin(pin_id), self._client)
        return _jwt_pin(self._device, pin, issued)

    def refresh_token(self) -> JwtRefresh:
        issued = run_steps(self._device.refresh(), self._client)
        return JwtRefresh(issued, self._device.seconds_left(issued))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class AsyncDeviceClient:
    """The asyncio twin of :class:`DeviceClient`."""

    def __init__(self, client: Any, device: DeviceAuth) -> None:
        self._client = client
        self._device = device

    async def create_pin(self, strong: bool = False, *, fresh_key: bool = False) -> Pin:
        return await arun_steps(self._device.create_pin(strong, fresh_key=fresh_key), self._client)

    async def check_pin(self, pin_id: int) -> JwtPin:
        pin, issued = await arun_steps(self._device.check_pin(pin_id), self._client)
        return _jwt_pin(self._device, pin, issued)

    async def refresh_token(self) -> JwtRefresh:
        issued = await arun_steps(self._device.refresh(), self._client)
        return JwtRefresh(issued, self._device.seconds_left(issued))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _jwt_pin(device: DeviceAuth, pin: Pin, issued: IssuedToken | None) -> JwtPin:
    return JwtPin(pin, issued, device.seconds_left(issued) if issued is not None else None)
