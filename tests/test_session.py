"""The login runs: polling, waiting, cancel/close/restart, expiry and faults, with and without a loop.

Everything talks to the in-process emulator (``transport=emu.transport()``) with a short poll
interval. "script" tests run with no event loop (a plain Python script: the ctor fetches the
code, ``wait()`` drives the flow); "loop" tests run inside asyncio (a notebook kernel: the ctor
only schedules a poll task). Absence of requests is checked by polling the emulator's log over
several poll intervals, never by a single sleep.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import plexpin_widget._client as client_module
from plexpin_widget import (
    ConfigurationError,
    LoginCancelledError,
    PinExpiredError,
    PlexPinError,
    PlexPinLogin,
)
from plexpin_widget.emulator import PlexTvEmulator
from helpers import apoll_until, checks, creations, poll_until

pytestmark = pytest.mark.usefixtures("private_config")

POLL = 0.05
POLLER = "plexpin_widget poller"


# --------------------------------------------------------------------------- helpers


def pollers() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == POLLER and not t.done()]


def assert_no_new_checks(emu: PlexTvEmulator, seen: int, intervals: int = 10) -> None:
    """Watch the log for ``intervals`` poll intervals: no pin check may arrive."""
    deadline = time.monotonic() + intervals * POLL
    while time.monotonic() < deadline:
        assert len(checks(emu)) == seen, "a pin check was sent after the login stopped"
        time.sleep(POLL / 5)


async def a_assert_no_new_checks(emu: PlexTvEmulator, seen: int, intervals: int = 10) -> None:
    deadline = time.monotonic() + intervals * POLL
    while time.monotonic() < deadline:
        assert len(checks(emu)) == seen, "a pin check was sent after the login stopped"
        await asyncio.sleep(POLL / 5)


def run_login(
    mode: str, make: Callable[[], PlexPinLogin], act: Callable[[PlexPinLogin], None], timeout: float = 10.0
) -> tuple[PlexPinLogin, str | BaseException]:
    """Sign in with the blocking driver ("script") or the asyncio one ("loop").

    ``act`` runs once a code is shown (approve it, move the clock...); returns the login and
    the token or the exception the wait raised.
    """
    if mode == "script":
        login = make()
        assert login.status == "waiting", "with no loop the ctor fetches the code itself"
        act(login)
        try:
            return login, login.wait(timeout)
        except Exception as exc:
            return login, exc

    async def main() -> tuple[PlexPinLogin, str | BaseException]:
        login = make()
        await apoll_until(lambda: login.status == "waiting", what="a code")
        act(login)
        try:
            return login, await login.wait_async(timeout)
        except Exception as exc:
            return login, exc
        finally:
            await login.aclose()

    return asyncio.run(main())


# --------------------------------------------------------------------------- signing in


def test_script_wait_returns_token_after_claim_from_another_thread(make_login: Any, emu: PlexTvEmulator) -> None:
    login = make_login()
    assert login.status == "waiting" and login.code and login.pin is not None
    tokens: list[tuple[str | None, int]] = []
    login.observe(lambda change: tokens.append((change["new"], threading.get_ident())), names="token")
    claimed: list[str] = []

    def approve() -> None:
        # Approve only once wait() is demonstrably polling.
        poll_until(lambda: len(checks(emu)) >= 2, what="two pin checks")
        claimed.append(emu.claim(pin_id=login.pin.id))

    approver = threading.Thread(target=approve)
    approver.start()
    token = login.wait(timeout=10)
    approver.join()
    assert token == claimed[0] == login.token
    assert tokens == [(token, threading.get_ident())], "the token observer fires once, in the script's thread"
    assert login.status == "authorized"
    assert login.user is not None and login.user.username == emu.username


def test_script_wait_with_auto_claim(make_login: Any, emu: PlexTvEmulator) -> None:
    emu.auto_claim(0)
    login = make_login()
    assert login.wait(timeout=10) == emu.demo_token
    pin_path = f"/api/v2/pins/{login.pin.id}"
    assert [(r.method, r.path, r.status) for r in emu.request_log()] == [
        ("POST", "/api/v2/pins", 201),
        ("GET", pin_path, 200),
        ("GET", "/api/v2/user", 200),
    ]
    assert login.wait(timeout=0) == emu.demo_token, "a finished login answers again at once"


async def test_wait_async_returns_token(make_login: Any, emu: PlexTvEmulator) -> None:
    emu.auto_claim(0)
    login = make_login()
    assert await login.wait_async(timeout=10) == emu.demo_token
    assert login.status == "authorized" and login.token == emu.demo_token


async def test_blocking_wait_inside_a_running_loop(make_login: Any, emu: PlexTvEmulator) -> None:
    """A notebook cell calling wait(): the loop is blocked, wait() drives the flow itself."""
    login = make_login()
    await apoll_until(lambda: login.status == "waiting", what="a code")
    statuses: list[tuple[str, int]] = []
    login.observe(lambda change: statuses.append((change["new"], threading.get_ident())), names="status")
    approver = threading.Timer(0, lambda: (poll_until(lambda: len(checks(emu)) >= 2), emu.claim()))
    approver.start()
    token = login.wait(timeout=10)
    approver.join()
    assert token == emu.demo_token
    assert statuses == [("authorized", threading.get_ident())]
    # The suspended poll task finds nothing left to do and ends; it sends nothing more.
    await apoll_until(lambda: not pollers(), what="the poll task to end")
    seen = len(checks(emu))
    await a_assert_no_new_checks(emu, seen)


@pytest.mark.parametrize("mode", ["script", "loop"])
@pytest.mark.parametrize("call_start", [True, False], ids=["start-then-wait", "wait-only"])
def test_status_sequence_seen_by_observers(mode: str, call_start: bool, make_login: Any, emu: PlexTvEmulator) -> None:
    """The same trait changes with or without a loop, whether start() or the wait begins the login."""
    emu.auto_claim(0)
    statuses: list[str] = []
    codes: list[str] = []

    def prepare(login: PlexPinLogin) -> None:
        assert login.status == "idle" and login.code == ""
        login.observe(lambda change: statuses.append(change["new"]), names="status")
        login.observe(lambda change: codes.append(change["new"]), names="code")
        if call_start:
            login.start()

    if mode == "script":
        login = make_login(autostart=False)
        prepare(login)
        token = login.wait(timeout=10)
    else:

        async def main() -> str:
            login = make_login(autostart=False)
            prepare(login)
            if call_start:
                assert statuses == ["requesting"], "start() only schedules work when a loop runs"
            try:
                return await login.wait_async(timeout=10)
            finally:
                await login.aclose()

        token = asyncio.run(main())
    assert token == emu.demo_token
    assert statuses == ["requesting", "waiting", "authorized"]
    assert len(codes) == 2 and codes[0] and codes[1] == "", "the code shows while waiting, then is cleared"


# --------------------------------------------------------------------------- the cell returns at once


async def test_constructor_with_a_loop_returns_before_any_request(make_login: Any, emu: PlexTvEmulator) -> None:
    emu.faults.add("latency", method="POST", path_prefix="/api/v2/pins", delay=2.0)
    login = make_login()
    # Nothing has reached the emulator yet: the ctor only scheduled the poll task.
    assert login.status == "requesting"
    assert emu.request_log() == []
    assert len(pollers()) == 1
    # The request goes out from the task; its (2 s late) answer is not needed by the caller.
    await apoll_until(lambda: creations(emu), what="the pin request to arrive")
    assert login.status == "requesting" and login.code == ""
    await login.aclose()
    assert not pollers()


async def test_displaying_twice_keeps_one_poller(make_login: Any, emu: PlexTvEmulator) -> None:
    login = make_login()
    bundles = [login._repr_mimebundle_(), login._repr_mimebundle_()]
    # What IPython's display() calls (outside a kernel it just prints the bundle).
    login._ipython_display_()
    login._ipython_display_()
    assert all("text/plain" in b and "text/html" in b for b in bundles)
    assert len(pollers()) == 1
    await apoll_until(lambda: len(checks(emu)) >= 3, what="three pin checks")
    assert len(pollers()) == 1
    assert len(creations(emu)) == 1, "one code, one poller"


# --------------------------------------------------------------------------- cancel, close, restart


async def test_cancel_stops_polling(make_login: Any, emu: PlexTvEmulator) -> None:
    login = make_login()
    await apoll_until(lambda: len(checks(emu)) >= 2, what="polling")
    login.cancel()
    assert login.status == "cancelled"
    await apoll_until(lambda: not pollers(), what="the poll task to end")
    seen = len(checks(emu))
    await a_assert_no_new_checks(emu, seen)
    with pytest.raises(LoginCancelledError):
        await login.wait_async(timeout=1)
    with pytest.raises(LoginCancelledError):
        login.wait(timeout=1)
    assert len(checks(emu)) == seen, "waiting on a cancelled login sends nothing"


def test_cancel_from_another_thread_ends_a_blocking_wait(make_login: Any, emu: PlexTvEmulator) -> None:
    login = make_login()

    def cancel_later() -> None:
        poll_until(lambda: len(checks(emu)) >= 2, what="polling")
        login.cancel()

    canceller = threading.Thread(target=cancel_later)
    canceller.start()
    with pytest.raises(LoginCancelledError):
        login.wait(timeout=10)
    canceller.join()
    assert login.status == "cancelled"
    assert_no_new_checks(emu, len(checks(emu)))


async def test_cancel_from_a_foreign_thread_is_applied_on_the_loop_thread(make_login: Any, emu: PlexTvEmulator) -> None:
    login = make_login()
    await apoll_until(lambda: login.status == "waiting", what="a code")
    changes: list[tuple[str, int]] = []
    login.observe(lambda change: changes.append((change["new"], threading.get_ident())), names="status")
    caller = threading.Thread(target=login.cancel)
    caller.start()
    caller.join()
    # The loop thread was blocked in join(): the cancel is queued, not applied from the thread.
    assert login.status == "waiting" and changes == []
    await apoll_until(lambda: login.status == "cancelled", what="the cancel")
    assert changes == [("cancelled", threading.get_ident())], "applied on the loop's thread"
    await apoll_until(lambda: not pollers(), what="the poll task to end")
    await a_assert_no_new_checks(emu, len(checks(emu)))

    old_code = login.code
    caller = threading.Thread(target=login.restart)
    caller.start()
    caller.join()
    await apoll_until(lambda: login.status == "waiting", what="a new code")
    assert login.code != old_code
    assert {thread for _, thread in changes} == {threading.get_ident()}


async def test_close_leaves_nothing_behind(
    make_login: Any, emu: PlexTvEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients: list[Any] = []

    class RecordingClient(client_module.AsyncPlexTvClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            clients.append(self)

    monkeypatch.setattr(client_module, "AsyncPlexTvClient", RecordingClient)  # the driver imports it when it runs
    threads_before = set(threading.enumerate())
    login = make_login()
    await apoll_until(lambda: len(checks(emu)) >= 1, what="polling")
    assert len(clients) == 1 and not clients[0].is_closed
    login.close()
    assert login.status == "cancelled"
    await apoll_until(lambda: not pollers(), what="the poll task to end")
    assert all(client.is_closed for client in clients)
    assert set(threading.enumerate()) == threads_before
    assert login.comm is None, "the widget's comm is closed"
    await a_assert_no_new_checks(emu, len(checks(emu)))


async def test_aclose_returns_once_the_poll_task_has_ended(make_login: Any, emu: PlexTvEmulator) -> None:
    login = make_login()
    await apoll_until(lambda: len(checks(emu)) >= 1, what="polling")
    await login.aclose()
    assert not pollers(), "aclose() must await the poll task, not just cancel it"


def test_script_close_closes_the_blocking_client(make_login: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clients: list[Any] = []

    class RecordingClient(client_module.PlexTvClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            clients.append(self)

    monkeypatch.setattr(client_module, "PlexTvClient", RecordingClient)
    threads_before = set(threading.enumerate())
    login = make_login()
    assert login.status == "waiting" and clients and not clients[0].is_closed
    login.close()
    assert login.status == "cancelled"
    assert all(client.is_closed for client in clients)
    assert set(threading.enumerate()) == threads_before


async def test_restart_gets_a_new_pin(make_login: Any, emu: PlexTvEmulator) -> None:
    login = make_login()
    await apoll_until(lambda: login.status == "waiting", what="a code")
    first = login.pin
    before = len(emu.request_log())
    login.restart()
    assert login.status == "requesting" and login.code == ""
    await apoll_until(lambda: login.status == "waiting", what="a new code")
    assert login.pin.id != first.id and login.code != first.code
    assert len(creations(emu)) == 2
    new_path = f"/api/v2/pins/{login.pin.id}"
    await apoll_until(lambda: len([r for r in checks(emu) if r.path == new_path]) >= 3, what="checks of the new pin")
    after = emu.request_log()[before:]
    assert all(r.path != f"/api/v2/pins/{first.id}" for r in after), "the old pin is no longer polled"
    assert len(pollers()) == 1
    # Restart after a cancel works too, and only the new pin is polled.
    login.cancel()
    login.restart()
    emu.auto_claim(0)
    assert await login.wait_async(timeout=10) == emu.demo_token
    assert len(creations(emu)) == 3 and len(pollers()) <= 1


# --------------------------------------------------------------------------- expiry and faults


@pytest.mark.parametrize("mode", ["script", "loop"])
def test_expiry_via_the_emulator_clock(mode: str, make_login: Any, emu: PlexTvEmulator) -> None:
    login, result = run_login(mode, make_login, lambda login: emu.clock.advance(901))
    assert isinstance(result, PinExpiredError)
    assert login.status == "expired" and login.code == "" and login.token is None
    assert checks(emu)[-1].status == 404


def _approve_now(emu: PlexTvEmulator) -> Callable[[PlexPinLogin], None]:
    return lambda login: emu.claim(pin_id=login.pin.id)


@pytest.mark.parametrize("mode", ["script", "loop"])
def test_server_errors_then_approval(mode: str, make_login: Any, emu: PlexTvEmulator) -> None:
    errors: list[str] = []
    emu.faults.sequence([503, 502, 500], method="GET")

    def make() -> PlexPinLogin:
        login = make_login()
        login.observe(lambda change: errors.append(change["new"]), names="error")
        return login

    login, result = run_login(mode, make, _approve_now(emu))
    assert result == emu.demo_token and login.status == "authorized"
    assert [r.status for r in checks(emu)] == [503, 502, 500, 200]
    assert errors and "Retrying" in errors[0], "the person is told the login is retrying"
    assert login.error == "", "the error clears once signed in"


@pytest.mark.parametrize("mode", ["script", "loop"])
def test_rate_limit_honours_retry_after(mode: str, make_login: Any, emu: PlexTvEmulator) -> None:
    emu.faults.add("rate_limit", method="GET", retry_after=1)
    login, result = run_login(mode, make_login, _approve_now(emu))
    assert result == emu.demo_token
    limited, following = checks(emu)[0], checks(emu)[1]
    assert limited.status == 429 and limited.retry_after == 1.0
    assert following.status == 200
    assert following.at - limited.at >= limited.retry_after, "retried before Retry-After"


@pytest.mark.parametrize("mode", ["script", "loop"])
@pytest.mark.parametrize("kind", ["drop", "malformed"])
def test_broken_answers_are_retried(kind: str, mode: str, make_login: Any, emu: PlexTvEmulator) -> None:
    emu.faults.add(kind, method="GET", count=2)
    login, result = run_login(mode, make_login, _approve_now(emu))
    assert result == emu.demo_token
    assert [r.fault for r in checks(emu)] == [kind, kind, None]


def test_fault_on_pin_creation_is_retried_too(make_login: Any, emu: PlexTvEmulator) -> None:
    emu.faults.sequence([503, "drop"], method="POST")
    login = make_login()
    # The ctor's first step failed; wait() keeps going until a code exists and is approved.
    assert login.status == "requesting" and login.error
    emu.auto_claim(0)
    assert login.wait(timeout=10) == emu.demo_token
    assert [r.status for r in creations(emu)] == [503, None, 201]


# --------------------------------------------------------------------------- timeouts


def test_wait_timeout_raises_builtin_timeout_error(make_login: Any, emu: PlexTvEmulator) -> None:
    login = make_login()
    with pytest.raises(TimeoutError) as info:
        login.wait(timeout=0.1)
    assert type(info.value) is TimeoutError and not isinstance(info.value, PlexPinError)
    assert login.status == "waiting", "a timed-out wait leaves the login running"
    emu.claim(pin_id=login.pin.id)
    assert login.wait(timeout=10) == emu.demo_token


async def test_wait_async_timeout_raises_builtin_timeout_error(make_login: Any, emu: PlexTvEmulator) -> None:
    login = make_login()
    with pytest.raises(TimeoutError) as info:
        await login.wait_async(timeout=0.1)
    assert type(info.value) is TimeoutError
    assert login.status == "waiting" and len(pollers()) == 1
    emu.claim()
    assert await login.wait_async(timeout=10) == emu.demo_token


@pytest.mark.parametrize("bad", [-1, -0.5, math.nan, "1", True, [1]])
def test_bad_timeouts_are_configuration_errors(bad: Any, make_login: Any) -> None:
    login = make_login(autostart=False)
    with pytest.raises(ConfigurationError, match="timeout") as info:
        login.wait(timeout=bad)
    assert info.value.name == "timeout"
    with pytest.raises(ConfigurationError, match="timeout"):
        asyncio.run(login.wait_async(timeout=bad))
    assert login.status == "idle", "a bad argument starts nothing"


async def test_wait_from_another_thread_while_the_loop_polls(make_login: Any, emu: PlexTvEmulator) -> None:
    login = make_login()
    with pytest.raises(TimeoutError):
        await asyncio.to_thread(login.wait, 0.1)
    waiting = asyncio.ensure_future(asyncio.to_thread(login.wait, 10))
    await apoll_until(lambda: len(checks(emu)) >= 2, what="polling")
    emu.claim()
    assert await waiting == emu.demo_token
    assert len(creations(emu)) == 1, "the thread waited on the loop's flow; it did not start its own"


async def test_a_cancel_queued_for_the_loop_reaches_a_blocking_wait(make_login: Any, emu: PlexTvEmulator) -> None:
    """A click on another thread lands just before a cell blocks in wait(): the loop cannot run
    the queued cancel, so the blocking driver must pick it up itself."""
    login = make_login()
    await apoll_until(lambda: login.status == "waiting", what="a code")
    caller = threading.Thread(target=login.cancel)
    caller.start()
    caller.join()
    assert login.status == "waiting", "queued for the loop, not applied on the caller's thread"
    with pytest.raises(LoginCancelledError):
        login.wait(timeout=2)
    await asyncio.sleep(0)  # the loop runs its queued copy of the cancel: it must do nothing more
    assert login.status == "cancelled"
    await apoll_until(lambda: not pollers(), what="the poll task to end")
    await a_assert_no_new_checks(emu, len(checks(emu)))


# --------------------------------------------------------------------------- misuse after close, wrong transport


def test_start_or_restart_after_close_says_the_login_is_closed(make_login: Any) -> None:
    login = make_login(autostart=False)
    login.close()
    with pytest.raises(LoginCancelledError, match="closed"):
        login.start()
    with pytest.raises(LoginCancelledError, match="closed"):
        login.restart()


class _AsyncOnlyTransport:
    """An asyncio-only transport, as a test might hand over; it records whether it was used."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.used = False

    async def handle_async_request(self, request: Any) -> Any:
        self.used = True
        return await self.inner.handle_async_request(request)


def test_blocking_wait_refuses_an_async_only_transport_instead_of_reaching_plex_tv(
    emu: PlexTvEmulator,
) -> None:
    transport = _AsyncOnlyTransport(emu.transport())
    # No loop here, so the first step is blocking and must not fall back to httpx's default
    # transport (which would talk to the real plex.tv).
    login = PlexPinLogin(product="Session tests", poll_interval=POLL, transport=transport)
    try:
        assert login.status == "requesting" and emu.request_log() == [], "the constructor sends nothing"
        login._session.drive_first_request()
        assert login.status == "error"
        assert "transport" in login.error or "asyncio" in login.error
        with pytest.raises(PlexPinError) as failure:
            login.wait(timeout=1)
        cause = failure.value.__cause__
        assert isinstance(cause, ConfigurationError) and cause.name == "transport"
        assert emu.request_log() == []
    finally:
        login.close()


@pytest.mark.parametrize("listening", [True, False])
async def test_the_countdown_wakes_the_session_only_for_a_listener(listening: bool, emu: PlexTvEmulator) -> None:
    from plexpin_widget._identity import ClientIdentity
    from plexpin_widget._session import LoginSession

    changes: list[None] = []
    session = LoginSession(ClientIdentity.create(product="Ticks", client_identifier="ticks-1"),
                           transport=emu.transport(), on_change=(lambda: changes.append(None)) if listening else None,
                           poll_interval=2.5)  # checked less than each second, so the countdown ticks apart
    shared = session._shared
    counts = {"notify": 0, "feed": 0}
    notify, feed = shared.notify, shared.feed

    def counted_notify() -> None:
        counts["notify"] += 1
        notify()

    def counted_feed(event: Any) -> None:
        counts["feed"] += 1
        feed(event)

    shared.notify, shared.feed = counted_notify, counted_feed  # type: ignore[method-assign]
    session.start()
    try:
        await apoll_until(lambda: len(checks(emu)) >= 2, timeout=10, what="two pin checks")
        ticks = counts["notify"] - counts["feed"]  # notifications that no answer caused
        if listening:
            assert ticks >= 1 and changes, "the countdown moves every second for whoever shows it"
        else:
            assert ticks == 0, "nobody shows a countdown: the driver sleeps until the next check"
        assert session.status.value == "waiting"
    finally:
        await session.aclose()


# --------------------------------------------------------------------------- countdown ticks


def _waiting(deadline: float) -> Any:
    from types import SimpleNamespace

    from plexpin_widget._driving import SharedFlow
    from plexpin_widget._flow import Status

    flow = SimpleNamespace(status=Status.WAITING, deadline=deadline)
    return SharedFlow(flow, time.monotonic, lambda: None)  # type: ignore[arg-type]


def test_a_check_due_within_the_next_countdown_step_replaces_the_tick() -> None:
    shared = _waiting(deadline=100.0)
    # At 10.3 the countdown next steps in 0.7 s, and again at 1.7 s.
    assert shared.next_tick(10.3) == pytest.approx(0.7)
    assert shared.next_tick(10.3, due_in=1.0) == math.inf, "the check's answer shows the 0.7 s step"
    assert shared.next_tick(10.3, due_in=0.2) == math.inf, "the check comes first; the loop looks again"
    # A check so close to the second step that its answer could miss it: tick separately.
    assert shared.next_tick(10.3, due_in=1.6) == pytest.approx(0.7)
    assert shared.next_tick(10.3, due_in=5.0) == pytest.approx(0.7)


def test_nobody_watching_means_no_ticks_at_all() -> None:
    shared = _waiting(deadline=100.0)
    shared.ticks = False
    assert shared.next_tick(10.3, due_in=5.0) == math.inf
