"""plex.tv's JWT endpoints (reference ``plex-jwt-auth.md`` §2, §11), served on every host's paths.

``POST /api/v2/pins`` with a ``jwk`` and ``GET /api/v2/pins/{id}?deviceJWT=`` are the pin
handlers' business (``_api.py``); they call :meth:`JwtApi.pin_jwk` and :meth:`JwtApi.exchange`.
This module answers ``/api/v2/auth/{nonce,token,keys,jwk}`` and ``DELETE /api/v2/users/signout``,
and tells ``/api/v2/user`` and ``/api/v2/resources`` whom a Plex JWT belongs to.

What the public sources leave open is decided here, and said in each place: the HTTP status
of Plex code 1097 (422 here), nonces being single-use, a pin exchange needing no nonce.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plexpin_widget import _jwk
from plexpin_widget._jwk import ConfigurationError, JwtVerificationError

from ._jwt_state import Device, IssuedJwt, JwtAuthority, looks_like_jwt
from ._messages import EmulatorRequest, EmulatorResponse, error_response, json_response

if TYPE_CHECKING:
    from ._accounts import Account, AccountBook
    from ._state import Clock, PinRecord

__all__ = ["JWK_MISSING_CODE", "JwtApi"]

#: Plex's code for "jwk missing. no public key to verify jwt request" (device removed, iss mismatch).
JWK_MISSING_CODE = 1097


class JwtApi:
    """The handlers; :class:`~._api.PlexTv` owns one and routes to it."""

    def __init__(self, *, clock: Clock, accounts: AccountBook, authority: JwtAuthority) -> None:
        self.clock = clock
        self.accounts = accounts
        self.authority = authority

    # ------------------------------------------------------------------ shared answers

    @staticmethod
    def _jwk_missing(request: EmulatorRequest) -> EmulatorResponse:
        # The HTTP status that carries 1097 is not public (§13); 422 matches the other refusals.
        return error_response(request, 422, JWK_MISSING_CODE, "jwk missing. no public key to verify jwt request")

    @staticmethod
    def _bad_signature(request: EmulatorRequest, reason: str) -> EmulatorResponse:
        return error_response(request, 422, None, f"Signature Verification Failed: {reason}")

    @staticmethod
    def _bad_request(request: EmulatorRequest, reason: str) -> EmulatorResponse:
        return error_response(request, 400, None, f"Bad Request: {reason}")

    def _read_jwk(self, request: EmulatorRequest, jwk: Any, client: str) -> dict[str, Any] | EmulatorResponse:
        """The public JWK ``client`` sent, or plex.tv's refusal (malformed, or another device's)."""
        try:
            _jwk.public_key_from_jwk(jwk)
        except ConfigurationError as exc:
            return self._bad_request(request, str(exc))
        if not isinstance(jwk.get("kid"), str) or not jwk["kid"]:
            return self._bad_request(request, "the jwk has no 'kid'")
        if jwk.get("alg", "EdDSA") != "EdDSA":
            return self._bad_request(request, "the jwk's 'alg' must be EdDSA")
        if self.authority.kid_taken(jwk["kid"], client):
            return error_response(request, 422, None, "Thumbprint Already Taken: JWK already registered by another device")
        return {key: jwk[key] for key in ("kty", "crv", "x", "kid", "alg", "use") if key in jwk}

    # ------------------------------------------------------------------ pins

    def pin_jwk(self, request: EmulatorRequest, client: str) -> dict[str, Any] | EmulatorResponse | None:
        """The JWK a ``POST /api/v2/pins`` body carries (``None`` without one), or an error answer."""
        body = request.json_body
        if not isinstance(body, dict) or "jwk" not in body:
            return None
        return self._read_jwk(request, body["jwk"], client)

    def approve(self, record: PinRecord, account: Account) -> None:
        """A JWK pin was approved: its key now signs in as ``account`` for the pin's client identifier."""
        assert record.jwk is not None
        self.authority.register(record.client_identifier, record.jwk, account)

    def exchange(self, request: EmulatorRequest, record: PinRecord, now: float) -> EmulatorResponse | str | None:
        """The ``authToken`` a JWK pin shows this poll: the Plex JWT, ``None`` (null), or a refusal.

        Unapproved, or approved but polled without ``deviceJWT``: null (the safe reading of an
        open question, §2.3). Approved with a device JWT that verifies against the pin's key
        (``kid``, signature, ``aud``, ``iss`` = the caller, lifetime): the Plex JWT, minted on
        the first such poll and the same one after. Anything else: 422. A nonce in the device
        JWT is not required here (DOC-B lists none for this call) and not used up.
        """
        device = self.authority.devices.get(record.client_identifier)
        if not record.auth_token or device is None or device.account is None or record.jwk is None:
            return None
        device_jwt = request.query_value("deviceJWT")
        if device_jwt is None:
            return None
        try:
            claims = _jwk.verify_device_jwt(device_jwt, record.jwk, client_identifier=record.client_identifier, now=now)
        except JwtVerificationError as exc:
            return self._bad_signature(request, exc.reason)
        if record.jwt is None:
            record.jwt = self._mint(device, claims, now)
        return record.jwt

    def _mint(self, device: Device, claims: dict[str, Any], now: float) -> str:
        assert device.account is not None
        token = self.authority.issue(device, device.account, scope=claims.get("scope", ""), now=now)
        legacy, device.legacy_token = device.legacy_token, None
        if legacy is not None and self.accounts.find(legacy) == (device.account, False):
            # "Your legacy token will expire after this process" (DOC-B); Streamarr saw it die at
            # once (§8). The account gets a new classic token, as after a sign-out.
            self.accounts.sign_out(legacy)
        return token

    # ------------------------------------------------------------------ /api/v2/auth/*

    def nonce(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        client = request.client_identifier
        if not client:
            # What plex.tv answered a live probe without a client identifier (§2.5).
            return error_response(request, 422, 1000, "X-Plex-Client-Identifier is missing")
        return json_response(200, {"nonce": self.authority.new_nonce(client, self.clock.now())})

    def token(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        client = request.client_identifier
        if not client:
            return error_response(request, 400, 1000, "X-Plex-Client-Identifier is missing")
        body = request.json_body
        device_jwt = body.get("jwt") if isinstance(body, dict) else None
        if not isinstance(device_jwt, str) or not device_jwt:
            return self._bad_request(request, "the body must be JSON with a 'jwt' string")
        try:
            issuer = _jwk.unverified_claims(device_jwt).get("iss")
        except JwtVerificationError as exc:
            return self._bad_signature(request, exc.reason)
        device = self.authority.devices.get(client)
        # An iss that is not the caller's own client identifier gets 1097, as Streamarr saw (§2.6).
        if issuer != client or device is None or device.account is None:
            return self._jwk_missing(request)
        now = self.clock.now()
        try:
            claims = _jwk.verify_device_jwt(
                device_jwt, device.jwk, client_identifier=client, now=now, require_nonce=True
            )
        except JwtVerificationError as exc:
            return self._bad_signature(request, exc.reason)
        if not self.authority.take_nonce(claims.get("nonce"), client, now):
            return self._bad_signature(request, "the nonce is unknown, expired or already used")
        return json_response(200, {"auth_token": self._mint(device, claims, now)})

    def keys(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        return json_response(200, self.authority.jwks())

    def register_jwk(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        """``POST /api/v2/auth/jwk`` with a classic token: 201, empty body.

        plex.tv binds the key to the device the token was issued to (§2.4). The emulator's
        classic tokens belong to accounts, not devices, so it binds to the calling client id.
        The classic token stops working once the first JWT is minted with the key (§8).
        """
        client = request.client_identifier
        if not client:
            return error_response(request, 400, 1000, "X-Plex-Client-Identifier is missing")
        account = self.authenticate(request)
        if isinstance(account, EmulatorResponse):
            return account
        body = request.json_body
        if not isinstance(body, dict) or "jwk" not in body:
            return self._bad_request(request, "the body must be JSON with a 'jwk' object")
        jwk = self._read_jwk(request, body["jwk"], client)
        if isinstance(jwk, EmulatorResponse):
            return jwk
        legacy = None if looks_like_jwt(request.token) else request.token
        self.authority.register(client, jwk, account, legacy_token=legacy)
        return EmulatorResponse(201)

    # ------------------------------------------------------------------ tokens of either kind

    def authenticate(self, request: EmulatorRequest) -> Account | EmulatorResponse:
        """The account behind ``X-Plex-Token`` (classic or Plex JWT), or plex.tv's refusal.

        Unknown or signed-out: 401/1001. A de-authorised classic token: 422 "Invalid token".
        An expired Plex JWT: 498 "Token Expired" (§2.8).
        """
        token = request.token
        if looks_like_jwt(token):
            issued = self.authority.issued.get(token or "")
            if issued is None or issued.revoked:
                return error_response(request, 401, 1001, "User could not be authenticated")
            if issued.is_expired(self.clock.now()):
                return error_response(request, 498, None, "Token Expired")
            return issued.account
        account, revoked = self.accounts.find(token)
        if revoked:
            # plex.tv answers de-authorised tokens with 422 "Invalid token" (no Plex code seen).
            return error_response(request, 422, None, "Invalid token")
        if account is None:
            return error_response(request, 401, 1001, "User could not be authenticated")
        return account

    def issued_jwt(self, token: str | None) -> IssuedJwt | None:
        return self.authority.issued.get(token or "") if looks_like_jwt(token) else None

    def signout(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        """``DELETE /api/v2/users/signout``: the token in ``X-Plex-Token`` stops working (204).

        Signing out a Plex JWT also removes its device, as removing it under Authorized
        Devices does: a copied device key cannot mint new JWTs afterwards (refresh: 1097).
        """
        token = request.token
        issued = self.issued_jwt(token)
        if issued is not None:
            if issued.revoked:
                return error_response(request, 401, 1001, "User could not be authenticated")
            issued.revoked = True
            device = self.authority.devices.get(issued.client_identifier)
            if device is not None and device.kid == issued.kid:
                self.authority.remove_device(issued.client_identifier)
            return EmulatorResponse(204)
        account, revoked = self.accounts.find(token)
        if account is None or revoked or token is None:
            return error_response(request, 401, 1001, "User could not be authenticated")
        self.accounts.sign_out(token)
        return EmulatorResponse(204)
