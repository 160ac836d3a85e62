"""When plex.tv cannot be reached: the widget says so in words, keeps retrying, and its
"Try again now" button sends the next request at once.

The poll interval is 30 s, so the backoff puts the next try at least 30 s away; a request
arriving within the 10 s the tests wait can only be the one "Try again now" asked for.
"""

from __future__ import annotations

import html
import re
import threading
from typing import Any

import pytest

from plexpin_widget._identity import ClientIdentity
from plexpin_widget._session import LoginSession
from plexpin_widget._view import ViewState, fallback_text, view_parts
from plexpin_widget.emulator import PlexTvEmulator
from helpers import apoll_until, creations
from test_widget import html_values, part, shown

pytestmark = pytest.mark.usefixtures("private_config")

SLOW_POLL = 30.0


def unreachable(emu: PlexTvEmulator) -> None:
    """Every pin request is hung up on without an answer, as with no network."""
    emu.faults.add("drop", method="POST", path_prefix="/api/v2/pins", count=None)


async def test_the_widget_says_it_cannot_reach_plex_tv_and_retries_at_once(make_login: Any, emu: PlexTvEmulator) -> None:
    unreachable(emu)
    login = make_login(poll_interval=SLOW_POLL)
    await apoll_until(lambda: "Can't reach plex.tv" in login.error, timeout=10, what="the unreachable notice")
    assert re.fullmatch(r"Can't reach plex\.tv — retrying in \d+ s…", login.error), login.error
    assert login.status == "requesting" and login.token is None
    assert html.escape(login.error) in part(login, "error").value and shown(login, "error")
    assert shown(login, "retry") and shown(login, "cancel") and not shown(login, "restart")
    first = login.error
    await apoll_until(lambda: login.error != first, timeout=5, what="the notice counting down")
    assert re.fullmatch(r"Can't reach plex\.tv — retrying in \d+ s…", login.error), login.error
    before = len(creations(emu))
    part(login, "retry").click()
    assert login.error == "Can't reach plex.tv — retrying now…"
    await apoll_until(lambda: len(creations(emu)) > before, timeout=10, what="the retry asked for")
    await apoll_until(lambda: "retrying in" in login.error, timeout=10, what="the next backoff")
    # plex.tv is back: the next "Try again now" gets a code and the notice goes.
    emu.faults.clear()
    part(login, "retry").click()
    await apoll_until(lambda: login.status == "waiting", timeout=10, what="a code after the retry")
    assert login.error == "" and not shown(login, "retry")
    assert not any("Can't reach" in value for value in html_values(login))
    await login.aclose()


def test_try_again_now_wakes_a_blocking_wait(emu: PlexTvEmulator) -> None:
    unreachable(emu)
    in_wait = threading.Event()
    ticked_in_wait = threading.Event()

    def on_change() -> None:
        if in_wait.is_set():  # the blocking driver's once-a-second tick, from inside wait()
            ticked_in_wait.set()

    identity = ClientIdentity.create(product="test", client_identifier="unreachable-test")
    session = LoginSession(identity, poll_interval=SLOW_POLL, transport=emu.transport(), on_change=on_change)
    session.start()  # no event loop: nothing is sent until a wait drives the flow
    session.drive_first_request()  # the first request is made (and fails) right here
    assert session.flow.unreachable and session.seconds_until_retry() > 10

    def plex_tv_comes_back() -> None:
        assert ticked_in_wait.wait(10), "wait() never ticked"
        emu.faults.clear()
        session.retry_now()

    helper = threading.Thread(target=plex_tv_comes_back)
    helper.start()
    in_wait.set()
    try:
        # The code arrives while wait() sleeps; the next check is a poll interval away.
        with pytest.raises(TimeoutError):
            session.wait(timeout=5)
        assert len(creations(emu)) == 2
        assert session.flow.status.value == "waiting" and session.flow.pin is not None
        assert not session.flow.unreachable
    finally:
        helper.join()
        session.close()


def test_the_view_offers_try_again_only_while_unreachable() -> None:
    state = ViewState(status="requesting", reconnecting=True, unreachable=True,
                      error="Can't reach plex.tv — retrying in 4 s…")
    assert view_parts(state).can_retry_now
    assert "Can't reach plex.tv — retrying in 4 s…" in fallback_text(state)
    assert not view_parts(ViewState(status="requesting", reconnecting=True)).can_retry_now
    assert not view_parts(ViewState(status="error", unreachable=True)).can_retry_now
