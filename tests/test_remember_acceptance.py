"""Acceptance: remember me, then a new Python process signs in without a code and reaches a server.

Process 1 (this one) signs in through the loopback emulator and ticks "Remember me on this
computer". Process 2 (a subprocess with the same PLEXPIN_CONFIG_DIR) makes a fresh widget: it
must be signed in at once, without asking for a code, and ``login.server()`` must hand back a
python-plexapi ``PlexServer`` connected to the fake Plex Media Server.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fake_pms import FakePlexMediaServer

from plexpin_widget import PlexPinLogin
from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator

SECOND_PROCESS = textwrap.dedent(
    """
    import hashlib, json, sys
    import ipywidgets as widgets
    from plexpin_widget import PlexPinLogin

    login = PlexPinLogin(product="Acceptance", base_url=sys.argv[1])
    token = login.wait(20)
    states, todo, seen = [], [login], set()
    while todo:  # every synced state the browser would get
        widget = todo.pop()
        if widget.model_id in seen:
            continue
        seen.add(widget.model_id)
        states.append(widget.get_state())
        for key in widget.keys:
            value = getattr(widget, key)
            todo += [v for v in (value if isinstance(value, (list, tuple)) else [value])
                     if isinstance(v, widgets.Widget)]
    server = login.server()
    print(json.dumps({
        "status": login.status,
        "code": login.code,
        "remember": login.remember,
        "user": login.user.username,
        "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
        "token_in_synced_state": token in json.dumps(states, default=repr),
        "server_class": type(server).__module__ + "." + type(server).__name__,
        "friendly_name": server.friendlyName,
        "machine": server.machineIdentifier,
    }))
    login.close()
    """
)


@pytest.fixture
def emu() -> PlexTvEmulator:
    emulator = PlexTvEmulator()
    emulator.auto_claim(0)
    return emulator


def test_remembered_sign_in_in_a_new_process_reaches_the_server(
    private_config: Path, emu: PlexTvEmulator, served: EmulatorServer
) -> None:
    with FakePlexMediaServer("Fake PMS") as pms:
        emu.add_resource(emu.demo_token, pms.resource())

        first = PlexPinLogin(product="Acceptance", poll_interval=0.05, base_url=served.url)
        try:
            token = first.wait(10)
            first._view.remember_box.value = True  # the person ticks "Remember me on this computer"
            assert "Remembered on this computer" in first.notice
            client_identifier = first.client_identifier
        finally:
            first.close()
        pins_before = [r for r in emu.request_log() if r.path == "/api/v2/pins"]
        assert len(pins_before) == 1
        log_before = len(emu.request_log())

        env = dict(os.environ, PLEXPIN_CONFIG_DIR=str(private_config), PLEXPIN_KEYRING="0")
        for name in ("PLEX_TOKEN", "PLEXPIN_BASE_URL", "PLEXPIN_CLIENT_IDENTIFIER"):
            env.pop(name, None)
        result = subprocess.run(
            [sys.executable, "-c", SECOND_PROCESS, served.url],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        outcome = json.loads(result.stdout.strip().splitlines()[-1])

    assert outcome["status"] == "authorized"
    assert outcome["code"] == ""
    assert outcome["remember"] is True
    assert outcome["user"] == emu.username
    assert outcome["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert outcome["token_in_synced_state"] is False
    assert token not in result.stdout and token not in result.stderr
    # No code was asked for: the second process only read the account and its servers.
    second = emu.request_log()[log_before:]
    assert [r.path for r in second] == ["/api/v2/user", "/api/v2/resources"]
    assert {r.client_identifier for r in second} == {client_identifier}
    assert outcome["server_class"] == "plexapi.server.PlexServer"
    assert outcome["friendly_name"] == "Fake PMS" and outcome["machine"] == pms.machine
    assert set(pms.tokens_seen) == {pms.token}
