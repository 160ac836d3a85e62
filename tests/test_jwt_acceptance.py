"""``jwt=True`` against the project's plex.tv emulator: in-process, on loopback, in a second
process with the remembered device key, and through ``plexpin login --jwt`` / ``plexpin logout``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path


import pytest

from helpers import apoll_until, creations, poll_until
from plexpin_widget import InvalidTokenError, PlexPinLogin, PlexTvClient
from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator

pytestmark = pytest.mark.usefixtures("new_process")

CLI = [sys.executable, "-m", "plexpin_widget._cli"]


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def assert_no_jwt_in_files(emu: PlexTvEmulator, folder: Path) -> None:
    jwts = emu.issued_jwts()
    assert jwts, "no JWT was issued, so the search proves nothing"
    for path in files_under(folder):
        text = path.read_bytes().decode("latin-1")
        assert not any(token in text for token in jwts), path
        if sys.platform != "win32" and path.name != "client_identifier":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    if sys.platform != "win32":
        for key_folder in {p.parent for p in files_under(folder) if p.parent.name == "device-keys"}:
            assert stat.S_IMODE(key_folder.stat().st_mode) == 0o700


# --------------------------------------------------------------------------- in-process


def test_jwt_pin_login_end_to_end(emu: PlexTvEmulator, make_login: Callable[..., PlexPinLogin]) -> None:
    emu.auto_claim(0)
    login = make_login(jwt=True)
    token = login.wait(15)
    assert token in emu.issued_jwts(login.client_identifier)
    assert emu.devices()[login.client_identifier]["kid"] == login._session.device.current_key.kid  # type: ignore[union-attr]
    assert login.user is not None and login.token_expires_at is not None
    assert any(r.path == "/api/v2/auth/keys" for r in emu.request_log(login.client_identifier))


async def test_refresh_on_the_emulator_with_faults(emu: PlexTvEmulator, make_login: Callable[..., PlexPinLogin]) -> None:
    emu.jwt_lifetime = 3
    emu.auto_claim(0)
    login = make_login(jwt=True)
    tokens: list[str | None] = []
    login.observe(lambda change: tokens.append(change["new"]), names="token")
    first = await login.wait_async(15)
    emu.faults.sequence([503, "drop", 503], path_prefix="/api/v2/auth/")
    await apoll_until(lambda: len([t for t in tokens if t]) >= 3, timeout=30, what="two refreshes")
    assert None not in tokens and tokens[0] == first and len(set(tokens)) == len(tokens)
    issued = emu.issued_jwts(login.client_identifier)
    assert all(token in issued for token in tokens)
    assert login.status == "authorized"


async def test_a_removed_device_on_the_emulator_falls_back_to_a_code(
    emu: PlexTvEmulator, make_login: Callable[..., PlexPinLogin]
) -> None:
    emu.jwt_lifetime = 3
    emu.auto_claim(0)
    login = make_login(jwt=True)
    await login.wait_async(15)
    emu.auto_claim(None)
    emu.remove_device(login.client_identifier)
    await apoll_until(lambda: login.status == "waiting" and login.code, timeout=15, what="a new code")
    assert login.token is None and "no longer accepts" in login.notice


def test_sign_out_revokes_classic_and_jwt_tokens_on_the_emulator(
    emu: PlexTvEmulator, make_login: Callable[..., PlexPinLogin]
) -> None:
    emu.auto_claim(0)
    for jwt in (False, True):
        login = make_login(jwt=jwt, client_identifier=f"revoke-{jwt}")
        token = login.wait(15)
        login.sign_out()
        assert "plex.tv revoked the token" in login.notice
        with PlexTvClient(client_identifier=f"revoke-{jwt}", base_url=login.base_url, transport=emu.transport()) as c:
            with pytest.raises(InvalidTokenError):
                c.get_user(token)


# --------------------------------------------------------------------------- a second process

SECOND_PROCESS = textwrap.dedent(
    """
    import json, sys
    from plexpin_widget import PlexPinLogin

    login = PlexPinLogin(product="JWT acceptance", base_url=sys.argv[1], jwt=True)
    token = login.wait(20)
    print(json.dumps({"status": login.status, "code": login.code, "pin": login.pin is not None,
                      "notice": login.notice, "remember": login.remember, "token": token,
                      "user": login.user.username}))
    login.close()
    """
)


def test_remembered_key_signs_in_a_second_process_with_no_code(
    private_config: Path, emu: PlexTvEmulator, served: EmulatorServer
) -> None:
    emu.auto_claim(0)
    first = PlexPinLogin(product="JWT acceptance", base_url=served.url, jwt=True, remember=True, poll_interval=0.05)
    try:
        first.wait(15)
        poll_until(lambda: "device key" in first.notice, what="the key remembered")
    finally:
        first.close()
    client = first.client_identifier
    posts = len(creations(emu, client))
    env = cli_env(private_config)
    done = subprocess.run([sys.executable, "-c", SECOND_PROCESS, served.url], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["status"] == "authorized" and not seen["pin"] and seen["code"] == ""
    assert seen["remember"] and "device key remembered" in seen["notice"]
    assert seen["token"] in emu.issued_jwts(client)
    assert len(creations(emu, client)) == posts  # no code was asked for
    assert_no_jwt_in_files(emu, private_config)


# --------------------------------------------------------------------------- the terminal


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=60)


def cli_env(config: Path) -> dict[str, str]:
    """This environment, with the test's config folder, the file store and no PLEX_TOKEN."""
    env = {**os.environ, "PLEXPIN_CONFIG_DIR": str(config), "PLEXPIN_KEYRING": "0"}
    env.pop("PLEX_TOKEN", None)
    return env


def test_cli_login_jwt_print_token_remember_and_logout(
    private_config: Path, emu: PlexTvEmulator, served: EmulatorServer
) -> None:
    emu.auto_claim(0.2)
    env = cli_env(private_config)
    target = ["--base-url", served.url, "--client-identifier", "cli-jwt"]
    printed = run(["login", "--jwt", "--print-token", "--remember", *target], env)
    assert printed.returncode == 0, printed.stderr
    token = printed.stdout.strip()
    assert printed.stdout == token + "\n" and token in emu.issued_jwts("cli-jwt")
    assert "device key (not the token)" in printed.stderr and token not in printed.stderr
    assert_no_jwt_in_files(emu, private_config)
    posts = len(creations(emu, "cli-jwt"))
    again = run(["login", "--jwt", "--print-token", *target], env)
    assert again.returncode == 0, again.stderr
    assert len(creations(emu, "cli-jwt")) == posts and "device key remembered" in again.stderr
    renewed = again.stdout.strip()
    assert renewed != token and renewed in emu.issued_jwts("cli-jwt")
    out = run(["logout", *target], env)
    assert out.returncode == 0, out.stderr
    assert "revoked" in out.stderr and "Forgot" in out.stderr
    assert not [p for p in files_under(private_config) if p.parent.name == "device-keys"]


def test_cli_logout_revokes_a_remembered_classic_token(
    private_config: Path, emu: PlexTvEmulator, served: EmulatorServer
) -> None:
    emu.auto_claim(0.2)
    env = cli_env(private_config)
    target = ["--base-url", served.url, "--client-identifier", "cli-classic"]
    token = run(["login", "--print-token", "--remember", *target], env).stdout.strip()
    out = run(["logout", *target], env)
    assert "plex.tv revoked the remembered token" in out.stderr
    with PlexTvClient(client_identifier="cli-classic", base_url=served.url) as client:
        with pytest.raises(InvalidTokenError):
            client.get_user(token)


def test_cli_logout_when_plex_tv_is_unreachable_still_forgets(private_config: Path) -> None:
    from fake_pms import closed_port
    from plexpin_widget._store import TokenStore

    base = f"http://127.0.0.1:{closed_port()}"
    TokenStore().save("classic-remembered-1", "cli-offline", base)
    env = cli_env(private_config)
    out = run(["logout", "--base-url", base, "--client-identifier", "cli-offline"], env)
    assert out.returncode == 0
    assert "NOT revoked" in out.stderr and "Forgot" in out.stderr
    assert TokenStore().load("cli-offline", base) is None
    assert "classic-remembered-1" not in out.stderr


def test_cli_jwt_without_pyjwt_is_a_usage_error_naming_the_extra(private_config: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "nojwt"
    blocker.mkdir()
    (blocker / "jwt.py").write_text("raise ImportError('hidden for this test')\n")
    env = {**cli_env(private_config), "PYTHONPATH": str(blocker)}
    out = run(["login", "--jwt", "--base-url", "http://127.0.0.1:9"], env)
    assert out.returncode == 2 and "plexpin-widget[jwt]" in out.stderr




# --------------------------------------------------------------------------- servers with a JWT


def test_server_with_a_jwt_explains_the_401_and_works_when_the_server_accepts_jwts(
    emu: PlexTvEmulator, make_login: Callable[..., PlexPinLogin]
) -> None:
    from plexpin_widget import ServerConnectionError
    from plexpin_widget._account import JWT_SERVER_HINT
    from plexpin_widget.emulator.pms import PlexMediaServerEmulator

    pms = PlexMediaServerEmulator(emu)
    emu.auto_claim(0)
    login = make_login(jwt=True)
    token = login.wait(15)
    with pms.server():
        with pytest.raises(ServerConnectionError) as refused:
            login.server()
        text = str(refused.value)
        assert JWT_SERVER_HINT in text and "without jwt=True" in text and token not in text
        pms.accept_jwt = True
        assert login.server().machineIdentifier == pms.machine_identifier
    classic = make_login(client_identifier="classic-server")
    classic.wait(15)
    with pms.server():
        assert classic.server().machineIdentifier == pms.machine_identifier


def test_a_498_on_the_account_read_is_met_with_a_refresh(
    emu: PlexTvEmulator, make_login: Callable[..., PlexPinLogin]
) -> None:
    emu.auto_claim(0)
    emu.faults.add("status", path_prefix="/api/v2/user", status=498, count=1)
    login = make_login(jwt=True)
    token = login.wait(15)
    issued = emu.issued_jwts(login.client_identifier)
    assert len(issued) == 2 and token == issued[-1]  # the pin's JWT, then the refreshed one
    assert login.user is not None and login.status == "authorized"


def test_cli_with_a_remembered_key_of_a_removed_device_falls_back_to_a_code(
    private_config: Path, emu: PlexTvEmulator, served: EmulatorServer
) -> None:
    emu.auto_claim(0.2)
    env = cli_env(private_config)
    target = ["--base-url", served.url, "--client-identifier", "cli-removed"]
    assert run(["login", "--jwt", "--remember", *target], env).returncode == 0
    emu.remove_device("cli-removed")
    posts = len(creations(emu, "cli-removed"))
    again = run(["login", "--jwt", "--print-token", *target], env)
    assert again.returncode == 0, again.stderr
    assert "no longer accepts this device's key" in again.stderr
    assert "Deleted the device key remembered on this computer" in again.stderr
    assert len(creations(emu, "cli-removed")) == posts + 1  # signed in with a new code
    assert again.stdout.strip() in emu.issued_jwts("cli-removed")
