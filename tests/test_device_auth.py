"""The JWT sign-in's request sequences, run against a fake client that checks what it is sent."""

from __future__ import annotations

import time
from typing import Any

import pytest

from plexpin_widget._device_auth import DeviceAuth, arun_steps, run_steps
from plexpin_widget._errors import JwtVerificationError, NetworkError
from plexpin_widget._jwk import PLEX_ISSUER, DeviceKey, unverified_header, verify_device_jwt
from plexpin_widget._models import Pin

pytestmark = pytest.mark.usefixtures("new_process")

CLIENT = "client-jwt-1"
BASE = "http://127.0.0.1:1"


class FakePlexTv:
    """Just enough plex.tv: a registered JWK per pin, nonces, rotating signing keys."""

    def __init__(self) -> None:
        self.signing = [DeviceKey.generate()]
        self.calls: list[str] = []
        self.jwk: dict[str, Any] | None = None
        self.nonces: set[str] = set()
        self.approved = False
        self.thumbprint: str | None = None  # what to put in the token (default: the device kid)
        self.fail_next: Exception | None = None
        self.listed: list[DeviceKey] | None = None  # keys published, when not the signing ones

    def plex_jwt(self, lifetime: int = 3600) -> str:
        assert self.jwk is not None
        now = int(time.time())
        claims = {
            "iss": PLEX_ISSUER, "aud": [PLEX_ISSUER, CLIENT], "iat": now, "exp": now + lifetime,
            "thumbprint": self.thumbprint or self.jwk["kid"], "user": {"username": "kim"},
        }
        return self.signing[-1].sign(claims)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error

    def create_pin(self, strong: bool, *, jwk: dict[str, Any]) -> Pin:
        self._call("create_pin")
        self.jwk = jwk
        return Pin(id=5, code="ABCD", expires_in=900)

    def check_pin(self, pin_id: int, *, device_jwt: str) -> Pin:
        self._call("check_pin")
        assert self.jwk is not None
        verify_device_jwt(device_jwt, self.jwk, client_identifier=CLIENT)
        return Pin(id=pin_id, code="ABCD", expires_in=800, auth_token=self.plex_jwt() if self.approved else None)

    def get_nonce(self) -> str:
        self._call("get_nonce")
        nonce = f"n{len(self.calls)}"
        self.nonces.add(nonce)
        return nonce

    def exchange_token(self, device_jwt: str) -> str:
        self._call("exchange_token")
        assert self.jwk is not None
        claims = verify_device_jwt(device_jwt, self.jwk, client_identifier=CLIENT, require_nonce=True)
        self.nonces.remove(claims["nonce"])  # single use
        return self.plex_jwt()

    def get_signing_keys(self) -> list[dict[str, Any]]:
        self._call("get_signing_keys")
        return [key.public_jwk for key in (self.listed or self.signing)]


def test_pin_then_approval_yields_a_verified_jwt_and_caches_the_keys() -> None:
    fake = FakePlexTv()
    auth = DeviceAuth(CLIENT, BASE)
    pin = run_steps(auth.create_pin(True), fake)
    assert fake.jwk == auth.key.public_jwk and "d" not in fake.jwk
    assert run_steps(auth.check_pin(pin.id), fake) == (Pin(id=5, code="ABCD", expires_in=800), None)
    fake.approved = True
    approved, issued = run_steps(auth.check_pin(pin.id), fake)
    assert issued is not None and issued.token == approved.auth_token
    assert 3590 <= issued.lifetime <= 3600 and issued.expires_at.tzinfo is not None
    run_steps(auth.refresh(), fake)
    assert fake.calls.count("get_signing_keys") == 1  # cached across steps
    assert fake.calls[-2:] == ["get_nonce", "exchange_token"]


def test_the_key_is_made_once_per_identifier() -> None:
    assert DeviceAuth(CLIENT, BASE).key is DeviceAuth(CLIENT, BASE + "/").key
    assert DeviceAuth("other", BASE).key is not DeviceAuth(CLIENT, BASE).key
    auth = DeviceAuth(CLIENT, BASE)
    old = auth.key
    assert auth.new_key() is not old and auth.key is not old


def test_a_fresh_key_pin_sends_a_new_jwk() -> None:
    fake = FakePlexTv()
    auth = DeviceAuth(CLIENT, BASE)
    run_steps(auth.create_pin(False), fake)
    first = fake.jwk
    run_steps(auth.create_pin(False, fresh_key=True), fake)
    assert fake.jwk is not None and first is not None and fake.jwk["kid"] != first["kid"]


def test_rotated_signing_keys_are_fetched_again_once() -> None:
    fake = FakePlexTv()
    auth = DeviceAuth(CLIENT, BASE)
    run_steps(auth.create_pin(True), fake)
    run_steps(auth.refresh(), fake)
    fake.signing.append(DeviceKey.generate())  # plex.tv rotates: new key listed last
    issued = run_steps(auth.refresh(), fake)
    assert unverified_header(issued.token)["kid"] == fake.signing[-1].kid
    assert fake.calls.count("get_signing_keys") == 2


def test_a_token_for_another_device_key_is_refused() -> None:
    fake = FakePlexTv()
    auth = DeviceAuth(CLIENT, BASE)
    run_steps(auth.create_pin(True), fake)
    fake.thumbprint = "someone-else"
    with pytest.raises(JwtVerificationError, match="thumbprint") as caught:
        run_steps(auth.refresh(), fake)
    assert "eyJ" not in str(caught.value)


def test_a_token_signed_by_an_unlisted_key_is_refused() -> None:
    fake = FakePlexTv()
    auth = DeviceAuth(CLIENT, BASE)
    run_steps(auth.create_pin(True), fake)
    run_steps(auth.refresh(), fake)
    genuine = fake.signing[-1]
    fake.signing = [DeviceKey.generate(kid=genuine.kid)]  # same kid, a key plex.tv never listed
    fake.listed = [genuine]
    with pytest.raises(JwtVerificationError, match="signature"):
        run_steps(auth.refresh(), fake)
    assert fake.calls.count("get_signing_keys") == 2  # the cache was doubted once, then re-read


def test_a_failed_call_surfaces_as_its_own_error() -> None:
    fake = FakePlexTv()
    auth = DeviceAuth(CLIENT, BASE)
    run_steps(auth.create_pin(True), fake)
    fake.fail_next = NetworkError("GET /api/v2/auth/nonce failed: ConnectError")
    with pytest.raises(NetworkError):
        run_steps(auth.refresh(), fake)


async def test_the_async_runner_runs_the_same_steps() -> None:
    fake = FakePlexTv()

    class AsyncFake:
        def __getattr__(self, name: str) -> Any:
            method = getattr(fake, name)

            async def call(*args: Any, **kwargs: Any) -> Any:
                return method(*args, **kwargs)

            return call

    auth = DeviceAuth(CLIENT, BASE)
    await arun_steps(auth.create_pin(True), AsyncFake())
    issued = await arun_steps(auth.refresh(), AsyncFake())
    assert issued.token.count(".") == 2
    assert repr(auth).startswith("DeviceAuth(") and "eyJ" not in repr(issued)
