"""python-plexapi's own JWT client, ``MyPlexJWTLogin``, signs in against the emulator on loopback.

A client nobody here wrote: it makes its own key pair (with its hex ``kid``), creates the pin
with the JWK, polls with a deviceJWT, verifies the Plex JWT against ``/api/v2/auth/keys`` with
no leeway and requires more than a day left, and refreshes with a nonce. Its hard-coded
``https://clients.plex.tv`` URLs are pointed at the emulator as ``test_emulator_plexapi.py``
does for ``MyPlexPinLogin``; the emulator's clock is left at real time because plexapi checks
``iat``/``exp`` against the system clock.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from plexpin_widget import _jwk
from helpers import point_plexapi_at
from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator

myplex = pytest.importorskip("plexapi.myplex")
from plexapi.exceptions import BadRequest, Unauthorized  # noqa: E402

CLIENT = "plexapi-jwt-emulator-test"
HEADERS = {"X-Plex-Client-Identifier": CLIENT, "X-Plex-Product": "plexapi jwt test"}


@pytest.fixture
def emu() -> PlexTvEmulator:
    return PlexTvEmulator(username="jwt-user")


@pytest.fixture
def server(emu: PlexTvEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    with EmulatorServer(emu) as running:
        point_plexapi_at(monkeypatch, running.url)
        monkeypatch.setattr(myplex.MyPlexJWTLogin, "POLLINTERVAL", 0.05)
        yield running


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def _signed_in(emu: PlexTvEmulator, session: requests.Session, **options) -> object:
    """A MyPlexJWTLogin that completed its PIN login (the emulator approves at once)."""
    emu.auto_claim(0)
    login = myplex.MyPlexJWTLogin(session=session, headers=HEADERS, **options)
    login.generateKeypair()
    login.run(timeout=20)
    assert login.waitForLogin() is True, "the JWT PIN login did not complete"
    return login


def test_pin_login_verify_and_refresh(emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session) -> None:
    login = _signed_in(emu, session)
    first = login.jwtToken
    assert first and first.count(".") == 2
    assert emu.issued_jwts(CLIENT) == [first]
    # The pin was made with plexapi's JWK, with its sha256-hex kid, and no 'strong' (short code).
    device = emu.devices()[CLIENT]
    assert device["kid"] == login._keyID and len(device["kid"]) == 64
    assert device["username"] == "jwt-user"
    (pin,) = emu.pins.values()
    assert len(pin.code) == 4 and pin.auth_token == first

    assert login.verifyJWT() is True
    claims = login.decodedJWT
    assert claims["thumbprint"] == login._keyID
    assert claims["user"]["username"] == "jwt-user"
    assert claims["exp"] - claims["iat"] == 7 * 86_400

    refreshed = login.refreshJWT()
    assert refreshed != first
    assert login.verifyJWT() is True
    assert emu.issued_jwts(CLIENT) == [first, refreshed]
    log = [(entry.method, entry.path.split("?")[0], entry.status) for entry in emu.request_log(CLIENT)]
    assert ("GET", "/api/v2/auth/nonce", 200) in log
    assert ("POST", "/api/v2/auth/token", 200) in log
    assert ("GET", "/api/v2/auth/keys", 200) in log


def test_oauth_pin_login_with_a_strong_code(emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session) -> None:
    login = myplex.MyPlexJWTLogin(session=session, headers=HEADERS, oauth=True)
    login.generateKeypair()
    login.run(timeout=20)
    (pin,) = emu.pins.values()
    assert pin.is_strong and pin.code in login.oauthUrl()
    emu.claim(code=pin.code)
    assert login.waitForLogin() is True
    assert login.verifyJWT() is True


def test_the_jwt_works_as_a_token_on_plex_tv(emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session) -> None:
    login = _signed_in(emu, session)
    account = myplex.MyPlexAccount(token=login.jwtToken, session=session)
    assert account.username == "jwt-user"
    (resource,) = account.resources()
    # Field report MP240: fetched with a JWT, an owned server's accessToken is the JWT itself.
    assert resource.accessToken == login.jwtToken


def test_expired_jwt_is_refused_and_a_refresh_recovers(
    emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session
) -> None:
    login = _signed_in(emu, session)
    assert emu.expire_jwts(CLIENT) == 1
    # plexapi looks the status up in requests' table, which has no 498, and fails with a
    # TypeError instead of its own error: a real plexapi quirk a 498 from plex.tv would hit too.
    with pytest.raises((BadRequest, TypeError)):
        myplex.MyPlexAccount(token=login.jwtToken, session=session)
    assert emu.request_log(myplex.BASE_HEADERS["X-Plex-Client-Identifier"])[-1].status == 498
    fresh = login.refreshJWT()
    assert myplex.MyPlexAccount(token=fresh, session=session).username == "jwt-user"


def test_verification_survives_a_key_rotation(emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session) -> None:
    login = _signed_in(emu, session)
    old_kid = _jwk.unverified_header(login.jwtToken)["kid"]
    new_kid = emu.rotate_signing_key()
    assert [key["kid"] for key in emu.jwks()["keys"]] == [old_kid, new_kid]
    assert login.verifyJWT() is True  # the old key is still published
    login.refreshJWT()
    assert _jwk.unverified_header(login.jwtToken)["kid"] == new_kid
    emu.rotate_signing_key(keep=1)
    assert login.verifyJWT() is False  # its signing key is no longer published


def test_a_removed_device_cannot_refresh(emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session) -> None:
    login = _signed_in(emu, session)
    emu.remove_device(CLIENT)
    with pytest.raises(BadRequest, match="1097"):
        login.refreshJWT()


def test_a_short_lived_jwt_fails_plexapis_one_day_rule(
    emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session
) -> None:
    # The pitfall of reference §5: plexapi calls anything with under a day left unverified.
    emu.jwt_lifetime = 3600
    login = _signed_in(emu, session)
    assert login.verifyJWT(refreshWithinDays=0) is True
    assert login.verifyJWT() is False


def test_register_a_key_with_a_classic_token_then_refresh(
    emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session
) -> None:
    login = myplex.MyPlexJWTLogin(session=session, headers=HEADERS, token=emu.demo_token)
    login.generateKeypair()
    login.registerDevice()  # 201 with an empty body
    assert emu.devices()[CLIENT]["kid"] == login._keyID
    legacy = emu.demo_token
    token = login.refreshJWT()
    assert login.verifyJWT() is True
    assert myplex.MyPlexAccount(token=token, session=session).username == "jwt-user"
    with pytest.raises(Unauthorized):  # the legacy token expired with the first JWT (reference §8)
        myplex.MyPlexAccount(token=legacy, session=session)


def test_signout_revokes_the_jwt(emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session) -> None:
    login = _signed_in(emu, session)
    account = myplex.MyPlexAccount(token=login.jwtToken, session=session)
    account.signout()
    with pytest.raises(Unauthorized):
        myplex.MyPlexAccount(token=login.jwtToken, session=session)
    with pytest.raises(BadRequest, match="1097"):
        login.refreshJWT()
