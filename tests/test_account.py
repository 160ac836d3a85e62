"""After sign-in: resources, the python-plexapi account and server hand-off, connection order.

Servers are :class:`fake_pms.FakePlexMediaServer` instances on loopback, registered as resources
of the emulator's demo account; unreachable connections point at closed loopback ports, so
nothing leaves this machine.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_pms import FakePlexMediaServer, closed_port, server_resource

from plexpin_widget import LoginError, PlexPinLogin
from plexpin_widget._account import (
    PlexApiMissingError,
    ServerConnectionError,
    ServerNotFoundError,
    _rebase,
    _session_for,
    choose_servers,
    connection_plan,
)
from plexpin_widget._models import Connection
from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator

pytestmark = pytest.mark.usefixtures("private_config")


@pytest.fixture
def emu() -> PlexTvEmulator:
    emulator = PlexTvEmulator()
    emulator.auto_claim(0)
    return emulator


@pytest.fixture
def pms() -> Iterator[FakePlexMediaServer]:
    with FakePlexMediaServer("Fake PMS") as server:
        yield server


@pytest.fixture
def signed_in(emu: PlexTvEmulator) -> Iterator[PlexPinLogin]:
    login = PlexPinLogin(product="Account tests", poll_interval=0.05, transport=emu.transport())
    login.wait(5)
    yield login
    login.close()


def conn(uri: str, *, local: bool = False, relay: bool = False, ipv6: bool = False) -> Connection:
    protocol = uri.split(":", 1)[0]
    return Connection(uri=uri, protocol=protocol, local=local, relay=relay, ipv6=ipv6)


# --------------------------------------------------------------------------- pure choices


def test_connection_order_local_remote_relay() -> None:
    resource = server_resource(
        "S", "m", "t",
        [
            conn("https://relay.example:8443", relay=True),
            conn("http://10.0.0.2:32400", local=True),
            conn("https://remote.example:32400"),
            conn("http://[fe80::1]:32400", local=True, ipv6=True),
            conn("https://local.example:32400", local=True),
            conn("http://198.51.100.7:32400"),
        ],
    )
    assert [c.uri for c in connection_plan(resource)] == [
        "https://local.example:32400",
        "http://10.0.0.2:32400",
        "http://[fe80::1]:32400",
        "https://remote.example:32400",
        "http://198.51.100.7:32400",
        "https://relay.example:8443",
    ]


def test_shared_server_is_not_tried_on_its_owners_lan() -> None:
    resource = server_resource(
        "Friend", "m", "t",
        [conn("http://192.168.1.5:32400", local=True), conn("https://friend.example:32400")],
        owned=False,
    )
    assert [c.uri for c in connection_plan(resource)] == ["https://friend.example:32400"]


def test_choose_servers_by_name_or_machine_identifier() -> None:
    mine = server_resource("Living Room", "machine-1", "t", [])
    shared = server_resource("Friend", "machine-2", "t", [], owned=False)
    assert choose_servers([shared, mine], "living room") == [mine]
    assert choose_servers([shared, mine], "machine-2") == [shared]
    assert choose_servers([shared, mine], None) == [mine, shared]  # owned first
    import dataclasses

    away = dataclasses.replace(mine, name="Away", public_address_matches=False)
    offline = dataclasses.replace(away, name="Off", presence=False)
    assert [r.name for r in choose_servers([offline, shared, away, mine], None)] == [
        "Living Room", "Away", "Off", "Friend"
    ]
    with pytest.raises(ServerNotFoundError, match="'Living Room', 'Friend'|'Friend', 'Living Room'"):
        choose_servers([shared, mine], "Attic")
    with pytest.raises(ServerNotFoundError, match="no Plex Media Server"):
        choose_servers([], None)


def test_plex_tv_urls_are_rebased_for_an_emulator() -> None:
    base = "http://127.0.0.1:32500"
    assert _rebase("https://plex.tv/api/v2/user?x=1", base) == "http://127.0.0.1:32500/api/v2/user?x=1"
    session = _session_for(base)
    rebasing = session.get_adapter("https://plex.tv/api/v2/user")
    assert session.get_adapter("https://clients.plex.tv/api/v2/resources") is rebasing
    assert session.get_adapter("https://vod.provider.plex.tv/hubs") is rebasing
    assert session.get_adapter("http://127.0.0.1:32400/") is not rebasing
    assert session.get_adapter("https://notplex.tv/") is not rebasing
    # Against the real plex.tv nothing is rewritten.
    real = _session_for("https://plex.tv")
    assert type(real.get_adapter("https://plex.tv/api")).__name__ == "HTTPAdapter"


# --------------------------------------------------------------------------- resources and servers


def test_resources_lists_the_account_servers(
    signed_in: PlexPinLogin, emu: PlexTvEmulator, pms: FakePlexMediaServer
) -> None:
    emu.add_resource(emu.demo_token, pms.resource())
    names = [r.name for r in signed_in.resources()]
    assert names == ["Demo Server", "Fake PMS"]
    fake = signed_in.resources()[1]
    assert fake.access_token == pms.token and fake.connections[0].uri == pms.url


def test_server_uses_the_best_working_connection_and_its_own_token(
    signed_in: PlexPinLogin, emu: PlexTvEmulator, pms: FakePlexMediaServer
) -> None:
    dead = closed_port()
    emu.add_resource(
        emu.demo_token,
        pms.resource([
            conn(f"http://127.0.0.1:{dead}", local=True),   # best, but down
            conn(pms.url),                                    # remote: answers
            conn(f"http://127.0.0.1:{dead}", relay=True),
        ]),
    )
    server = signed_in.server("fake pms")
    from plexapi.server import PlexServer

    assert isinstance(server, PlexServer)
    assert server.friendlyName == "Fake PMS"
    assert server.machineIdentifier == pms.machine
    assert server._baseurl == pms.url
    assert pms.tokens_seen and set(pms.tokens_seen) == {pms.token}  # never the account token
    assert signed_in.token not in pms.tokens_seen


def test_server_error_names_every_connection_and_why(
    signed_in: PlexPinLogin, emu: PlexTvEmulator, pms: FakePlexMediaServer
) -> None:
    local, remote, relay = (f"http://127.0.0.1:{closed_port()}" for _ in range(3))
    wrong = FakePlexMediaServer("Impostor").start()
    try:
        emu.add_resource(
            emu.demo_token,
            server_resource(
                "Broken", "machine-broken", pms.token,
                [conn(relay, relay=True), conn(remote), conn(local, local=True), conn(pms.url), conn(wrong.url)],
            ),
        )
        with pytest.raises(ServerConnectionError) as info:
            signed_in.server("Broken")
    finally:
        wrong.stop()
    error = info.value
    assert [(a.kind, a.uri) for a in error.attempts] == [
        ("local", local), ("remote", remote), ("remote", pms.url), ("remote", wrong.url), ("relay", relay)
    ]
    reasons = {a.uri: a.reason for a in error.attempts}
    assert "could not connect" in reasons[local]
    assert "different server" in reasons[pms.url]  # answered, but as another machine
    assert "Unauthorized" in reasons[wrong.url]  # the impostor refuses Broken's token
    message = str(error)
    for uri in (local, remote, relay, pms.url, wrong.url):
        assert uri in message
    assert signed_in.token not in message and pms.token not in message


def test_unknown_server_name(signed_in: PlexPinLogin) -> None:
    with pytest.raises(ServerNotFoundError, match="Demo Server"):
        signed_in.server("Nope")


def test_not_signed_in_yet(emu: PlexTvEmulator) -> None:
    emu.auto_claim(None)
    login = PlexPinLogin(product="Account tests", transport=emu.transport())
    try:
        for call in (login.resources, login.account, login.server):
            with pytest.raises(LoginError, match="not signed in"):
                call()
    finally:
        login.close()


# --------------------------------------------------------------------------- python-plexapi account


def test_account_is_a_plexapi_account_talking_to_the_emulator(
    emu: PlexTvEmulator, served: EmulatorServer, pms: FakePlexMediaServer
) -> None:
    from plexapi.myplex import MyPlexAccount

    emu.add_resource(emu.demo_token, pms.resource())
    login = PlexPinLogin(product="Account tests", poll_interval=0.05, base_url=served.url)
    try:
        login.wait(5)
        before = len(emu.request_log())
        account = login.account()
        assert isinstance(account, MyPlexAccount)
        assert account.username == emu.username
        assert account.authToken == login.token
        resources = {r.name: r for r in account.resources()}
        assert set(resources) == {"Demo Server", "Fake PMS"}
        assert resources["Fake PMS"].accessToken == pms.token
        # Both went to the emulator (not plex.tv), saying who we are.
        new = emu.request_log()[before:]
        assert [r.path for r in new] == ["/api/v2/user", "/api/v2/resources"]
        assert {r.client_identifier for r in new} == {login.client_identifier}
        # And the server hand-off works over the same loopback emulator.
        assert login.server("Fake PMS").friendlyName == "Fake PMS"
    finally:
        login.close()


def test_without_plexapi_the_error_says_what_to_install(
    signed_in: PlexPinLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "plexapi" or m.startswith("plexapi.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plexapi", None)  # makes `import plexapi` fail
    call: Callable[[], Any]
    for call in (signed_in.account, signed_in.server):
        with pytest.raises(ImportError) as info:
            call()
        assert isinstance(info.value, PlexApiMissingError)
        assert 'pip install "plexpin_widget[plexapi]"' in str(info.value)
    # resources() does not need python-plexapi.
    assert signed_in.resources()
