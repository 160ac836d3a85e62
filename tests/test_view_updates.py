"""The view does no work when nothing visible changed, and the countdown still moves every second.

A waiting login is pulled once or twice a second (after each check and at each whole second);
every widget value set is serialised for the front end, so an unchanged state must set nothing
and a countdown step must set only the countdown's parts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ipywidgets as widgets
import pytest
import traitlets

from plexpin_widget import PlexPinLogin
from plexpin_widget._view import LoginView, ViewState
from plexpin_widget.emulator import PlexTvEmulator
from helpers import apoll_until, checks, poll_until, widgets_below

pytestmark = pytest.mark.usefixtures("private_config")

WAITING = ViewState(status="waiting", code="ABCD", auth_url="https://plex.tv/link/?pin=ABCD", seconds_left=120,
                    lifetime=900, product="Updates")


class Changes:
    """Every trait change on every part of a view (widgets and their layouts)."""

    def __init__(self, root: Any) -> None:
        self.seen: list[tuple[widgets.Widget, str]] = []
        self._parts = list(widgets_below(*(root.children if isinstance(root, LoginView) else [root]), layouts=True))
        for widget in self._parts:
            widget.observe(self._record, names=traitlets.All)

    def _record(self, change: dict[str, Any]) -> None:
        self.seen.append((change["owner"], change["name"]))

    def widgets(self) -> set[int]:
        return {id(owner) for owner, _ in self.seen}

    def close(self) -> None:
        for widget in self._parts:
            widget.unobserve(self._record, names=traitlets.All)


@pytest.fixture
def view_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the view looked at: one entry per part it compared or set (``_set``/``_show``)."""
    from plexpin_widget import _view

    calls: list[str] = []
    for name in ("_set", "_show"):
        original = getattr(_view, name)

        def counted(widget: Any, value: Any, _original: Any = original) -> None:
            calls.append(next(c for c in widget._dom_classes if c.startswith("plexpin-")) if widget._dom_classes
                          else type(widget).__name__)
            _original(widget, value)

        monkeypatch.setattr(_view, name, counted)
    return calls


def test_rendering_the_shown_state_again_does_no_work(view_work: list[str]) -> None:
    view = LoginView()
    view.render(WAITING)
    assert view_work, "a first render sets every part"
    view_work.clear()
    changes = Changes(view)
    view.render(dataclasses.replace(WAITING))  # equal, not the same object
    assert view_work == [] and changes.seen == []


def test_a_countdown_step_sets_only_the_countdown(view_work: list[str]) -> None:
    view = LoginView()
    view.render(WAITING)
    view_work.clear()
    changes = Changes(view)
    view.render(dataclasses.replace(WAITING, seconds_left=119))
    assert view_work == ["plexpin-status"], "only the status sentence (and the bar) are looked at"
    assert changes.widgets() == {id(view.progress), id(view.status)}
    assert view.progress.value == 119
    assert "1:59 left" in view.status.value
    changes.seen.clear()
    view.render(dataclasses.replace(WAITING, seconds_left=61))
    view.render(dataclasses.replace(WAITING, seconds_left=60))  # one minute left: the bar turns to a warning
    assert changes.widgets() == {id(view.progress), id(view.status)}
    assert view.progress.value == 60 and view.progress.bar_style == "warning" and "1:00 left" in view.status.value


def test_after_countdown_steps_any_other_change_is_rendered() -> None:
    view = LoginView()
    view.render(WAITING)
    view.render(dataclasses.replace(WAITING, seconds_left=100))
    view.render(dataclasses.replace(WAITING, seconds_left=99, error="plex.tv is having trouble (HTTP 503)."))
    assert "HTTP 503" in view.error.value and view.progress.value == 99
    view.render(dataclasses.replace(WAITING, status="expired", code="", auth_url="", seconds_left=0))
    assert view.code.value == "" and view.qr.value == b"" and view.progress.layout.display == "none"
    assert "expired" in view.status.value


async def test_a_waiting_widget_moves_its_countdown_each_second_and_touches_nothing_else() -> None:
    emu = PlexTvEmulator()
    login = PlexPinLogin(product="Updates", transport=emu.transport())  # polls on this loop, once a second
    try:
        await apoll_until(lambda: login.code != "", what="a code")
        view = login._view
        lefts: list[int] = []
        pins: list[Any] = []
        login.observe(lambda change: lefts.append(change["new"]), names="seconds_left")
        login.observe(lambda change: pins.append(change["new"]), names="pin")
        changes = Changes(view)
        await apoll_until(lambda: len(lefts) >= 3 and len(pins) >= 2, timeout=10, what="three countdown steps")
        changes.close()
        assert all(a - b == 1 for a, b in zip(lefts, lefts[1:])), f"a second skipped or repeated: {lefts}"
        left = login.seconds_left
        assert view.progress.value == left and f"{left // 60}:{left % 60:02d} left" in view.status.value
        # Checks were answered meanwhile (the pin trait follows each answer), yet only the countdown moved.
        assert all(pin.code == login.code for pin in pins)
        assert changes.widgets() <= {id(view.progress), id(view.status)}
        assert login.status == "waiting"
    finally:
        await login.aclose()


async def test_a_waiting_widget_wakes_once_a_second_for_both_its_check_and_its_countdown() -> None:
    # Checked each second, the check's answer shows the countdown's next step: no second wake-up.
    emu = PlexTvEmulator()
    login = PlexPinLogin(product="Updates", transport=emu.transport())
    try:
        await apoll_until(lambda: login.code != "", what="a code")
        shared = login._session._shared
        wakes: list[int] = []
        lefts: list[int] = []
        notify = shared.notify
        shared.notify = lambda: (wakes.append(1), notify())  # every feed and every countdown tick
        login.observe(lambda change: lefts.append(change["new"]), names="seconds_left")

        first = len(checks(emu))
        await apoll_until(lambda: len(checks(emu)) >= first + 4, timeout=10, what="four more checks")
        made = len(checks(emu)) - first
        assert len(wakes) <= made + 1, f"{len(wakes)} wake-ups for {made} checks: the countdown ticks apart"
        assert len(lefts) >= 3 and all(a - b == 1 for a, b in zip(lefts, lefts[1:])), lefts
    finally:
        await login.aclose()


async def test_on_an_event_loop_the_qr_image_is_drawn_in_the_next_round() -> None:
    # Encoding the image is the slow part of a first render: deferred, the other answers that
    # arrived together are taken in first, so the logins keep checking in step.
    import asyncio

    rounds: list[Any] = []
    view = LoginView(later=lambda work: rounds.append(asyncio.get_running_loop().call_soon(work)))
    view.render(WAITING)
    assert view.code.value and view.qr.value == b"", "the code shows at once; the image comes next round"
    assert len(rounds) == 1
    await asyncio.sleep(0)
    assert bytes(view.qr.value).startswith(b"\x89PNG")


async def test_a_qr_image_due_for_a_code_no_longer_live_is_never_drawn() -> None:
    import asyncio

    view = LoginView(later=lambda work: asyncio.get_running_loop().call_soon(work))
    view.render(WAITING)
    view.render(dataclasses.replace(WAITING, status="expired", code="", auth_url="", seconds_left=0))
    await asyncio.sleep(0)
    assert view.qr.value == b"", "an expired code's image must not reach a saved notebook"


def test_without_a_scheduler_the_view_draws_everything_at_once() -> None:
    view = LoginView()
    view.render(WAITING)
    assert bytes(view.qr.value).startswith(b"\x89PNG")


def _wait_with_an_approver_who_needs_the_image(login: Any, emu: PlexTvEmulator) -> tuple[str, bool]:
    """``login.wait()`` on this thread while another approves only once the QR image is drawn
    (without it, the wait runs into its timeout): the token, and whether the image came."""
    import threading

    drawn = threading.Event()

    def approve() -> None:
        try:
            poll_until(lambda: bytes(login._view.qr.value).startswith(b"\x89PNG"), timeout=10,
                       what="the QR image during a blocking wait")
            drawn.set()
        finally:
            emu.claim()

    approver = threading.Thread(target=approve)
    approver.start()
    try:
        token = login.wait(timeout=20)
    finally:
        approver.join()
    return token, drawn.is_set()


async def test_a_blocking_wait_draws_the_qr_image_while_it_blocks(make_login: Any, emu: PlexTvEmulator) -> None:
    # A cell that calls wait() holds the event loop: a deferred image would only be drawn after
    # the wait, when the person no longer needs it.
    login = make_login()
    try:
        token, drawn = _wait_with_an_approver_who_needs_the_image(login, emu)
    finally:
        await login.aclose()
    assert drawn, "the QR image was not drawn while wait() blocked"
    assert token == emu.demo_token


async def test_a_blocking_wait_draws_an_image_left_for_a_loop_round_it_now_holds(
    make_login: Any, emu: PlexTvEmulator,
) -> None:
    # Run All: the first answer is taken in between two cells and its image left for the loop's
    # next round, and then the next cell blocks in wait() before that round comes. Here the
    # deferred draws are held back for good, as that round would be; wait() must draw the image.
    login = make_login()
    held: list[Any] = []
    login._view._later = held.append
    await apoll_until(lambda: bool(login.code), timeout=10, what="a code")
    assert login._view.qr.value == b"" and len(held) == 1, "the image was not left for later"
    try:
        token, drawn = _wait_with_an_approver_who_needs_the_image(login, emu)
    finally:
        await login.aclose()
    assert drawn, "the image left for the loop's next round never came while wait() blocked"
    assert token == emu.demo_token
    held[0]()  # that round comes after all, once the code is no longer live: nothing is drawn
    assert login._view.qr.value == b"", "an image drawn for a code no longer live"


async def test_an_image_left_for_later_is_not_drawn_into_a_closed_login(make_login: Any) -> None:
    login = make_login()
    held: list[Any] = []
    login._view._later = held.append
    await apoll_until(lambda: bool(login.code), timeout=10, what="a code")
    await login.aclose()
    held[0]()  # the loop's next round, after the cell that closed it
    assert login._view.qr.value == b""
