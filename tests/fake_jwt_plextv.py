"""A small stand-in for plex.tv's JWT sign-in, as an httpx transport (sync and async).

The project's emulator implements the same endpoints in full; this fake is the client tests'
own, so that they pin down what the client sends (and survive while the emulator grows):
pins with a JWK, the ``deviceJWT`` exchange, nonces (single use), ``/auth/token``,
``/auth/keys`` (rotatable), ``/user`` (498 for an expired JWT), ``DELETE /users/signout``.
Hooks: approve a pin, remove a device's key, set the JWT lifetime, fail the next requests.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from typing import Any

import httpx

from plexpin_widget._errors import JwtVerificationError
from plexpin_widget._jwk import PLEX_ISSUER, DeviceKey, unverified_claims, verify_device_jwt, verify_jwt

__all__ = ["FakeJwtPlexTv"]

USER = {"id": 4242, "uuid": "u-4242", "username": "kim", "email": "kim@example.invalid"}


def _error(status: int, message: str, code: int | None = None) -> httpx.Response:
    body: dict[str, Any] = {"message": message, "status": status}
    if code is not None:
        body["code"] = code
    return httpx.Response(status, json={"errors": [body]})


class FakeJwtPlexTv:
    def __init__(self, *, lifetime: float = 7 * 24 * 3600) -> None:
        self.lifetime = lifetime
        self.signing = [DeviceKey.generate()]
        self.devices: dict[str, dict[str, Any]] = {}  # client id -> registered public JWK
        self.pins: dict[int, dict[str, Any]] = {}
        self.nonces: set[str] = set()
        self.revoked: set[str] = set()
        self.classic_tokens: set[str] = set()
        self.issued: list[str] = []
        self.device_jwts: list[str] = []  # every device JWT a client sent
        self.log: list[tuple[str, str, int]] = []  # method, path, status
        self.failures: list[tuple[str, Any]] = []  # (path prefix, status or "drop"), used in order
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- hooks

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def approve(self, pin_id: int | None = None) -> None:
        with self._lock:
            pin_id = pin_id if pin_id is not None else max(self.pins)
            self.pins[pin_id]["approved"] = True

    def remove_device(self, client_identifier: str) -> None:
        with self._lock:
            self.devices.pop(client_identifier, None)

    def fail(self, path_prefix: str, status: Any, times: int = 1) -> None:
        with self._lock:
            self.failures += [(path_prefix, status)] * times

    def calls(self, path: str, method: str | None = None) -> int:
        return sum(1 for m, p, _ in self.log if p == path and (method is None or m == method))

    # ----------------------------------------------------------------- plex.tv

    def _plex_jwt(self, client: str) -> str:
        now = int(time.time())
        claims = {
            "iss": PLEX_ISSUER, "aud": [PLEX_ISSUER, client], "iat": now, "exp": now + self.lifetime,
            "thumbprint": self.devices[client]["kid"], "user": {"username": USER["username"]},
            "jti": uuid.uuid4().hex,
        }
        token = self.signing[-1].sign(claims)
        self.issued.append(token)
        return token

    def _handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            response = self._route(request)
            self.log.append((request.method, request.url.path, response.status_code))
            return response

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        for index, (prefix, status) in enumerate(self.failures):
            if path.startswith(prefix):
                del self.failures[index]
                if status == "drop":
                    raise httpx.ConnectError("dropped by the fake", request=request)
                headers = {"Retry-After": "0"} if status == 429 else {}
                return httpx.Response(status, json={"errors": [{"code": 1003 if status == 429 else 0,
                                                               "message": "injected"}]}, headers=headers)
        client = request.headers.get("X-Plex-Client-Identifier")
        if not client:
            return _error(400, "X-Plex-Client-Identifier is missing", 1000)
        if path == "/api/v2/pins" and request.method == "POST":
            body = json.loads(request.content) if request.content else {}
            pin_id = next(self._ids)
            jwk = body.get("jwk")
            if jwk is not None:
                self.devices[client] = jwk
            self.pins[pin_id] = {"client": client, "code": f"C{pin_id}", "jwk": jwk, "approved": False}
            return httpx.Response(201, json=self._pin_json(pin_id, None))
        if path.startswith("/api/v2/pins/") and request.method == "GET":
            pin_id = int(path.rsplit("/", 1)[1])
            pin = self.pins.get(pin_id)
            if pin is None or pin["client"] != client:
                return _error(404, "Not Found", 1020)
            token = None
            device_jwt = request.url.params.get("deviceJWT")
            if device_jwt:
                self.device_jwts.append(device_jwt)
            if pin["approved"] and pin["jwk"] is not None and device_jwt:
                if self.devices.get(client) != pin["jwk"]:
                    return _error(422, "jwk missing", 1097)
                try:
                    verify_device_jwt(device_jwt, pin["jwk"], client_identifier=client)
                except JwtVerificationError:
                    return _error(422, "Signature Verification Failed")
                token = self._plex_jwt(client)
            elif pin["approved"] and pin["jwk"] is None:
                token = "classic-" + uuid.uuid4().hex[:12]
                self.classic_tokens.add(token)
            return httpx.Response(200, json=self._pin_json(pin_id, token))
        if path == "/api/v2/auth/nonce":
            nonce = str(uuid.uuid4())
            self.nonces.add(nonce)
            return httpx.Response(200, json={"nonce": nonce})
        if path == "/api/v2/auth/token" and request.method == "POST":
            device_jwt = json.loads(request.content).get("jwt", "")
            self.device_jwts.append(device_jwt)
            jwk = self.devices.get(client)
            if jwk is None:
                return _error(422, "jwk missing. no public key to verify jwt request", 1097)
            try:
                claims = verify_device_jwt(device_jwt, jwk, client_identifier=client, require_nonce=True)
            except JwtVerificationError:
                return _error(422, "Signature Verification Failed")
            if claims["nonce"] not in self.nonces:
                return _error(422, "nonce unknown or used")
            self.nonces.discard(claims["nonce"])
            return httpx.Response(200, json={"auth_token": self._plex_jwt(client)})
        if path == "/api/v2/auth/keys":
            return httpx.Response(200, json={"keys": [key.public_jwk for key in self.signing]})
        token = request.headers.get("X-Plex-Token", "")
        if path == "/api/v2/user":
            return self._user(token)
        if path == "/api/v2/users/signout" and request.method == "DELETE":
            if not token or (token not in self.issued and token not in self.classic_tokens):
                return _error(401, "User could not be authenticated", 1001)
            self.revoked.add(token)
            return httpx.Response(204)
        return _error(404, "Not Found")

    def _user(self, token: str) -> httpx.Response:
        if token in self.revoked or not token:
            return _error(401, "User could not be authenticated", 1001)
        if token in self.classic_tokens:
            return httpx.Response(200, json=USER)
        if token not in self.issued:
            return _error(401, "User could not be authenticated", 1001)
        if unverified_claims(token)["exp"] <= time.time():
            return _error(498, "Token Expired")
        verify_jwt(token, self.signing, audience=PLEX_ISSUER, issuer=PLEX_ISSUER)
        return httpx.Response(200, json=USER)

    def _pin_json(self, pin_id: int, token: str | None) -> dict[str, Any]:
        pin = self.pins[pin_id]
        return {"id": pin_id, "code": pin["code"], "expiresIn": 900, "authToken": token,
                "clientIdentifier": pin["client"]}
