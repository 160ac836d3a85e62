"""The token hunt for the JWT sign-in: every Plex JWT and the device's private key, looked for
everywhere a person, a browser, a log or a saved notebook could see them.

Paths (in-process, against the tests' fake JWT plex.tv): a JWT sign-in with a code that remembers the device key, refreshes under faults (short
lifetimes), a sign-in with the remembered key, a removed device falling back to a code, and a
sign-out. The device JWTs the login signs are hunted too. Places: as in ``test_leak_hunt.py`` (synced state of every widget, saved-notebook
forms, mime bundles, reprs and strs, DEBUG logs of every logger, error texts), plus the store.

A JWT may be found only in the ``token`` trait; the private key only in the remembered store.
Both places are also checked to hold them, so the hunt is known to be able to find them.

Then a notebook run by nbclient against the emulator on loopback (sign-in, a refresh, the
remembered key) is saved with its widget state and searched for every JWT the emulator issued
and for the private key.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest

from fake_jwt_plextv import FakeJwtPlexTv
from helpers import apoll_until
from plexpin_widget import PlexPinLogin
from plexpin_widget import _device_auth
from plexpin_widget._jwk import DeviceKey
from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator
from test_leak_hunt import Hunt, execute_and_save, snapshot

pytestmark = pytest.mark.usefixtures("new_process")

POLL = 0.05


async def test_no_jwt_or_private_key_outside_where_they_belong(
    private_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="plexpin_widget")
    fake = FakeJwtPlexTv(lifetime=3)
    hunt = Hunt()
    private_keys: list[str] = []
    logins: list[PlexPinLogin] = []

    def widget(**kwargs: object) -> PlexPinLogin:
        login = PlexPinLogin(product="JWT leak hunt", base_url="http://127.0.0.1:9", poll_interval=POLL,
                             transport=fake.transport(), jwt=True, **kwargs)  # type: ignore[arg-type]
        logins.append(login)
        return login

    def remember_key(login: PlexPinLogin) -> None:
        key = login._session.device.current_key  # type: ignore[union-attr]
        assert key is not None
        private_keys.append(json.loads(key.to_jwk_bytes())["d"])

    def read_store() -> None:
        stored = [p for p in private_config.rglob("*") if p.is_file()]
        hunt.add("remembered store", [p.read_bytes() for p in stored])

    try:
        # 1. A code, remembering the device key; then refreshes, some under faults.
        first = widget(remember=True)
        await apoll_until(lambda: first.code, what="a code")
        snapshot(hunt, "waiting", first)
        fake.approve()
        await first.wait_async(10)
        remember_key(first)
        snapshot(hunt, "signed in", first)
        read_store()
        fake.fail("/api/v2/auth/nonce", 503, times=2)
        fake.fail("/api/v2/auth/token", "drop")
        await apoll_until(lambda: first.error != "", timeout=10, what="a fault during refresh")
        snapshot(hunt, "refresh fault", first)
        hunt.add("error text", first.error)
        before = first.token
        await apoll_until(lambda: first.token != before, timeout=20, what="a refresh after faults")
        snapshot(hunt, "refreshed", first)
        first.close()

        # 2. A new "process" signs in with the remembered key.
        _device_auth._forget_process_state()
        again = widget()
        await again.wait_async(10)
        assert again.pin is None
        snapshot(hunt, "remembered key", again)

        # 3. The device is removed: the login falls back to a code (and a new key).
        fake.remove_device(again.client_identifier)
        await apoll_until(lambda: again.code, timeout=10, what="a code after the removal")
        snapshot(hunt, "removed", again)
        fake.approve()
        await again.wait_async(10)
        remember_key(again)
        snapshot(hunt, "signed in again", again)
        read_store()

        # 4. Sign out, once with plex.tv unreachable.
        fake.fail("/api/v2/users/signout", "drop")
        again.sign_out()
        snapshot(hunt, "signed out", again)
    finally:
        for login in logins:
            await login.aclose()
    assert not list((private_config / "device-keys").glob("*.json")), "sign-out deleted the key"
    hunt.add("log output at DEBUG", caplog.text)
    hunt.add("log output at DEBUG", [record.getMessage() for record in caplog.records])
    # Our requests go straight to httpx's transport (see _client._ClientBase), so the request log
    # that names each one is the client's own; httpx's client layer logs only what else uses it.
    assert any(r.name == "plexpin_widget.client" for r in caplog.records), "the request log was not captured"

    assert len(fake.issued) >= 4 and len(private_keys) == 2
    trait_places = set()
    for token in fake.issued:
        where = hunt.where(token)
        assert {p for p in where if not p.startswith("token trait")} == set(), where
        trait_places |= where
    assert {"token trait (signed in)", "token trait (refreshed)", "token trait (remembered key)"} <= trait_places
    # The device JWTs (each good for a Plex JWT within its 5 minutes) are nowhere either,
    # though a pin check's URL carries one.
    assert fake.device_jwts
    for device_jwt in fake.device_jwts:
        assert hunt.where(device_jwt) == set(), hunt.where(device_jwt)
    # Each private key is in the store (while remembered) and nowhere else.
    for secret in private_keys:
        assert hunt.where(secret) == {"remembered store"}, hunt.where(secret)


# --------------------------------------------------------------------------- a saved notebook

NOTEBOOK_CELLS = [
    "import hashlib, logging, os\n"
    "logging.basicConfig(level=logging.DEBUG, force=True)\n"
    "from plexpin_widget import PlexPinLogin",
    "login = PlexPinLogin(product='JWT leak hunt', poll_interval=0.05, remember=True, jwt=True)\nlogin",
    "token = await login.wait_async(timeout=60)\n"
    "print('signed in; sha256', hashlib.sha256(token.encode()).hexdigest())",
    "import asyncio\n"
    "for _ in range(1000):\n"
    "    if login.token != token and 'device key' in login.notice:\n"
    "        break\n"
    "    await asyncio.sleep(0.02)\n"
    "print('refreshed:', login.token != token)\n"
    "login",
    "login.user, login.pin, login.token_expires_at, repr(login), login.error, login.notice",
    "again = PlexPinLogin(product='JWT leak hunt', poll_interval=0.05, jwt=True)\n"
    "await again.wait_async(timeout=30)\n"
    "print('remembered key used:', again.pin is None)\nagain",
]


@pytest.mark.kernel
def test_no_jwt_or_private_key_in_an_executed_notebook(private_config: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    emu = PlexTvEmulator(jwt_lifetime=3)
    emu.auto_claim(0.3)
    with EmulatorServer(emu) as server:
        monkeypatch.setenv("PLEXPIN_BASE_URL", server.url)
        saved, outputs, widget_state = execute_and_save(NOTEBOOK_CELLS, tmp_path)
    assert "refreshed: True" in outputs and "remembered key used: True" in outputs and "DEBUG" in outputs
    assert widget_state.get("state"), "no widget state was stored, so it was not searched"
    tokens = emu.issued_jwts()
    assert len(tokens) >= 3
    for token in tokens:
        assert token not in saved and base64.b64encode(token.encode()).decode() not in saved
    key_files = list((private_config / "device-keys").glob("*.json"))
    assert len(key_files) == 1
    private = json.loads(DeviceKey.load(json.loads(key_files[0].read_text())["device_key"]).to_jwk_bytes())["d"]
    assert private not in saved
