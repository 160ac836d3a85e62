"""Ed25519 keys, JWKs and JWTs for Plex's JWT sign-in, shared by the client and the emulator.

Plex's JWT sign-in binds a login to a device key: the app makes an Ed25519 key pair, sends
the public half as a JWK (``kty: OKP, crv: Ed25519``) and proves it holds the private half
by signing short "device JWTs". plex.tv answers with its own EdDSA-signed JWT, which the
client checks against the keys plex.tv publishes at ``/api/v2/auth/keys``.

This module sits at the models' floor: it imports nothing from the package but ``_errors``,
so the client and the emulator can both use it. PyJWT and cryptography are optional (the
``jwt`` extra) and imported on first use; without them every function here raises
:class:`~plexpin_widget.JwtUnavailableError`, and ``import plexpin_widget`` still works.

Times are epoch seconds and are always passed in by the caller (``now=``), so a login and
the emulator can run on a test clock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError, JwtUnavailableError, JwtVerificationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# The errors this module raises are re-exported so the emulator, which may import only the
# models and this module, can catch them.
__all__ = [
    "ConfigurationError",
    "JwtUnavailableError",
    "JwtVerificationError",
    "DEFAULT_SCOPE",
    "DEVICE_JWT_LIFETIME",
    "PLEX_ISSUER",
    "PLEX_JWT_LEEWAY",
    "DeviceKey",
    "jwk_thumbprint",
    "jwt_available",
    "public_key_from_jwk",
    "require_jwt",
    "sign_jwt",
    "unverified_claims",
    "unverified_header",
    "verify_device_jwt",
    "verify_jwt",
    "verify_plex_jwt",
]

#: ``iss`` of every Plex JWT and ``aud`` of every device JWT.
PLEX_ISSUER = "plex.tv"
#: The user fields a Plex JWT should carry (python-plexapi asks for the same six).
DEFAULT_SCOPE = "username,email,friendly_name,restricted,anonymous,joinedAt"
#: Lifetime of a device JWT: plex.tv's nonce lives 5 minutes, so longer buys nothing.
DEVICE_JWT_LIFETIME = 300
#: Clock skew allowed when checking a Plex JWT's ``iat``/``exp`` (plex.tv's clock drifts).
PLEX_JWT_LEEWAY = 60.0
_ALGORITHM = "EdDSA"


def jwt_available() -> bool:
    """Whether PyJWT and cryptography can be imported (the ``jwt`` extra is installed)."""
    try:
        require_jwt()
    except JwtUnavailableError:
        return False
    return True


def require_jwt() -> None:
    """Raise :class:`JwtUnavailableError`, naming the extra, unless PyJWT and cryptography import."""
    try:
        import cryptography.hazmat.primitives.asymmetric.ed25519  # noqa: F401
    except ImportError:
        raise JwtUnavailableError("cryptography") from None
    try:
        import jwt  # noqa: F401
    except ImportError:
        raise JwtUnavailableError("PyJWT") from None


def _jwt_module() -> Any:
    require_jwt()
    import jwt

    return jwt


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of an OKP public JWK, base64url without padding (43 chars)."""
    for member in ("crv", "kty", "x"):
        if not isinstance(jwk.get(member), str):
            raise ConfigurationError("jwk", f"an OKP JWK needs a string {member!r} member")
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_key_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey:
    """The Ed25519 public key of a JWK; :class:`ConfigurationError` when it is not one."""
    require_jwt()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not isinstance(jwk, Mapping):
        raise ConfigurationError("jwk", "a JWK must be a JSON object")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ConfigurationError("jwk", "only Ed25519 keys (kty 'OKP', crv 'Ed25519') are supported")
    x = jwk.get("x")
    try:
        raw = _b64url_decode(x) if isinstance(x, str) else b""
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 32:
        raise ConfigurationError("jwk", "'x' must be the base64url of a 32-byte Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw)


class DeviceKey:
    """An Ed25519 key pair with its ``kid``: a device's long-term credential, or a signing key.

    The private bytes never appear in ``repr`` and the object refuses to be pickled; store
    it with :meth:`to_pem` or :meth:`to_jwk_bytes` and read it back with :meth:`load`.
    ``kid`` defaults to the RFC 7638 thumbprint of the public key; plex.tv treats it as an
    opaque label and echoes it as the Plex JWT's ``thumbprint`` claim.
    """

    __slots__ = ("_private", "_public_raw", "kid")

    def __init__(self, private_key: Ed25519PrivateKey, *, kid: str | None = None) -> None:
        require_jwt()
        from cryptography.hazmat.primitives import serialization

        self._private = private_key
        self._public_raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > 256):
            raise ConfigurationError("kid", "a key id must be a non-empty string of at most 256 characters")
        self.kid: str = kid if kid is not None else jwk_thumbprint(self._thumbprint_members())

    # ------------------------------------------------------------------ making and storing

    @classmethod
    def generate(cls, *, kid: str | None = None) -> DeviceKey:
        """A fresh random key pair."""
        require_jwt()
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate(), kid=kid)

    def to_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (the ``kid`` is not kept; see :meth:`to_jwk_bytes`)."""
        from cryptography.hazmat.primitives import serialization

        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def to_jwk_bytes(self) -> bytes:
        """The private key as a JSON private JWK (with ``d`` and ``kid``), UTF-8."""
        from cryptography.hazmat.primitives import serialization

        private_raw = self._private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return json.dumps({**self.public_jwk, "d": _b64url(private_raw)}, sort_keys=True).encode("utf-8")

    @classmethod
    def load(cls, data: bytes | str, *, kid: str | None = None) -> DeviceKey:
        """Read a key written by :meth:`to_pem` or :meth:`to_jwk_bytes`.

        A JWK's own ``kid`` is kept unless ``kid`` is given. Raises :class:`ConfigurationError`
        (never showing the data) when it is neither form or not an Ed25519 private key.
        """
        require_jwt()
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        stripped = raw.lstrip()
        if stripped.startswith(b"-----BEGIN"):
            try:
                private = serialization.load_pem_private_key(stripped, password=None)
            except (ValueError, TypeError):
                raise ConfigurationError("device key", "the PEM data is not a readable private key") from None
            if not isinstance(private, Ed25519PrivateKey):
                raise ConfigurationError("device key", "the PEM key is not an Ed25519 key")
            return cls(private, kid=kid)
        if stripped.startswith(b"{"):
            try:
                jwk = json.loads(stripped.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise ConfigurationError("device key", "the JWK data is not valid JSON") from None
            if not isinstance(jwk, dict) or not isinstance(jwk.get("d"), str):
                raise ConfigurationError("device key", "the JWK has no private part 'd'")
            public_key_from_jwk(jwk)  # checks kty, crv and x
            try:
                d = _b64url_decode(jwk["d"])
            except (ValueError, TypeError):
                d = b""
            if len(d) != 32:
                raise ConfigurationError("device key", "the JWK's 'd' is not a 32-byte Ed25519 private key")
            key = cls(Ed25519PrivateKey.from_private_bytes(d), kid=kid or jwk.get("kid") or None)
            if key.public_jwk["x"] != jwk["x"]:
                raise ConfigurationError("device key", "the JWK's 'x' does not belong to its 'd'")
            return key
        raise ConfigurationError("device key", "expected PEM or a JSON private JWK")

    # ------------------------------------------------------------------ public face

    def _thumbprint_members(self) -> dict[str, str]:
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(self._public_raw)}

    @property
    def public_jwk(self) -> dict[str, str]:
        """The public JWK plex.tv expects: ``kty, crv, x, kid, alg: EdDSA, use: sig`` (a new dict each call)."""
        return {**self._thumbprint_members(), "kid": self.kid, "alg": _ALGORITHM, "use": "sig"}

    @property
    def private_key(self) -> Ed25519PrivateKey:
        """The cryptography private key object (for signing with other libraries)."""
        return self._private

    def sign(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        """A compact JWS of ``claims``: header ``alg: EdDSA``, ``typ: JWT`` and this key's ``kid``."""
        return sign_jwt(self, claims, headers=headers)

    def sign_device_jwt(
        self,
        client_identifier: str,
        *,
        now: float | None = None,
        scope: str = DEFAULT_SCOPE,
        nonce: str | None = None,
        lifetime: int = DEVICE_JWT_LIFETIME,
    ) -> str:
        """The device JWT plex.tv wants on the pin exchange and on ``/api/v2/auth/token``.

        Claims ``aud: plex.tv``, ``iss: client_identifier``, ``iat`` (``now``, default the
        system clock), ``exp = iat + lifetime``, ``scope``, and ``nonce`` when given (the
        refresh needs one from ``/api/v2/auth/nonce``).
        """
        if not isinstance(client_identifier, str) or not client_identifier:
            raise ConfigurationError("client_identifier", "a device JWT needs the client identifier")
        issued_at = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "aud": PLEX_ISSUER,
            "iss": client_identifier,
            "iat": issued_at,
            "exp": issued_at + int(lifetime),
            "scope": scope,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return self.sign(claims)

    def __repr__(self) -> str:
        return f"DeviceKey(kid={self.kid!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DeviceKey):
            return NotImplemented
        return self._public_raw == other._public_raw and self.kid == other.kid

    def __hash__(self) -> int:
        return hash((self._public_raw, self.kid))

    def __reduce__(self) -> Any:
        raise TypeError("a DeviceKey holds a private key and is not pickled; use to_pem() or to_jwk_bytes()")


def sign_jwt(key: DeviceKey, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
    """Sign ``claims`` with ``key`` (EdDSA); the header carries ``key.kid`` and ``typ: JWT``."""
    jwt = _jwt_module()
    header = {"kid": key.kid, "typ": "JWT", **(headers or {})}
    return str(jwt.encode(dict(claims), key.private_key, algorithm=_ALGORITHM, headers=header))


# ---------------------------------------------------------------------- reading and checking


def _segment(token: str, index: int, what: str) -> dict[str, Any]:
    if not isinstance(token, str) or token.count(".") != 2:
        raise JwtVerificationError("not a compact JWT (three dot-separated parts)")
    try:
        value = json.loads(_b64url_decode(token.split(".")[index]))
    except (ValueError, TypeError, UnicodeDecodeError):
        raise JwtVerificationError(f"the {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise JwtVerificationError(f"the {what} is not a JSON object")
    return value


def unverified_header(token: str) -> dict[str, Any]:
    """A JWT's header, NOT verified (to pick a key by ``kid``); :class:`JwtVerificationError` if unreadable."""
    return _segment(token, 0, "header")


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's claims, NOT verified (to find the device by ``iss``); :class:`JwtVerificationError` if unreadable."""
    return _segment(token, 1, "payload")


def _check_times(claims: Mapping[str, Any], *, now: float, leeway: float) -> None:
    for name in ("iat", "exp"):
        if name in claims and not (
            isinstance(claims[name], (int, float)) and not isinstance(claims[name], bool) and math.isfinite(claims[name])
        ):
            raise JwtVerificationError(f"the {name!r} claim is not a number")
    if "iat" in claims and claims["iat"] > now + leeway:
        raise JwtVerificationError("the token was issued in the future ('iat' is ahead of this clock)")
    if "nbf" in claims and isinstance(claims["nbf"], (int, float)) and claims["nbf"] > now + leeway:
        raise JwtVerificationError("the token is not valid yet ('nbf')")
    if "exp" in claims and claims["exp"] <= now - leeway:
        raise JwtVerificationError("the token has expired")


def verify_jwt(
    token: str,
    keys: Iterable[Mapping[str, Any] | DeviceKey],
    *,
    audience: str | Sequence[str],
    issuer: str,
    required: Sequence[str] = ("aud", "iss", "exp", "iat"),
    now: float | None = None,
    leeway: float = 0.0,
) -> dict[str, Any]:
    """The claims of ``token`` once its EdDSA signature verifies with one of ``keys``.

    Every key is tried (plex.tv rotates its signing keys and lists several); keys that are not
    Ed25519 JWKs are skipped. Then ``iss`` must equal ``issuer``, ``aud`` must contain one of
    ``audience``, each ``required`` claim must be present, and ``iat``/``exp`` must hold at
    ``now`` (default the system clock) give or take ``leeway`` seconds. Any failure raises
    :class:`JwtVerificationError` naming the check.
    """
    jwt = _jwt_module()
    header = unverified_header(token)
    if header.get("alg") != _ALGORITHM:
        raise JwtVerificationError(f"the algorithm must be {_ALGORITHM}")
    public_keys = []
    for entry in keys:
        if isinstance(entry, DeviceKey):
            public_keys.append(entry.private_key.public_key())
            continue
        try:
            public_keys.append(public_key_from_jwk(entry))
        except ConfigurationError:
            continue
    if not public_keys:
        raise JwtVerificationError("no Ed25519 key to check the signature with")
    options = {"require": list(required), "verify_exp": False, "verify_iat": False, "verify_nbf": False}
    for public_key in public_keys:
        try:
            claims = jwt.decode(
                token, key=public_key, algorithms=[_ALGORITHM], audience=audience, issuer=issuer, options=options
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.MissingRequiredClaimError as exc:
            raise JwtVerificationError(f"the {exc.claim!r} claim is missing") from None
        except jwt.InvalidAudienceError:
            raise JwtVerificationError("the audience ('aud') is not this client's") from None
        except jwt.InvalidIssuerError:
            raise JwtVerificationError(f"the issuer ('iss') is not {issuer!r}") from None
        except jwt.InvalidTokenError as exc:
            raise JwtVerificationError(f"malformed token ({type(exc).__name__})") from None
        _check_times(claims, now=time.time() if now is None else now, leeway=leeway)
        return dict(claims)
    raise JwtVerificationError("the signature matches none of the keys")


def verify_plex_jwt(
    token: str,
    jwks: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    client_identifier: str,
    kid: str,
    now: float | None = None,
    leeway: float = PLEX_JWT_LEEWAY,
) -> dict[str, Any]:
    """Check a JWT from plex.tv the way a careful client should, and return its claims.

    ``jwks`` is the body of ``/api/v2/auth/keys`` (``{"keys": [...]}``) or its list. The
    token must be signed by one of those keys with EdDSA, issued by ``plex.tv`` for
    ``plex.tv`` or ``client_identifier``, carry ``aud, iss, exp, iat, thumbprint``, be in
    its lifetime within ``leeway`` seconds, and its ``thumbprint`` must be our device ``kid``.
    """
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else jwks
    if not isinstance(keys, Sequence) or isinstance(keys, (str, bytes)):
        raise JwtVerificationError("plex.tv's key set has no 'keys' list")
    claims = verify_jwt(
        token,
        [entry for entry in keys if isinstance(entry, Mapping)],
        audience=[PLEX_ISSUER, client_identifier],
        issuer=PLEX_ISSUER,
        required=("aud", "iss", "exp", "iat", "thumbprint"),
        now=now,
        leeway=leeway,
    )
    if claims.get("thumbprint") != kid:
        raise JwtVerificationError("the token is bound to another device key ('thumbprint' is not our kid)")
    return claims


def verify_device_jwt(
    token: str,
    public_jwk: Mapping[str, Any],
    *,
    client_identifier: str,
    now: float | None = None,
    leeway: float = 0.0,
    require_nonce: bool = False,
) -> dict[str, Any]:
    """Check a client's device JWT as plex.tv does (the emulator's side), and return its claims.

    The header ``kid`` must be the registered JWK's ``kid``, the signature must verify with
    that key, ``aud`` must be ``plex.tv``, ``iss`` the ``client_identifier`` the request
    came with, and ``iat``/``exp`` must hold at ``now``; ``nonce`` is required when asked.
    """
    header = unverified_header(token)
    if "kid" not in header:
        raise JwtVerificationError("the header has no 'kid'")
    if header["kid"] != public_jwk.get("kid"):
        raise JwtVerificationError("the header 'kid' is not the registered key's")
    required = ("aud", "iss", "exp", "iat") + (("nonce",) if require_nonce else ())
    return verify_jwt(
        token,
        [public_jwk],
        audience=PLEX_ISSUER,
        issuer=client_identifier,
        required=required,
        now=now,
        leeway=leeway,
    )
