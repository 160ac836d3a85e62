"""The client's JWT calls: what each sends, what each accepts, and how refusals are typed."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from plexpin_widget._client import AsyncPlexTvClient, PlexTvClient
from plexpin_widget._errors import (
    DeviceKeyRejectedError,
    InvalidTokenError,
    MalformedResponseError,
    MissingClientIdentifierError,
    RateLimitedError,
    TokenExpiredError,
)
from plexpin_widget._identity import ClientIdentity

JWK = {"kty": "OKP", "crv": "Ed25519", "x": "abc", "kid": "kid-1", "alg": "EdDSA", "use": "sig"}
DEVICE_JWT = "eyJhbGciOiJFZERTQSJ9.eyJhdWQiOiJwbGV4LnR2In0.c2ln"
PIN = {"id": 7, "code": "ABCD", "expiresIn": 900, "authToken": None}


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> PlexTvClient:
    identity = ClientIdentity.create(product="t", client_identifier="client-1")
    return PlexTvClient(identity, base_url="http://127.0.0.1:9", transport=httpx.MockTransport(handler))


def test_a_jwk_pin_sends_the_key_and_strong_in_a_json_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=PIN)

    with client_for(handler) as client:
        pin = client.create_pin(strong=True, jwk=JWK)
    assert pin.id == 7
    request = seen[0]
    assert request.method == "POST" and request.url.path == "/api/v2/pins"
    assert json.loads(request.content) == {"jwk": JWK, "strong": True}
    assert "strong" not in request.url.params
    assert request.headers["X-Plex-Client-Identifier"] == "client-1"


def test_checking_a_jwk_pin_sends_the_device_jwt_but_never_shows_it() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={**PIN, "authToken": "eyJplex"})

    with client_for(handler) as client:
        pin = client.check_pin(7, device_jwt=DEVICE_JWT)
    assert pin.auth_token == "eyJplex"
    assert seen[0].url.params["deviceJWT"] == DEVICE_JWT
    from plexpin_widget._client import _check_pin_call

    assert DEVICE_JWT not in repr(_check_pin_call(7, DEVICE_JWT))


def test_nonce_token_and_keys() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v2/auth/nonce":
            assert "X-Plex-Token" not in request.headers
            return httpx.Response(200, json={"nonce": "n-1"})
        if path == "/api/v2/auth/token":
            assert request.method == "POST" and json.loads(request.content) == {"jwt": DEVICE_JWT}
            return httpx.Response(200, json={"auth_token": "eyJnew"})
        if path == "/api/v2/auth/keys":
            return httpx.Response(200, json={"keys": [{"kid": "a"}, {"kid": "b"}, "junk"]})
        return httpx.Response(404)

    with client_for(handler) as client:
        assert client.get_nonce() == "n-1"
        assert client.exchange_token(DEVICE_JWT) == "eyJnew"
        assert [k["kid"] for k in client.get_signing_keys()] == ["a", "b"]


def test_the_token_endpoint_also_accepts_camel_case() -> None:
    with client_for(lambda r: httpx.Response(200, json={"authToken": "eyJcamel"})) as client:
        assert client.exchange_token(DEVICE_JWT) == "eyJcamel"


def test_a_token_answer_without_a_token_is_malformed() -> None:
    with client_for(lambda r: httpx.Response(200, json={"something": 1})) as client:
        with pytest.raises(MalformedResponseError):
            client.exchange_token(DEVICE_JWT)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (422, {"errors": [{"code": 1097, "message": "jwk missing", "status": 422}]}, DeviceKeyRejectedError),
        (400, {"errors": [{"code": 1097, "message": "jwk missing"}]}, DeviceKeyRejectedError),
        (422, {"errors": [{"message": "Signature Verification Failed"}]}, DeviceKeyRejectedError),
        (401, {}, DeviceKeyRejectedError),
        (498, {"errors": [{"message": "Token Expired", "status": 498}]}, TokenExpiredError),
        (429, {"errors": [{"code": 1003, "message": "too many requests"}]}, RateLimitedError),
    ],
)
def test_refusals_of_the_token_endpoint_are_typed(status: int, body: dict, error: type) -> None:
    headers = {"Retry-After": "5"} if status == 429 else {}
    with client_for(lambda r: httpx.Response(status, json=body, headers=headers)) as client:
        with pytest.raises(error) as caught:
            client.exchange_token(DEVICE_JWT)
    assert isinstance(caught.value, (InvalidTokenError, RateLimitedError))
    assert DEVICE_JWT not in str(caught.value)


def test_a_nonce_without_client_identifier_is_named() -> None:
    with client_for(lambda r: httpx.Response(422, json={})) as client:
        with pytest.raises(MissingClientIdentifierError):
            client.get_nonce()


def test_a_refused_device_jwt_on_a_pin_is_a_key_refusal() -> None:
    with client_for(lambda r: httpx.Response(422, json={})) as client:
        with pytest.raises(DeviceKeyRejectedError):
            client.check_pin(7, device_jwt=DEVICE_JWT)
        # Without a device JWT the classic meaning stays.
        with pytest.raises(InvalidTokenError) as caught:
            client.check_pin(7)
        assert not isinstance(caught.value, DeviceKeyRejectedError)


def test_an_expired_jwt_on_user_is_token_expired() -> None:
    with client_for(lambda r: httpx.Response(498, json={})) as client:
        with pytest.raises(TokenExpiredError):
            client.get_user("eyJexpired")


def test_sign_out_sends_delete_with_the_token_and_accepts_an_empty_answer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    with client_for(handler) as client:
        assert client.sign_out("tok-123") is None
    assert seen[0].method == "DELETE" and seen[0].url.path == "/api/v2/users/signout"
    assert seen[0].headers["X-Plex-Token"] == "tok-123"
    with client_for(lambda r: httpx.Response(200, content=b"")) as client:
        client.sign_out("tok-123")
    with client_for(lambda r: httpx.Response(401, json={})) as client:
        with pytest.raises(InvalidTokenError):
            client.sign_out("tok-123")


async def test_the_async_client_has_the_same_calls() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return {
            "/api/v2/auth/nonce": httpx.Response(200, json={"nonce": "n"}),
            "/api/v2/auth/token": httpx.Response(200, json={"auth_token": "eyJa"}),
            "/api/v2/auth/keys": httpx.Response(200, json={"keys": []}),
            "/api/v2/users/signout": httpx.Response(204),
            "/api/v2/pins": httpx.Response(201, json=PIN),
            "/api/v2/pins/7": httpx.Response(200, json=PIN),
        }[request.url.path]

    identity = ClientIdentity.create(product="t", client_identifier="client-1")
    async with AsyncPlexTvClient(identity, base_url="http://127.0.0.1:9", transport=httpx.MockTransport(handler)) as c:
        assert await c.get_nonce() == "n"
        assert await c.exchange_token(DEVICE_JWT) == "eyJa"
        assert await c.get_signing_keys() == []
        await c.sign_out("tok")
        assert (await c.create_pin(jwk=JWK)).id == 7
        assert (await c.check_pin(7, device_jwt=DEVICE_JWT)).id == 7


def test_httpx_request_logs_never_show_a_device_jwt(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    import plexpin_widget._client  # noqa: F401 (installs the filter)

    caplog.set_level(logging.INFO, logger="httpx")
    url = httpx.URL("http://127.0.0.1:9/api/v2/pins/7", params={"deviceJWT": DEVICE_JWT, "x": "1"})
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s %d %s"', "GET", url, "HTTP/1.1", 200, "OK")
    [record] = [r for r in caplog.records if r.name == "httpx"]
    assert DEVICE_JWT not in record.getMessage() and "deviceJWT=[redacted]&x=1" in record.getMessage()
