"""plex.tv's JWT side, as state: device keys, nonces, the Plex JWTs it issued and its signing keys.

A *device* is a client identifier with a registered public JWK and the account it acts for
(set when a pin created with that JWK is approved, or by ``/api/v2/auth/jwk``). The emulator
signs Plex JWTs with its own Ed25519 keys, made on first use so that the emulator runs without
the ``jwt`` extra until a JWT endpoint is called. Every time is the emulator clock's.

Nothing here is thread-safe on its own; :class:`PlexTvEmulator` holds one lock around it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from plexpin_widget import _jwk

if TYPE_CHECKING:
    from ._accounts import Account

__all__ = ["DEFAULT_JWT_LIFETIME", "NONCE_LIFETIME", "Device", "IssuedJwt", "JwtAuthority", "looks_like_jwt"]

#: Seven days, as plex.tv issues them.
DEFAULT_JWT_LIFETIME = 7 * 86_400
#: "valid for 5 minutes" (reference §2.5).
NONCE_LIFETIME = 300
# Claims of the Plex JWT's "user" object, by the scope name that asks for them (§4).
_SCOPED_USER_FIELDS = {
    "email": "email",
    "friendly_name": "friendlyName",
    "restricted": "restricted",
    "anonymous": "anonymous",
    "joinedAt": "joinedAt",
}


def looks_like_jwt(token: str | None) -> bool:
    """Three dot-separated parts: a JWT, not a classic 20-character token."""
    return bool(token) and token.count(".") == 2  # type: ignore[union-attr]


@dataclasses.dataclass
class Device:
    """A client identifier's registered key and the account it signs in as (``None``: not yet)."""

    client_identifier: str
    jwk: dict[str, Any]
    account: Account | None = None
    #: The classic token a key was registered with (``/api/v2/auth/jwk``): it dies with the first JWT.
    legacy_token: str | None = None

    @property
    def kid(self) -> str:
        return str(self.jwk["kid"])


@dataclasses.dataclass
class IssuedJwt:
    """A Plex JWT the emulator handed out. ``expired``/``revoked`` are set by hooks and sign-out."""

    token: str
    account: Account
    client_identifier: str
    kid: str
    issued_at: int
    expires_at: int
    revoked: bool = False
    expired: bool = False

    def is_expired(self, now: float) -> bool:
        return self.expired or now >= self.expires_at


class JwtAuthority:
    """Devices by client identifier, nonces, issued JWTs and the signing key set."""

    def __init__(self, *, lifetime: int = DEFAULT_JWT_LIFETIME) -> None:
        self.lifetime = lifetime
        self.devices: dict[str, Device] = {}
        self.issued: dict[str, IssuedJwt] = {}
        self._nonces: dict[str, tuple[str, float]] = {}
        self._signing_keys: list[_jwk.DeviceKey] = []

    def clear(self) -> None:
        """Forget devices, nonces and issued JWTs; the signing keys stay (clients may cache them)."""
        self.devices.clear()
        self.issued.clear()
        self._nonces.clear()

    # ------------------------------------------------------------------ signing keys

    def _keys(self) -> list[_jwk.DeviceKey]:
        if not self._signing_keys:
            self._signing_keys.append(_jwk.DeviceKey.generate())
        return self._signing_keys

    @property
    def signing_key(self) -> _jwk.DeviceKey:
        """The key new JWTs are signed with: the last of the published set."""
        return self._keys()[-1]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The ``/api/v2/auth/keys`` body; the newest key is last, as python-plexapi expects."""
        return {"keys": [key.public_jwk for key in self._keys()]}

    def rotate(self, keep: int = 2) -> str:
        """Sign with a new key from now on; publish it with up to ``keep - 1`` older ones. Returns its kid."""
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be a whole number >= 1, not {keep!r}")
        keys = self._keys()
        keys.append(_jwk.DeviceKey.generate())
        del keys[: max(0, len(keys) - keep)]
        return keys[-1].kid

    # ------------------------------------------------------------------ devices

    def kid_taken(self, kid: str, client_identifier: str) -> bool:
        """Whether another client identifier already registered ``kid`` ("Thumbprint Already Taken")."""
        return any(d.kid == kid and d.client_identifier != client_identifier for d in self.devices.values())

    def register(
        self, client_identifier: str, jwk: Mapping[str, Any], account: Account | None, *, legacy_token: str | None = None
    ) -> Device:
        device = Device(client_identifier, dict(jwk), account, legacy_token)
        self.devices[client_identifier] = device
        return device

    def remove_device(self, client_identifier: str, *, revoke_tokens: bool = True) -> None:
        """As if the user removed the device under Authorized Devices: its key is gone (refresh: 1097)."""
        if self.devices.pop(client_identifier, None) is None:
            raise KeyError(f"no device with client identifier {client_identifier!r}")
        if revoke_tokens:
            for issued in self.issued.values():
                if issued.client_identifier == client_identifier:
                    issued.revoked = True

    # ------------------------------------------------------------------ nonces

    def new_nonce(self, client_identifier: str, now: float) -> str:
        for stale in [n for n, (_, expires) in self._nonces.items() if expires <= now]:
            del self._nonces[stale]
        nonce = str(uuid.uuid4())
        self._nonces[nonce] = (client_identifier, now + NONCE_LIFETIME)
        return nonce

    def take_nonce(self, nonce: Any, client_identifier: str, now: float) -> bool:
        """Use ``nonce`` up: True once for a live nonce issued to ``client_identifier``."""
        if not isinstance(nonce, str):
            return False
        entry = self._nonces.pop(nonce, None)
        return entry is not None and entry[0] == client_identifier and now < entry[1]

    # ------------------------------------------------------------------ Plex JWTs

    def issue(self, device: Device, account: Account, *, scope: str, now: float) -> str:
        """A new Plex JWT for ``account`` bound to ``device``'s kid (its ``thumbprint``)."""
        issued_at = int(now)  # never in the future: python-plexapi allows no leeway
        expires_at = issued_at + self.lifetime
        scope = scope if isinstance(scope, str) else ""  # from a request body: anything may come
        scopes = {part.strip() for part in scope.split(",")}
        user: dict[str, Any] = {"id": account.id, "uuid": account.uuid, "username": account.username}
        profile = account.user_json("")
        for name, field in _SCOPED_USER_FIELDS.items():
            if name in scopes:
                user[field] = profile.get(field)
        claims = {
            "iss": _jwk.PLEX_ISSUER,
            "aud": [_jwk.PLEX_ISSUER, device.client_identifier],
            "iat": issued_at,
            "exp": expires_at,
            # EdDSA is deterministic: without a unique id, two refreshes in one second would match.
            "jti": str(uuid.uuid4()),
            "thumbprint": device.kid,
            "user": user,
            "scope": scope,
        }
        token = self.signing_key.sign(claims)
        self.issued[token] = IssuedJwt(token, account, device.client_identifier, device.kid, issued_at, expires_at)
        return token

    def expire(self, client_identifier: str | None = None) -> int:
        """Make issued JWTs (all, or one client's) answer 498 from now on; returns how many."""
        count = 0
        for issued in self.issued.values():
            if client_identifier is None or issued.client_identifier == client_identifier:
                issued.expired = True
                count += 1
        return count
