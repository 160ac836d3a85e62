"""The emulator's JWT sign-in (reference plex-jwt-auth.md §2, §11): JWK pins and the deviceJWT
exchange, nonces, refresh, the key set, key registration, sign-out, JWTs on /user and
/resources, the test hooks, on the in-process transport, on loopback and through ``handle``.

Time never passes by sleeping: nonce, pin and JWT lifetimes follow ``emu.clock.advance``, and
every device JWT here is signed on the emulator's clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from plexpin_widget import _jwk
from plexpin_widget._jwk import DeviceKey
from plexpin_widget._models import PlexResource
from plexpin_widget.emulator import (
    DEFAULT_JWT_LIFETIME,
    JWK_MISSING_CODE,
    NONCE_LIFETIME,
    NONCE_RATE_LIMIT_CODE,
    EmulatorRequest,
    EmulatorServer,
    PlexTvEmulator,
)

CID = "jwt-client-1"
JSON = {"Accept": "application/json"}
HEADERS = {"X-Plex-Client-Identifier": CID, "X-Plex-Product": "JWT Tests", **JSON}
SIGNATURE_FAILED = "Signature Verification Failed"


@pytest.fixture(params=["https://clients.plex.tv", "https://plex.tv"])
def client(request: pytest.FixtureRequest, emu: PlexTvEmulator) -> Iterator[httpx.Client]:
    # The emulator answers the JWT endpoints on both hosts' paths.
    with httpx.Client(transport=emu.transport(), base_url=request.param) as http:
        yield http


@pytest.fixture(scope="module")
def key() -> DeviceKey:
    return DeviceKey.generate()


def headers(client_id: str = CID, **extra: str) -> dict[str, str]:
    return {**HEADERS, "X-Plex-Client-Identifier": client_id, **extra}


def create_pin(client: httpx.Client, key: DeviceKey, client_id: str = CID, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v2/pins", json={"jwk": key.public_jwk, **body}, headers=headers(client_id))
    assert response.status_code == 201, response.text
    return response.json()


def device_jwt(emu: PlexTvEmulator, key: DeviceKey, client_id: str = CID, **options: Any) -> str:
    return key.sign_device_jwt(client_id, now=emu.clock.now(), **options)


def poll(client: httpx.Client, pin_id: int, jwt: str | None = None, client_id: str = CID) -> httpx.Response:
    params = {"deviceJWT": jwt} if jwt is not None else {}
    return client.get(f"/api/v2/pins/{pin_id}", params=params, headers=headers(client_id))


def signed_in(emu: PlexTvEmulator, client: httpx.Client, key: DeviceKey, client_id: str = CID) -> str:
    """A completed JWT PIN login: the Plex JWT."""
    pin = create_pin(client, key, client_id, strong=True)
    emu.claim(pin_id=pin["id"])
    response = poll(client, pin["id"], device_jwt(emu, key, client_id), client_id)
    assert response.status_code == 200, response.text
    token = response.json()["authToken"]
    assert isinstance(token, str) and token.count(".") == 2
    return token


def refresh(emu: PlexTvEmulator, client: httpx.Client, key: DeviceKey, client_id: str = CID, **sign: Any) -> httpx.Response:
    nonce = client.get("/api/v2/auth/nonce", headers=headers(client_id)).json()["nonce"]
    jwt = key.sign_device_jwt(sign.pop("iss", client_id), now=emu.clock.now(), nonce=nonce, **sign)
    return client.post("/api/v2/auth/token", json={"jwt": jwt}, headers=headers(client_id))


def errors(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    (error,) = response.json()["errors"]
    return error


# --------------------------------------------------------------------------- JWK pins


def test_a_jwk_pin_is_a_full_pin_without_a_token(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    pin = create_pin(client, key)
    assert {"id", "code", "expiresIn", "clientIdentifier", "qr", "createdAt", "expiresAt"} <= set(pin)
    assert pin["authToken"] is None
    assert len(pin["code"]) == 4 and pin["expiresIn"] == 900
    assert CID not in emu.devices()  # the key signs in as nobody until the pin is approved


def test_strong_comes_from_the_json_body(client: httpx.Client, key: DeviceKey) -> None:
    pin = create_pin(client, key, strong=True)
    assert len(pin["code"]) == 25 and pin["expiresIn"] == 1800


def test_the_exchange_hands_out_a_plex_jwt_only_with_a_valid_device_jwt(
    client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator
) -> None:
    pin = create_pin(client, key)
    assert poll(client, pin["id"], device_jwt(emu, key)).json()["authToken"] is None  # not approved yet
    classic = emu.claim(pin_id=pin["id"])
    assert emu.devices()[CID] == {"kid": key.kid, "jwk": key.public_jwk, "username": emu.username}
    # Approved but polled without deviceJWT: null, and never the classic token.
    without = poll(client, pin["id"])
    assert without.status_code == 200 and without.json()["authToken"] is None
    assert classic not in without.text
    token = poll(client, pin["id"], device_jwt(emu, key)).json()["authToken"]
    assert token.count(".") == 2 and classic not in token
    # Polling again gives the same JWT; a poll without a device JWT still shows none.
    assert poll(client, pin["id"], device_jwt(emu, key)).json()["authToken"] == token
    assert poll(client, pin["id"]).json()["authToken"] is None
    assert emu.pins[pin["id"]].auth_token == token
    assert emu.issued_jwts(CID) == [token]


@pytest.mark.parametrize(
    "forge, reason",
    [
        (lambda emu, key: DeviceKey.generate(kid=key.kid).sign_device_jwt(CID, now=emu.clock.now()), "signature"),
        (lambda emu, key: DeviceKey.generate().sign_device_jwt(CID, now=emu.clock.now()), "kid"),
        (lambda emu, key: key.sign_device_jwt("someone-else", now=emu.clock.now()), "issuer"),
        (lambda emu, key: key.sign_device_jwt(CID, now=emu.clock.now() - 301), "expired"),
        (lambda emu, key: key.sign_device_jwt(CID, now=emu.clock.now() + 60), "future"),
        (
            lambda emu, key: key.sign({"aud": "example.com", "iss": CID, "iat": int(emu.clock.now()), "exp": int(emu.clock.now()) + 60}),
            "audience",
        ),
        (lambda emu, key: key.sign({"aud": "plex.tv", "iss": CID, "iat": int(emu.clock.now())}), "'exp' claim is missing"),
        (lambda emu, key: "not.a.jwt", "base64url"),
    ],
)
def test_a_bad_device_jwt_is_refused_with_422(
    client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator, forge: Any, reason: str
) -> None:
    pin = create_pin(client, key)
    emu.claim(pin_id=pin["id"])
    response = poll(client, pin["id"], forge(emu, key))
    assert response.status_code == 422
    message = errors(response)["message"]
    assert message.startswith(SIGNATURE_FAILED) and reason in message
    assert emu.issued_jwts() == []


def test_another_client_cannot_poll_or_exchange_the_pin(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    pin = create_pin(client, key)
    emu.claim(pin_id=pin["id"])
    assert poll(client, pin["id"], device_jwt(emu, key, "intruder"), client_id="intruder").status_code == 404


@pytest.mark.parametrize(
    "jwk, words",
    [
        ({"kty": "RSA", "n": "x", "e": "AQAB", "kid": "k"}, "Ed25519"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "k"}, "32-byte"),
        ("a string", "JSON object"),
        ("no-kid", "no 'kid'"),
    ],
)
def test_a_malformed_jwk_is_400(client: httpx.Client, key: DeviceKey, jwk: Any, words: str) -> None:
    if jwk == "no-kid":
        jwk = {k: v for k, v in key.public_jwk.items() if k != "kid"}
    response = client.post("/api/v2/pins", json={"jwk": jwk}, headers=HEADERS)
    assert response.status_code == 400
    assert words in errors(response)["message"]


def test_a_kid_registered_by_another_client_is_taken(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    signed_in(emu, client, key)
    response = client.post("/api/v2/pins", json={"jwk": key.public_jwk}, headers=headers("other-client"))
    assert response.status_code == 422
    assert "Thumbprint Already Taken" in errors(response)["message"]
    assert len(create_pin(client, key)["code"]) == 4  # the same client may make new pins with it


def test_the_pin_answers_xml_unless_json_is_asked(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    pin = create_pin(client, key)
    emu.claim(pin_id=pin["id"])
    plain = {k: v for k, v in HEADERS.items() if k != "Accept"}
    response = client.get(f"/api/v2/pins/{pin['id']}", params={"deviceJWT": device_jwt(emu, key)}, headers=plain)
    assert response.headers["content-type"].startswith("application/xml")
    assert 'authToken="ey' in response.text


# --------------------------------------------------------------------------- the Plex JWT


def test_the_issued_jwt_has_the_claims_the_reference_lists(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    emu.clock.advance(12_345)  # the JWT follows the emulator's clock, not the system's
    token = signed_in(emu, client, key)
    now = emu.clock.now()
    header = _jwk.unverified_header(token)
    signing_kid = emu.jwks()["keys"][-1]["kid"]
    assert header == {"alg": "EdDSA", "kid": signing_kid, "typ": "JWT"}
    claims = _jwk.verify_plex_jwt(token, emu.jwks(), client_identifier=CID, kid=key.kid, now=now, leeway=0)
    assert claims["iss"] == "plex.tv" and claims["aud"] == ["plex.tv", CID]
    assert claims["iat"] == int(now) or claims["iat"] == int(now) - 1
    assert claims["iat"] <= now  # never in the future: python-plexapi allows no leeway
    assert claims["exp"] - claims["iat"] == DEFAULT_JWT_LIFETIME == 7 * 86_400
    assert claims["thumbprint"] == key.kid
    assert claims["scope"] == _jwk.DEFAULT_SCOPE
    user = claims["user"]
    assert user["username"] == emu.username and isinstance(user["id"], int) and user["uuid"]
    assert {"email", "friendlyName", "restricted", "joinedAt"} <= set(user)


def test_the_user_object_follows_the_scope(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    signed_in(emu, client, key)
    token = refresh(emu, client, key, scope="username").json()["auth_token"]
    user = _jwk.unverified_claims(token)["user"]
    assert set(user) == {"id", "uuid", "username"}


def test_jwt_lifetime_is_settable_in_the_constructor_and_later() -> None:
    emu = PlexTvEmulator(jwt_lifetime=600)
    key = DeviceKey.generate()
    with httpx.Client(transport=emu.transport(), base_url="https://clients.plex.tv") as client:
        claims = _jwk.unverified_claims(signed_in(emu, client, key))
        assert claims["exp"] - claims["iat"] == 600
        emu.jwt_lifetime = 30
        claims = _jwk.unverified_claims(refresh(emu, client, key).json()["auth_token"])
        assert claims["exp"] - claims["iat"] == 30
    with pytest.raises(ValueError, match="jwt_lifetime"):
        PlexTvEmulator(jwt_lifetime=0)


# --------------------------------------------------------------------------- nonce and refresh


def test_nonce_needs_a_client_identifier(client: httpx.Client) -> None:
    response = client.get("/api/v2/auth/nonce", headers=JSON)
    assert response.status_code == 422


def test_nonce_is_a_uuid_in_json(client: httpx.Client) -> None:
    response = client.get("/api/v2/auth/nonce", headers=HEADERS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert str(uuid.UUID(response.json()["nonce"])) == response.json()["nonce"]


def test_refresh_gives_a_new_jwt_each_time(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    first = signed_in(emu, client, key)
    second = refresh(emu, client, key)
    assert second.status_code == 200
    assert set(second.json()) == {"auth_token"}
    third = refresh(emu, client, key).json()["auth_token"]
    assert len({first, second.json()["auth_token"], third}) == 3
    for token in (second.json()["auth_token"], third):
        _jwk.verify_plex_jwt(token, emu.jwks(), client_identifier=CID, kid=key.kid, now=emu.clock.now())


def test_refresh_works_after_the_jwt_expired(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    old = signed_in(emu, client, key)
    emu.clock.advance(8 * 86_400)
    assert client.get("/api/v2/user", headers=headers(**{"X-Plex-Token": old})).status_code == 498
    new = refresh(emu, client, key).json()["auth_token"]
    claims = _jwk.unverified_claims(new)
    assert claims["iat"] >= int(emu.clock.now()) - 1  # issued on the emulator's (advanced) clock
    assert client.get("/api/v2/user", headers=headers(**{"X-Plex-Token": new})).status_code == 200


def test_a_nonce_is_used_once(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    signed_in(emu, client, key)
    nonce = client.get("/api/v2/auth/nonce", headers=HEADERS).json()["nonce"]
    body = {"jwt": device_jwt(emu, key, nonce=nonce)}
    assert client.post("/api/v2/auth/token", json=body, headers=HEADERS).status_code == 200
    again = client.post("/api/v2/auth/token", json={"jwt": device_jwt(emu, key, nonce=nonce)}, headers=HEADERS)
    assert again.status_code == 422 and "nonce" in errors(again)["message"]


def test_a_nonce_lives_five_minutes(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    signed_in(emu, client, key)
    nonce = client.get("/api/v2/auth/nonce", headers=HEADERS).json()["nonce"]
    emu.clock.advance(NONCE_LIFETIME + 1)
    response = client.post("/api/v2/auth/token", json={"jwt": device_jwt(emu, key, nonce=nonce)}, headers=HEADERS)
    assert response.status_code == 422 and "nonce" in errors(response)["message"]
    nonce = client.get("/api/v2/auth/nonce", headers=HEADERS).json()["nonce"]
    emu.clock.advance(299)
    response = client.post("/api/v2/auth/token", json={"jwt": device_jwt(emu, key, nonce=nonce)}, headers=HEADERS)
    assert response.status_code == 200


@pytest.mark.parametrize("nonce", [None, "made-up", "other-client"])
def test_a_missing_unknown_or_foreign_nonce_is_422(
    client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator, nonce: str | None
) -> None:
    signed_in(emu, client, key)
    if nonce == "other-client":
        nonce = client.get("/api/v2/auth/nonce", headers=headers("other-client")).json()["nonce"]
    jwt = device_jwt(emu, key) if nonce is None else device_jwt(emu, key, nonce=nonce)
    response = client.post("/api/v2/auth/token", json={"jwt": jwt}, headers=HEADERS)
    assert response.status_code == 422 and errors(response)["message"].startswith(SIGNATURE_FAILED)


def test_refresh_refusals(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    signed_in(emu, client, key)
    # iss that is not the calling client, or a client with no key: Plex code 1097.
    assert errors(refresh(emu, client, key, iss="someone-else"))["code"] == 1097
    stranger = refresh(emu, client, DeviceKey.generate(), client_id="no-such-device")
    assert stranger.status_code == 422 and errors(stranger)["code"] == 1097
    # Signed by another key under our kid: signature failure.
    bad = refresh(emu, client, DeviceKey.generate(kid=key.kid))
    assert bad.status_code == 422 and "signature" in errors(bad)["message"]
    # Malformed bodies: 400.
    assert client.post("/api/v2/auth/token", json={}, headers=HEADERS).status_code == 400
    assert client.post("/api/v2/auth/token", content=b"jwt=x", headers=HEADERS).status_code == 400
    assert client.post("/api/v2/auth/token", json={"jwt": "x"}, headers=JSON).status_code == 400  # no client id


def test_an_approved_but_unexchanged_pin_already_allows_refresh(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    # Approval registers the device; an unapproved pin's key signs in as nobody.
    other = DeviceKey.generate()
    create_pin(client, other, "waiting-device")
    assert errors(refresh(emu, client, other, client_id="waiting-device"))["code"] == 1097
    pin = create_pin(client, key)
    emu.claim(pin_id=pin["id"])
    assert refresh(emu, client, key).status_code == 200


# --------------------------------------------------------------------------- the key set


def test_keys_are_a_jwks_and_rotate(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    response = client.get("/api/v2/auth/keys", headers=JSON)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    (first,) = response.json()["keys"]
    assert set(first) == {"kty", "crv", "x", "kid", "alg", "use"} and first["alg"] == "EdDSA"
    assert first["kid"] == _jwk.jwk_thumbprint(first)
    old_token = signed_in(emu, client, key)
    new_kid = emu.rotate_signing_key()
    keys = client.get("/api/v2/auth/keys").json()["keys"]
    assert [k["kid"] for k in keys] == [first["kid"], new_kid]  # the newest last
    new_token = refresh(emu, client, key).json()["auth_token"]
    assert _jwk.unverified_header(new_token)["kid"] == new_kid
    for token in (old_token, new_token):
        _jwk.verify_plex_jwt(token, {"keys": keys}, client_identifier=CID, kid=key.kid, now=emu.clock.now())
    emu.rotate_signing_key(keep=2)
    assert len(emu.jwks()["keys"]) == 2 and first["kid"] not in [k["kid"] for k in emu.jwks()["keys"]]
    with pytest.raises(ValueError, match="keep"):
        emu.rotate_signing_key(keep=0)


# --------------------------------------------------------------------------- /api/v2/auth/jwk


def test_register_a_key_with_a_classic_token(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    response = client.post(
        "/api/v2/auth/jwk", json={"jwk": key.public_jwk}, headers=headers(**{"X-Plex-Token": emu.demo_token})
    )
    assert response.status_code == 201 and response.content == b""
    assert emu.devices()[CID]["username"] == emu.username
    legacy = emu.demo_token
    assert client.get("/api/v2/user", headers=headers(**{"X-Plex-Token": legacy})).status_code == 200
    token = refresh(emu, client, key).json()["auth_token"]
    assert _jwk.verify_plex_jwt(token, emu.jwks(), client_identifier=CID, kid=key.kid, now=emu.clock.now())
    # "Your legacy token will expire after this process": minting the first JWT ends it.
    assert client.get("/api/v2/user", headers=headers(**{"X-Plex-Token": legacy})).status_code == 401
    assert emu.demo_token != legacy
    assert refresh(emu, client, key).status_code == 200


def test_register_refusals(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    body = {"jwk": key.public_jwk}
    assert client.post("/api/v2/auth/jwk", json=body, headers=HEADERS).status_code == 401
    auth = headers(**{"X-Plex-Token": emu.demo_token})
    assert client.post("/api/v2/auth/jwk", json={"jwk": {"kty": "OKP"}}, headers=auth).status_code == 400
    assert client.post("/api/v2/auth/jwk", json={}, headers=auth).status_code == 400
    assert client.post("/api/v2/auth/jwk", json=body, headers=auth).status_code == 201
    taken = client.post("/api/v2/auth/jwk", json=body, headers=headers("other", **{"X-Plex-Token": emu.demo_token}))
    assert taken.status_code == 422 and "Thumbprint Already Taken" in errors(taken)["message"]


# --------------------------------------------------------------------------- using the JWT


def test_user_and_resources_accept_a_jwt(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    shared = PlexResource(name="Friend's server", client_identifier="shared-1", provides=("server",), owned=False, access_token="shared-token-123456789")
    emu.add_resource(emu.demo_token, shared)
    token = signed_in(emu, client, key)
    auth = headers(**{"X-Plex-Token": token})
    user = client.get("/api/v2/user", headers=auth)
    assert user.status_code == 200 and user.json()["username"] == emu.username
    devices = {d["name"]: d for d in client.get("/api/v2/resources", headers=auth).json()}
    # MP240 (§8): an owned server's accessToken is the JWT itself; a shared one keeps its own.
    assert devices["Demo Server"]["accessToken"] == token
    assert devices["Friend's server"]["accessToken"] == "shared-token-123456789"
    classic = client.get("/api/v2/resources", headers=headers(**{"X-Plex-Token": emu.demo_token})).json()
    assert token not in json.dumps(classic)


def test_an_expired_jwt_gets_498(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    token = signed_in(emu, client, key)
    auth = headers(**{"X-Plex-Token": token})
    emu.clock.advance(7 * 86_400 - 1)
    assert client.get("/api/v2/user", headers=auth).status_code == 200
    emu.clock.advance(1)
    for path in ("/api/v2/user", "/api/v2/resources"):
        response = client.get(path, headers=auth)
        assert response.status_code == 498 and errors(response)["message"] == "Token Expired"


def test_the_expire_hook_makes_jwts_answer_498(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    mine = signed_in(emu, client, key)
    theirs = signed_in(emu, client, DeviceKey.generate(), client_id="other-device")
    assert emu.expire_jwts(CID) == 1
    assert client.get("/api/v2/user", headers=headers(**{"X-Plex-Token": mine})).status_code == 498
    assert client.get("/api/v2/user", headers=headers(**{"X-Plex-Token": theirs})).status_code == 200
    assert emu.expire_jwts() == 2


def test_an_unknown_jwt_is_401(client: httpx.Client, key: DeviceKey) -> None:
    forged = key.sign({"iss": "plex.tv", "aud": ["plex.tv", CID], "iat": 1, "exp": 2**40})
    assert client.get("/api/v2/user", headers=headers(**{"X-Plex-Token": forged})).status_code == 401


def test_removing_a_device_stops_refresh_and_its_jwts(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    token = signed_in(emu, client, key)
    emu.remove_device(CID)
    assert CID not in emu.devices()
    response = refresh(emu, client, key)
    assert response.status_code == 422 and errors(response)["code"] == JWK_MISSING_CODE == 1097
    assert client.get("/api/v2/user", headers=headers(**{"X-Plex-Token": token})).status_code == 401
    with pytest.raises(KeyError):
        emu.remove_device(CID)


def test_removing_a_device_may_leave_its_jwts_working(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    token = signed_in(emu, client, key)
    emu.remove_device(CID, revoke_tokens=False)
    assert client.get("/api/v2/user", headers=headers(**{"X-Plex-Token": token})).status_code == 200
    assert errors(refresh(emu, client, key))["code"] == 1097


# --------------------------------------------------------------------------- sign-out


def test_signout_revokes_a_jwt_and_its_device(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    token = signed_in(emu, client, key)
    auth = headers(**{"X-Plex-Token": token})
    response = client.delete("/api/v2/users/signout", headers=auth)
    assert response.status_code == 204
    assert client.get("/api/v2/user", headers=auth).status_code == 401
    assert errors(refresh(emu, client, key))["code"] == 1097
    assert client.delete("/api/v2/users/signout", headers=auth).status_code == 401


def test_signout_revokes_a_classic_token(client: httpx.Client, emu: PlexTvEmulator) -> None:
    token = emu.add_account("leaving")
    auth = headers(**{"X-Plex-Token": token})
    assert client.delete("/api/v2/users/signout", headers=auth).status_code == 204
    later = client.get("/api/v2/user", headers=auth)
    assert later.status_code == 401 and errors(later)["code"] == 1001
    assert client.delete("/api/v2/users/signout", headers=auth).status_code == 401
    assert client.delete("/api/v2/users/signout", headers=HEADERS).status_code == 401


def test_signing_out_the_demo_token_gives_the_account_a_new_one(client: httpx.Client, emu: PlexTvEmulator) -> None:
    old = emu.demo_token
    assert client.delete("/api/v2/users/signout", headers=headers(**{"X-Plex-Token": old})).status_code == 204
    assert emu.demo_token != old
    # New pins are still approved, with the new token; the old one stays dead.
    pin = client.post("/api/v2/pins", headers=HEADERS).json()
    assert emu.claim(pin_id=pin["id"]) == emu.demo_token
    assert client.get("/api/v2/user", headers=headers(**{"X-Plex-Token": old})).status_code == 401
    emu.reset()
    assert emu.demo_token == old


# --------------------------------------------------------------------------- hooks, faults, transports


def test_reset_forgets_devices_and_jwts_but_keeps_the_signing_keys(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    token = signed_in(emu, client, key)
    keys = emu.jwks()
    emu.reset()
    assert emu.devices() == {} and emu.issued_jwts() == []
    assert emu.jwks() == keys
    assert client.get("/api/v2/user", headers=headers(**{"X-Plex-Token": token})).status_code == 401


def test_faults_force_errors_on_the_jwt_endpoints(client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator) -> None:
    signed_in(emu, client, key)
    emu.faults.add("rate_limit", path_prefix="/api/v2/auth/nonce", retry_after=7, code=1003)
    limited = client.get("/api/v2/auth/nonce", headers=HEADERS)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7" and errors(limited)["code"] == 1003
    emu.faults.add("status", path_prefix="/api/v2/auth/token", status=422, code=1097, message="jwk missing")
    assert errors(refresh(emu, client, key))["code"] == 1097
    emu.faults.add("status", path_prefix="/api/v2/user", status=498, message="Token Expired")
    assert client.get("/api/v2/user", headers=headers(**{"X-Plex-Token": emu.demo_token})).status_code == 498
    assert refresh(emu, client, key).status_code == 200  # each fault fired once


def test_handle_answers_without_any_transport(emu: PlexTvEmulator, key: DeviceKey) -> None:
    body = json.dumps({"jwk": key.public_jwk}).encode()
    created = emu.handle(EmulatorRequest("POST", "/api/v2/pins", headers=HEADERS, body=body))
    assert created.status == 201
    pin_id = json.loads(created.body)["id"]
    emu.claim(pin_id=pin_id)
    query = "deviceJWT=" + device_jwt(emu, key)
    checked = emu.handle(EmulatorRequest("GET", f"/api/v2/pins/{pin_id}", query=query, headers=HEADERS))
    assert checked.status == 200 and json.loads(checked.body)["authToken"] == emu.issued_jwts(CID)[0]


def test_loopback_server_serves_the_jwt_flow_and_the_jwt_hooks(emu: PlexTvEmulator, key: DeviceKey) -> None:
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.url) as http:
        token = signed_in(emu, http, key)
        assert http.get("/__emulator__/jwt/devices").json()[CID]["kid"] == key.kid
        assert http.get("/__emulator__/jwt/issued", params={"client_identifier": CID}).json() == {"tokens": [token]}
        assert http.get("/__emulator__/jwt/keys").json() == http.get("/api/v2/auth/keys").json()
        assert http.post("/__emulator__/jwt/lifetime", json={"seconds": 120}).json() == {"seconds": 120}
        fresh = refresh(emu, http, key).json()["auth_token"]
        claims = _jwk.unverified_claims(fresh)
        assert claims["exp"] - claims["iat"] == 120
        kid = http.post("/__emulator__/jwt/rotate", json={}).json()["kid"]
        assert emu.jwks()["keys"][-1]["kid"] == kid
        assert http.post("/__emulator__/jwt/expire", json={"client_identifier": CID}).json() == {"expired": 2}
        assert http.get("/api/v2/user", headers=headers(**{"X-Plex-Token": fresh})).status_code == 498
        assert http.post("/__emulator__/jwt/remove-device", json={"client_identifier": CID}).status_code == 204
        assert errors(refresh(emu, http, key))["code"] == 1097
        assert http.post("/__emulator__/jwt/remove-device", json={"client_identifier": CID}).status_code == 404
        assert http.post("/__emulator__/jwt/lifetime", json={"seconds": 0}).status_code == 400
        assert http.get("/__emulator__/jwt/nope").status_code == 404


async def test_async_transport_serves_the_jwt_flow(emu: PlexTvEmulator, key: DeviceKey) -> None:
    async with httpx.AsyncClient(transport=emu.transport(), base_url="https://clients.plex.tv") as http:
        pin = (await http.post("/api/v2/pins", json={"jwk": key.public_jwk}, headers=HEADERS)).json()
        emu.claim(pin_id=pin["id"])
        checked = await http.get(f"/api/v2/pins/{pin['id']}", params={"deviceJWT": device_jwt(emu, key)}, headers=HEADERS)
        token = checked.json()["authToken"]
        assert _jwk.verify_plex_jwt(token, emu.jwks(), client_identifier=CID, kid=key.kid, now=emu.clock.now())


def test_the_emulator_runs_classic_logins_without_pyjwt() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["jwt"] = None
        import httpx
        from plexpin_widget.emulator import PlexTvEmulator
        emu = PlexTvEmulator()
        emu.auto_claim(0)
        with httpx.Client(transport=emu.transport(), base_url="https://plex.tv") as http:
            h = {"X-Plex-Client-Identifier": "c", "Accept": "application/json"}
            pin = http.post("/api/v2/pins", headers=h).json()
            assert http.get(f"/api/v2/pins/{pin['id']}", headers=h).json()["authToken"] == emu.demo_token
            assert http.get("/api/v2/user", headers={**h, "X-Plex-Token": emu.demo_token}).status_code == 200
            print(http.get("/api/v2/auth/keys", headers=h).status_code)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "500"  # a JWT endpoint, without the jwt extra


# --------------------------------------------------------------------------- the media server stand-in


def _pms_get(pms: Any, token: str, path: str = "/library/sections") -> httpx.Response:
    with httpx.Client(transport=pms.transport(), base_url="http://127.0.0.1:32400") as http:
        return http.get(path, headers={"X-Plex-Token": token})


def test_the_media_server_refuses_a_plex_jwt_by_default_and_a_switch_lets_it_in(
    client: httpx.Client, key: DeviceKey, emu: PlexTvEmulator
) -> None:
    from plexpin_widget.emulator.pms import PlexMediaServerEmulator

    pms = PlexMediaServerEmulator(emu)
    token = signed_in(emu, client, key)
    # What /api/v2/resources hands out for the owned server is this JWT (MP240)...
    (server,) = [d for d in client.get("/api/v2/resources", headers=headers(**{"X-Plex-Token": token})).json() if d["owned"]]
    assert server["clientIdentifier"] == pms.machine_identifier and server["accessToken"] == token
    # ...and the server answers it the way field reports say: an HTML 401 page.
    refused = _pms_get(pms, token)
    assert refused.status_code == 401 and "401 Unauthorized" in refused.text
    assert _pms_get(pms, emu.demo_token).status_code == 200  # the classic token still works
    pms.accept_jwt = True
    assert _pms_get(pms, token).status_code == 200
    emu.expire_jwts(CID)
    assert _pms_get(pms, token).status_code == 401  # an expired JWT is still refused
    fresh = refresh(emu, client, key).json()["auth_token"]
    assert _pms_get(pms, fresh).status_code == 200
    client.delete("/api/v2/users/signout", headers=headers(**{"X-Plex-Token": fresh}))
    assert _pms_get(pms, fresh).status_code == 401  # and so is a signed-out one


def test_the_media_server_jwt_switch_in_the_constructor_and_over_http(emu: PlexTvEmulator, key: DeviceKey) -> None:
    from plexpin_widget.emulator.pms import PlexMediaServerEmulator

    pms = PlexMediaServerEmulator(emu, accept_jwt=True)
    with httpx.Client(transport=emu.transport(), base_url="https://clients.plex.tv") as plex_tv:
        token = signed_in(emu, plex_tv, key)
    stranger = PlexMediaServerEmulator(accept_jwt=True)  # no plex.tv behind it: nobody's JWT is known
    assert _pms_get(pms, token).status_code == 200
    assert _pms_get(stranger, token).status_code == 401
    with pms.server() as served, httpx.Client(base_url=served.url) as http:
        assert http.post("/__emulator__/accept-jwt", json={"accept": False}).json() == {"accept": False}
        assert http.get("/library/sections", headers={"X-Plex-Token": token}).status_code == 401
        assert http.post("/__emulator__/accept-jwt", json={"accept": "yes"}).status_code == 400
        assert http.post("/__emulator__/accept-jwt", json={"accept": True}).status_code == 200
        assert http.get("/library/sections", headers={"X-Plex-Token": token}).status_code == 200


def test_python_plexapi_reaches_the_media_server_with_a_jwt_only_when_switched_on(emu: PlexTvEmulator, key: DeviceKey) -> None:
    from plexapi.exceptions import Unauthorized
    from plexapi.server import PlexServer

    from plexpin_widget.emulator.pms import PlexMediaServerEmulator

    pms = PlexMediaServerEmulator(emu)
    with httpx.Client(transport=emu.transport(), base_url="https://clients.plex.tv") as plex_tv:
        token = signed_in(emu, plex_tv, key)
    with pms.server() as served:
        with pytest.raises(Unauthorized):
            PlexServer(served.url, token, timeout=10)
        pms.accept_jwt = True
        assert PlexServer(served.url, token, timeout=10).friendlyName == pms.name


def test_command_line_sets_the_jwt_lifetime_and_the_media_servers_jwt_switch(key: DeviceKey) -> None:
    import re
    import signal

    from helpers import emulator_process

    with emulator_process("--jwt-lifetime", "60", "--pms-accept-jwt") as process:
        assert process.stdout is not None
        plex_tv = re.fullmatch(r"plex\.tv emulator listening on (\S+)", process.stdout.readline().strip())
        pms = re.search(r"listening on (http://\S+)$", process.stdout.readline().strip())
        assert plex_tv and pms
        with httpx.Client(base_url=plex_tv.group(1)) as http:
            pin = create_pin(http, key)
            # The emulator runs on the real clock here, so signing with the system clock is right.
            jwt = poll(http, pin["id"], key.sign_device_jwt(CID)).json()["authToken"]
            claims = _jwk.unverified_claims(jwt)
            assert claims["exp"] - claims["iat"] == 60
            answer = http.get(pms.group(1) + "/library/sections", headers={"X-Plex-Token": jwt})
            assert answer.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_nonces_may_be_rate_limited_per_client() -> None:
    emu = PlexTvEmulator(nonce_rate_limit=(2, 60))
    with httpx.Client(transport=emu.transport(), base_url="https://clients.plex.tv") as http:
        assert [http.get("/api/v2/auth/nonce", headers=HEADERS).status_code for _ in range(2)] == [200, 200]
        limited = http.get("/api/v2/auth/nonce", headers=HEADERS)
        assert limited.status_code == 429 and errors(limited)["code"] == NONCE_RATE_LIMIT_CODE == 1003
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert http.get("/api/v2/auth/nonce", headers=headers("another-client")).status_code == 200
        assert http.get("/api/v2/auth/keys", headers=HEADERS).status_code == 200  # only nonces count
        emu.clock.advance(60)
        assert http.get("/api/v2/auth/nonce", headers=HEADERS).status_code == 200
    with pytest.raises(ValueError, match="nonce_rate_limit"):
        PlexTvEmulator(nonce_rate_limit=(0, 1))
