"""python-plexapi, the reference client, logs in against the emulator served on loopback.

python-plexapi hard-codes https://plex.tv URLs as class attributes; they are pointed at the
emulator with pytest's monkeypatch (``plexapi_urls`` lists them). python-plexapi reads XML only,
so this also proves the emulator's XML shapes are what it parses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from helpers import point_plexapi_at
from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator

myplex = pytest.importorskip("plexapi.myplex")

HEADERS = {"X-Plex-Client-Identifier": "plexapi-emulator-test", "X-Plex-Product": "plexapi test"}


@pytest.fixture
def emu() -> PlexTvEmulator:
    return PlexTvEmulator(username="plexapi-user")


@pytest.fixture
def server(emu: PlexTvEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    with EmulatorServer(emu) as running:
        point_plexapi_at(monkeypatch, running.url)
        # plexapi sleeps POLLINTERVAL seconds between checks; keep the test quick.
        monkeypatch.setattr(myplex.MyPlexPinLogin, "POLLINTERVAL", 0.05)
        yield running


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def test_pin_login_completes_with_auto_claim(
    emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session
) -> None:
    emu.auto_claim(0)
    login = myplex.MyPlexPinLogin(session=session, headers=HEADERS)
    assert len(login.pin) == 4
    login.run(timeout=20)
    assert login.waitForLogin() is True
    assert login.token == emu.demo_token
    assert not login.expired
    log = emu.request_log(HEADERS["X-Plex-Client-Identifier"])
    assert log[0].method == "POST" and log[0].status == 201
    assert {entry.status for entry in log[1:]} == {200}


def test_oauth_pin_login_with_an_explicit_claim(
    emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session
) -> None:
    login = myplex.MyPlexPinLogin(session=session, headers=HEADERS, oauth=True)
    url = login.oauthUrl()
    assert "code=" in url
    (pin,) = emu.pins.values()
    assert pin.is_strong and pin.code in url
    assert not login.checkLogin()  # not approved yet
    token = emu.claim(code=pin.code)
    assert login.checkLogin() is True
    assert login.token == token


def test_expired_pin_ends_the_login(
    emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session
) -> None:
    login = myplex.MyPlexPinLogin(session=session, headers=HEADERS)
    login.pin
    emu.clock.advance(900)
    login.run(timeout=20)
    assert login.waitForLogin() is False
    assert login.expired and login.token is None


def test_account_and_resources_load_from_the_xml(
    emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session
) -> None:
    account = myplex.MyPlexAccount(token=emu.demo_token, session=session)
    assert account.username == "plexapi-user"
    assert account.authToken == emu.demo_token
    assert account.subscriptionActive is True
    assert account.subscriptionSubscribedAt is not None and account.joinedAt is not None
    assert account.roles == ["plexpass"]
    (resource,) = account.resources()
    assert resource.product == "Plex Media Server"
    assert "http://127.0.0.1:32400" in [connection.uri for connection in resource.connections]


def test_account_link_approves_a_device_pin(
    emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session
) -> None:
    account = myplex.MyPlexAccount(token=emu.demo_token, session=session)
    device = myplex.MyPlexPinLogin(session=session, headers={**HEADERS, "X-Plex-Client-Identifier": "device-2"})
    account.link(device.pin)
    assert device.checkLogin() is True
    assert device.token == emu.demo_token


def test_revoked_and_unknown_tokens_are_unauthorized(
    emu: PlexTvEmulator, server: EmulatorServer, session: requests.Session
) -> None:
    from plexapi.exceptions import Unauthorized

    with pytest.raises(Unauthorized):
        myplex.MyPlexAccount(token="not-a-token", session=session)
    token = emu.add_account("gone")
    emu.revoke(token)
    with pytest.raises(Unauthorized):  # 422 "Invalid token"
        myplex.MyPlexAccount(token=token, session=session)
