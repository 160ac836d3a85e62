"""The widget with token sources and "Remember me": sign-in without a code, rejection, sign-out.

Every test talks to the in-process emulator and keeps its config (client identifier and
remembered tokens) in a temporary folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import keyring
import keyring.backend
import pytest

from plexpin_widget import PlexPinLogin
from plexpin_widget._store import TokenStore
from plexpin_widget.emulator import PlexTvEmulator
from helpers import poll_until

pytestmark = pytest.mark.usefixtures("private_config")

POLL = 0.05


@pytest.fixture
def emu() -> PlexTvEmulator:
    emulator = PlexTvEmulator()
    emulator.auto_claim(0)
    return emulator


def pin_requests(emu: PlexTvEmulator) -> int:
    return sum(1 for r in emu.request_log() if r.method == "POST" and r.path.startswith("/api/v2/pins"))


def synced_state(root: widgets.Widget) -> list[dict[str, Any]]:
    """The synced state of ``root`` and every widget it refers to (what a front end would hold)."""
    seen: dict[str, widgets.Widget] = {}

    def walk(widget: widgets.Widget) -> None:
        if widget.model_id in seen:
            return
        seen[widget.model_id] = widget
        for key in widget.keys:
            value = getattr(widget, key)
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, widgets.Widget):
                    walk(item)

    walk(root)
    return [w.get_state() for w in seen.values()]


def drive_until(login: PlexPinLogin, condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Without an event loop only wait() drives the flow: wait in short slices until ``condition``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s (status {login.status})")
        try:
            login.wait(0.05)
        except TimeoutError:
            pass


def assert_secret_nowhere(login: PlexPinLogin, token: str) -> None:
    states = synced_state(login)
    assert len(states) > 10  # the walk reached the children, not just the box
    dump = json.dumps(states, default=lambda value: repr(value))
    assert token not in dump
    bundle = login._repr_mimebundle_()
    assert token not in json.dumps(bundle)
    assert token not in repr(login)


def remember_once(make_login: Callable[..., PlexPinLogin]) -> str:
    first = make_login(remember=True)
    token = first.wait(5)
    poll_until(lambda: "Remembered" in first.notice, what="the token being remembered")
    first.close()
    return token


# --------------------------------------------------------------------------- remembering


def test_remember_is_off_by_default(make_login: Callable[..., PlexPinLogin], private_config: Path) -> None:
    login = make_login()
    login.wait(5)
    assert login.remember is False
    assert login._view.remember_box.value is False
    assert TokenStore().load(login.client_identifier, login.base_url) is None
    assert not (private_config / "tokens").exists() or not any((private_config / "tokens").iterdir())


def test_remembered_sign_in_needs_no_code(make_login: Callable[..., PlexPinLogin], emu: PlexTvEmulator) -> None:
    token = remember_once(make_login)
    assert pin_requests(emu) == 1

    again = make_login()
    assert again.wait(5) == token
    assert again.status == "authorized"
    assert again.code == "" and again.auth_url == ""
    assert again.user is not None and again.user.username == emu.username
    assert pin_requests(emu) == 1  # no second code was asked for
    assert again.remember is True and again._view.remember_box.value is True
    assert "remembered on this computer" in again.notice
    assert f"Signed in as <b>{emu.username}</b>" in again._view.signed_in.value
    assert_secret_nowhere(again, token)


def test_ticking_after_sign_in_stores_and_unticking_deletes(
    make_login: Callable[..., PlexPinLogin], private_config: Path
) -> None:
    login = make_login()
    token = login.wait(5)
    store = TokenStore()
    assert store.load(login.client_identifier, login.base_url) is None
    login._view.remember_box.value = True  # what a click in the browser does
    assert login.remember is True
    assert store.load(login.client_identifier, login.base_url).token == token  # type: ignore[union-attr]
    assert "Remembered on this computer" in login._view.notice.value
    assert str(private_config) not in login.notice  # a home folder's path would name its owner
    login._view.remember_box.value = False
    assert store.load(login.client_identifier, login.base_url) is None
    assert "no longer remembers" in login.notice
    assert_secret_nowhere(login, token)


def test_remembered_token_is_keyed_by_base_url(make_login: Callable[..., PlexPinLogin], emu: PlexTvEmulator) -> None:
    remember_once(make_login)
    other = PlexTvEmulator()
    login = make_login(transport=other.transport(), base_url="http://127.0.0.1:9", autostart=False)
    assert login._initial_token() is None  # the entry for the first base URL is not offered here


def test_rejected_remembered_token_is_deleted_and_a_code_shown(
    make_login: Callable[..., PlexPinLogin], emu: PlexTvEmulator
) -> None:
    token = remember_once(make_login)
    emu.revoke(token)
    emu.auto_claim(None)
    login = make_login()
    drive_until(login, lambda: login.status == "waiting")
    assert login.status == "waiting" and login.code
    assert login._session.flow.token_rejected is True
    assert TokenStore().load(login.client_identifier, login.base_url) is None
    assert "deleted" in login.notice
    assert login.token is None


def test_unverifiable_remembered_token_is_kept(make_login: Callable[..., PlexPinLogin], emu: PlexTvEmulator) -> None:
    token = remember_once(make_login)
    emu.faults.add("status", path_prefix="/api/v2/user", status=503, count=None)
    login = make_login()
    assert login.status == "authorized"
    assert login.token == token
    assert login._session.flow.verified is False
    assert "could not be verified" in login.error
    assert TokenStore().load(login.client_identifier, login.base_url).token == token  # type: ignore[union-attr]
    assert_secret_nowhere(login, token)


def test_sign_out_button_deletes_and_says_so(make_login: Callable[..., PlexPinLogin], emu: PlexTvEmulator) -> None:
    token = remember_once(make_login)
    login = make_login()
    login.wait(5)
    seen: list[object] = []
    login.observe(lambda change: seen.append(change["new"]), names="token")
    assert login._view.signout_button.layout.display is None  # shown while signed in
    login._view.signout_button.click()
    assert login.status == "idle" and login.token is None and login.user is None
    assert seen == [None]
    assert TokenStore().load(login.client_identifier, login.base_url) is None
    assert "Signed out" in login.notice and "deleted" in login.notice
    assert "Signed out" in login._view.notice.value
    assert login._view.restart_button.layout.display is None  # offers to sign in again
    assert login._view.signout_button.layout.display == "none"
    assert login.remember is False
    # Signing in again asks for a code, and gets a new token: sign-out revoked the old one at
    # plex.tv, and the emulator's account was given a new one, as the next sign-in would be.
    before = pin_requests(emu)
    login.restart()
    assert login.wait(5) == emu.demo_token != token
    assert pin_requests(emu) == before + 1
    assert login.notice == ""


def test_sign_out_mentions_a_still_set_env_token(
    make_login: Callable[..., PlexPinLogin], emu: PlexTvEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLEX_TOKEN", emu.demo_token)
    login = make_login()
    assert login.wait(5) == emu.demo_token
    assert "PLEX_TOKEN" in login.notice
    login.sign_out()
    assert "PLEX_TOKEN is still set" in login.notice


# --------------------------------------------------------------------------- other sources


def test_token_argument_signs_in_without_a_code(make_login: Callable[..., PlexPinLogin], emu: PlexTvEmulator) -> None:
    token = emu.add_account("alice")
    login = make_login(token=token)
    assert login.wait(5) == token
    assert login.user is not None and login.user.username == "alice"
    assert pin_requests(emu) == 0
    assert login.notice == "Signed in with the token= argument."
    assert_secret_nowhere(login, token)


def test_token_argument_wins_over_env(
    make_login: Callable[..., PlexPinLogin], emu: PlexTvEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLEX_TOKEN", emu.add_account("env-user"))
    login = make_login(token=emu.add_account("arg-user"))
    login.wait(5)
    assert login.user is not None and login.user.username == "arg-user"


def test_rejected_argument_token_starts_a_code(make_login: Callable[..., PlexPinLogin], emu: PlexTvEmulator) -> None:
    login = make_login(token="not-a-real-token")
    token = login.wait(5)
    assert token == emu.demo_token
    assert pin_requests(emu) == 1
    assert login._session.flow.token_rejected is True


def test_remember_true_keeps_an_argument_token(make_login: Callable[..., PlexPinLogin], emu: PlexTvEmulator) -> None:
    token = emu.add_account("bob")
    login = make_login(token=token, remember=True)
    login.wait(5)
    assert TokenStore().load(login.client_identifier, login.base_url).token == token  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", [{"remember": "yes"}, {"token": ""}, {"token": "with space"}])
def test_bad_arguments_are_named(make_login: Callable[..., PlexPinLogin], bad: dict[str, Any]) -> None:
    from plexpin_widget import ConfigurationError

    with pytest.raises(ConfigurationError) as info:
        make_login(**bad)
    assert info.value.name == next(iter(bad))


# --------------------------------------------------------------------------- keyring


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = -10  # type: ignore[assignment]  # never picked by keyring's own discovery

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username))


def test_remembered_in_a_keyring(
    make_login: Callable[..., PlexPinLogin], emu: PlexTvEmulator, monkeypatch: pytest.MonkeyPatch, private_config: Path
) -> None:
    monkeypatch.delenv("PLEXPIN_KEYRING")
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        token = remember_once(make_login)
        assert list(backend.entries.values()) == [token]
        files = list((private_config / "tokens").iterdir())
        assert [f.suffix for f in files] == [".keyring"]  # only the marker, no token on disk
        assert all(token not in f.read_text() for f in files)
        login = make_login()
        assert login.status == "authorized" and login.token == token
        assert pin_requests(emu) == 1
        login.sign_out()
        assert backend.entries == {}
    finally:
        keyring.set_keyring(previous)


async def test_remember_inside_an_event_loop(make_login: Callable[..., PlexPinLogin], emu: PlexTvEmulator) -> None:
    # As in a notebook kernel: the flow runs as a task on the running loop.
    first = make_login(remember=True)
    token = await first.wait_async(5)
    assert "Remembered on this computer" in first.notice
    first.close()
    second = make_login()
    assert await second.wait_async(5) == token
    assert second.status == "authorized" and second.code == ""
    assert pin_requests(emu) == 1
    assert_secret_nowhere(second, token)
