"""``PlexPinLogin(jwt=True)`` end to end, in-process, against the tests' fake JWT plex.tv.

Sign-in with a device key, the verified Plex JWT as ``token``, ``token_expires_at``, refreshes
scheduled by the flow (observers see each new token; the old one stays through faults), a
removed device falling back to a code, the device key remembered (never a JWT) in 0600 files,
and revocation on sign-out.
"""

from __future__ import annotations

import datetime as dt
import json
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fake_jwt_plextv import FakeJwtPlexTv
from helpers import apoll_until, poll_until
from plexpin_widget import PlexPinLogin
from plexpin_widget import _device_auth
from plexpin_widget._errors import ConfigurationError, JwtUnavailableError
from plexpin_widget._jwk import unverified_claims, unverified_header
from test_store import MemoryKeyring, memory_keyring  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("new_process")



@pytest.fixture
def fake() -> FakeJwtPlexTv:
    return FakeJwtPlexTv()


@pytest.fixture
def make_jwt_login(fake: FakeJwtPlexTv, make_login: Callable[..., PlexPinLogin]) -> Callable[..., PlexPinLogin]:
    """``make_login`` (conftest) with ``jwt=True``, talking to the fake JWT plex.tv."""

    def make(**kwargs: Any) -> PlexPinLogin:
        kwargs.setdefault("transport", fake.transport())
        kwargs.setdefault("base_url", "http://127.0.0.1:9")
        kwargs.setdefault("jwt", True)
        return make_login(**kwargs)

    return make


def approve_when_shown(fake: FakeJwtPlexTv, login: PlexPinLogin) -> None:
    poll_until(lambda: login.code, what="a code")
    fake.approve()


def every_file(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


# --------------------------------------------------------------------------- sign-in


def test_jwt_pin_login_gives_a_verified_plex_jwt(fake: FakeJwtPlexTv, make_jwt_login: Callable[..., PlexPinLogin]) -> None:
    login = make_jwt_login()
    approve_when_shown(fake, login)
    token = login.wait(10)
    assert token == login.token and token in fake.issued
    assert login.status == "authorized" and login.user is not None and login.user.username == "kim"
    claims = unverified_claims(token)
    assert unverified_header(token)["alg"] == "EdDSA"
    device = fake.devices[login.client_identifier]
    assert claims["thumbprint"] == device["kid"] and "d" not in device
    assert fake.calls("/api/v2/auth/keys") == 1  # checked against plex.tv's keys before use
    expires = login.token_expires_at
    assert isinstance(expires, dt.datetime) and expires.utcoffset() == dt.timedelta(0)
    assert expires == dt.datetime.fromtimestamp(claims["exp"], dt.timezone.utc)
    # Neither the token nor its expiry is synced to the browser.
    assert not login.trait_metadata("token", "sync") and not login.trait_metadata("token_expires_at", "sync")
    assert token not in repr(login) and token not in json.dumps(login.get_state(), default=repr)


def test_classic_stays_the_default(make_login: Callable[..., PlexPinLogin], emu: Any) -> None:
    emu.auto_claim(0)
    login = make_login()
    login.wait(10)
    assert not login.jwt and login.token_expires_at is None


def test_jwt_without_pyjwt_fails_at_construction_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, private_config: Path
) -> None:
    monkeypatch.setitem(sys.modules, "jwt", None)  # `import jwt` now raises ImportError
    with pytest.raises(JwtUnavailableError, match=r"plexpin-widget\[jwt\]"):
        PlexPinLogin(jwt=True, autostart=False)


def test_jwt_refuses_a_token_argument(private_config: Path) -> None:
    with pytest.raises(ConfigurationError, match="token"):
        PlexPinLogin(jwt=True, token="abc", autostart=False)
    with pytest.raises(ConfigurationError, match="jwt"):
        PlexPinLogin(jwt="yes", autostart=False)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- refresh


async def test_refresh_before_expiry_notifies_observers(fake: FakeJwtPlexTv, make_jwt_login: Callable[..., PlexPinLogin]) -> None:
    fake.lifetime = 3  # seconds: the refresh is due after 2.4 s
    login = make_jwt_login()
    seen: list[str | None] = []
    login.observe(lambda change: seen.append(change["new"]), names="token")
    await apoll_until(lambda: login.code, what="a code")
    fake.approve()
    first = await login.wait_async(10)
    await apoll_until(lambda: login.token != first and login.token is not None, timeout=10, what="a refresh")
    assert seen[:2] == [first, login.token]
    assert fake.calls("/api/v2/auth/nonce") >= 1 and fake.calls("/api/v2/auth/token", "POST") >= 1
    assert login.token_expires_at is not None
    assert login.token_expires_at > dt.datetime.fromtimestamp(unverified_claims(first)["exp"], dt.timezone.utc) - dt.timedelta(seconds=1)
    assert login.status == "authorized" and login.error == ""


async def test_faults_during_refresh_keep_the_old_token(fake: FakeJwtPlexTv, make_jwt_login: Callable[..., PlexPinLogin]) -> None:
    fake.lifetime = 3
    login = make_jwt_login()
    await apoll_until(lambda: login.code, what="a code")
    fake.approve()
    first = await login.wait_async(10)
    fake.fail("/api/v2/auth/nonce", 503, times=2)
    fake.fail("/api/v2/auth/token", "drop", times=1)
    tokens: list[str | None] = []
    login.observe(lambda change: tokens.append(change["new"]), names="token")
    await apoll_until(lambda: login.error != "", timeout=10, what="a reported fault")
    assert login.token == first and login.status == "authorized"
    await apoll_until(lambda: login.token != first, timeout=20, what="a refresh after the faults")
    assert None not in tokens  # the old token was never dropped on the way
    assert login.error == ""


async def test_a_removed_device_ends_the_sign_in_and_offers_a_new_code(
    fake: FakeJwtPlexTv, make_jwt_login: Callable[..., PlexPinLogin]
) -> None:
    fake.lifetime = 3
    login = make_jwt_login()
    await apoll_until(lambda: login.code, what="a code")
    fake.approve()
    await login.wait_async(10)
    old_kid = fake.devices[login.client_identifier]["kid"]
    fake.remove_device(login.client_identifier)
    await apoll_until(lambda: login.status == "waiting" and login.code, timeout=10, what="a new code")
    assert login.token is None and login.token_expires_at is None
    assert "no longer accepts" in login.notice and "Authorized Devices" in login.notice
    # The new pin carries a new key.
    assert fake.devices[login.client_identifier]["kid"] != old_kid
    fake.approve()
    await login.wait_async(10)
    assert login.status == "authorized" and login.token is not None


# --------------------------------------------------------------------------- remember


def test_remember_keeps_the_device_key_and_never_a_jwt(
    fake: FakeJwtPlexTv, make_jwt_login: Callable[..., PlexPinLogin], private_config: Path
) -> None:
    login = make_jwt_login(remember=True)
    approve_when_shown(fake, login)
    token = login.wait(10)
    assert "device key" in login.notice
    files = every_file(private_config)
    key_files = [p for p in files if p.parent.name == "device-keys"]
    assert len(key_files) == 1
    for path in files:
        assert token not in path.read_text(errors="replace")
        if sys.platform != "win32" and path.name != "client_identifier":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    if sys.platform != "win32":
        assert stat.S_IMODE(key_files[0].parent.stat().st_mode) == 0o700
    pins_before = fake.calls("/api/v2/pins", "POST")
    login.close()

    # A "new process": no key in memory; the remembered key signs in by refreshing, no code.
    _device_auth._forget_process_state()
    again = make_jwt_login()
    second = again.wait(10)
    assert second != token and again.status == "authorized" and again.remember
    assert fake.calls("/api/v2/pins", "POST") == pins_before
    assert again.pin is None and "device key remembered" in again.notice


def test_a_remembered_key_for_a_removed_device_falls_back_to_a_code(
    fake: FakeJwtPlexTv, make_jwt_login: Callable[..., PlexPinLogin], private_config: Path
) -> None:
    login = make_jwt_login(remember=True)
    approve_when_shown(fake, login)
    login.wait(10)
    client = login.client_identifier
    login.close()
    _device_auth._forget_process_state()
    fake.remove_device(client)
    again = make_jwt_login()
    poll_until(lambda: again.code, timeout=10, what="a code after the refusal")
    assert "no longer accepts" in again.notice and "deleted" in again.notice
    assert not [p for p in every_file(private_config) if p.parent.name == "device-keys"]


# --------------------------------------------------------------------------- sign-out


def test_sign_out_revokes_the_jwt_and_deletes_the_key(
    fake: FakeJwtPlexTv, make_jwt_login: Callable[..., PlexPinLogin], private_config: Path
) -> None:
    login = make_jwt_login(remember=True)
    approve_when_shown(fake, login)
    token = login.wait(10)
    login.sign_out()
    assert token in fake.revoked
    assert "plex.tv revoked the token" in login.notice and "deleted" in login.notice
    assert login.token is None and login.token_expires_at is None
    assert not [p for p in every_file(private_config) if p.parent.name == "device-keys"]
    assert token not in login.notice


def test_sign_out_when_plex_tv_is_unreachable_still_deletes_and_says_so(
    fake: FakeJwtPlexTv, make_jwt_login: Callable[..., PlexPinLogin], private_config: Path
) -> None:
    login = make_jwt_login(remember=True)
    approve_when_shown(fake, login)
    token = login.wait(10)
    fake.fail("/api/v2/users/signout", "drop")
    login.sign_out()
    assert token not in fake.revoked
    assert "NOT revoked" in login.notice and "NetworkError" in login.notice
    assert not [p for p in every_file(private_config) if p.parent.name == "device-keys"]


def test_sign_out_revokes_a_classic_token(make_login: Callable[..., PlexPinLogin], emu: Any) -> None:
    fake = FakeJwtPlexTv()
    login = make_login(transport=fake.transport(), base_url="http://127.0.0.1:9")
    approve_when_shown(fake, login)
    token = login.wait(10)
    assert token.startswith("classic-")
    login.sign_out()
    assert token in fake.revoked and "plex.tv revoked the token" in login.notice


def test_in_a_script_wait_renews_a_token_that_is_due(
    fake: FakeJwtPlexTv, make_jwt_login: Callable[..., PlexPinLogin]
) -> None:
    fake.lifetime = 2  # the renewal is due after 1.6 s
    login = make_jwt_login()
    approve_when_shown(fake, login)
    first = login.wait(10)
    assert login.wait(10) == first  # not due yet: the same token, at once
    poll_until(lambda: login.wait(10) != first, timeout=10, what="a renewal through wait()")
    assert login.token in fake.issued and fake.calls("/api/v2/auth/token", "POST") == 1


def test_with_a_keyring_the_key_goes_there_and_no_jwt_anywhere(
    fake: FakeJwtPlexTv, make_jwt_login: Callable[..., PlexPinLogin], private_config: Path,
    memory_keyring: MemoryKeyring,
) -> None:
    login = make_jwt_login(remember=True)
    approve_when_shown(fake, login)
    token = login.wait(10)
    poll_until(lambda: "keyring" in login.notice, what="the key in the keyring")
    [(name, value)] = [(user, secret) for (_service, user), secret in memory_keyring.entries.items()]
    assert name.endswith(" device-key") and "d" in json.loads(value)
    assert not any(jwt in value for jwt in fake.issued)
    for path in every_file(private_config):
        assert token not in path.read_text(errors="replace") and '"d"' not in path.read_text(errors="replace")
    login.close()
    _device_auth._forget_process_state()
    again = make_jwt_login()
    assert again.wait(10) != token and again.pin is None
    again.sign_out()
    assert memory_keyring.entries == {}


async def test_in_a_notebook_sign_out_revokes_without_blocking_the_loop(
    fake: FakeJwtPlexTv, make_jwt_login: Callable[..., PlexPinLogin]
) -> None:
    login = make_jwt_login()
    await apoll_until(lambda: login.code, what="a code")
    fake.approve()
    token = await login.wait_async(10)
    login.sign_out()
    assert login.token is None and "Revoking the token at plex.tv" in login.notice
    await apoll_until(lambda: "plex.tv revoked the token" in login.notice, what="the revocation")
    assert token in fake.revoked
