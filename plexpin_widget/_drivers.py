"""Carry out what :class:`~plexpin_widget._flow.PinFlow` decides: an asyncio driver and a blocking one.

:class:`LoginSession` owns one flow and the HTTP clients. Where an event loop runs in the
calling thread (every Jupyter kernel), it polls from an asyncio task on that loop, so the
notebook never blocks and widget updates happen on the kernel's own thread. Where none runs (a
plain script), :meth:`LoginSession.wait` drives the same flow itself with a blocking client.

Calls may come from other threads: with ipykernel 7 and JupyterLab >= 4.4, button callbacks run
on a subshell thread. Such calls are handed to the loop with ``call_soon_threadsafe``, or to a
blocking driver through a thread-safe inbox, never applied to the flow from the foreign thread.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    import httpx

    from ._client import AsyncPlexTvClient, PlexTvClient

from ._errors import (
    ConfigurationError,
    LoginCancelledError,
    LoginFailedError,
    PinExpiredError,
)
from ._flow import (
    CheckPin,
    CreatePin,
    Expire,
    FetchUser,
    FlowAction,
    FlowEvent,
    PinFlow,
    PinReceived,
    RequestFailed,
    Status,
    TimerFired,
    UserReceived,
)
from ._identity import ClientIdentity
from ._urls import resolve_base_url

__all__ = ["LoginSession"]

logger = logging.getLogger("plexpin_widget.session")

# Strong references to running poll tasks: the event loop itself only keeps weak ones.
_LIVE_TASKS: set[asyncio.Task[None]] = set()
# The longest a driver sleeps without waking to refresh the countdown.
_TICK = 1.0


def _running_loop() -> asyncio.AbstractEventLoop | None:
    # No loop can run where asyncio was never imported (a plain script), and not importing it
    # there keeps `import plexpin_widget` light; everywhere else it is already loaded.
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _validate_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout):
        raise ConfigurationError("timeout", f"must be a number of seconds or None, not {timeout!r}")
    if timeout < 0:
        raise ConfigurationError("timeout", f"must not be negative, got {timeout!r}")
    return float(timeout)


def validate_request_timeout(value: Any) -> Any:
    # Checked here, not when the first client is built: by then the error would surface inside
    # the poll task (a kernel would only log it) and name the client's "timeout" argument.
    if not isinstance(value, (int, float)):
        import httpx

        if isinstance(value, httpx.Timeout):
            return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigurationError("request_timeout", f"must be a positive number of seconds, not {value!r}")
    return float(value)


def sync_transport(transport: Any, needed_by: str) -> httpx.BaseTransport | None:
    """``transport`` if it can serve blocking requests; ``None`` if none was given.

    An asyncio-only transport is refused rather than dropped: falling back to httpx's default
    transport would send a test's requests to the real plex.tv.
    """
    if transport is None:
        return None
    import httpx

    if isinstance(transport, httpx.BaseTransport):
        return transport
    raise ConfigurationError(
        "transport", f"{type(transport).__name__} only supports asyncio; {needed_by} an httpx.BaseTransport"
    )


class LoginSession:
    """One PIN login and the machinery that runs it; the widget and the CLI sit on top.

    ``on_change`` is called (without arguments) after every change of state and once a
    second while a code is live, on the thread that drives the flow.
    """

    def __init__(
        self,
        identity: ClientIdentity,
        *,
        base_url: str | None = None,
        strong: bool = False,
        poll_interval: float = 1.0,
        request_timeout: float = 10.0,
        transport: Any = None,
        on_change: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.identity = identity
        self.base_url = resolve_base_url(base_url)
        self.flow = PinFlow(strong=strong, poll_interval=poll_interval)
        self._request_timeout = validate_request_timeout(request_timeout)
        self._transport = transport
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._sync_client: PlexTvClient | None = None
        self._sync_active = 0
        self._inbox: list[Callable[[], None]] = []
        self._wakeup = threading.Event()
        self._settled = threading.Event()
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False
        self._initial_token: str | None = None

    # ----------------------------------------------------------------- public face

    @property
    def status(self) -> Status:
        return self.flow.status

    def seconds_left(self) -> int:
        with self._lock:
            return self.flow.seconds_left(self._clock())

    def start(self, token: str | None = None) -> None:
        """Begin the login (validating ``token`` first if one is given). Never blocks on the
        network when an event loop runs in this thread."""
        self._check_open()
        self._initial_token = token
        self._post(self._do_start)

    def restart(self) -> None:
        """Drop the code and get a new one."""
        self._check_open()
        self._initial_token = None
        self._post(self._do_start)

    def _check_open(self) -> None:
        if self._closed:
            raise LoginCancelledError("this login was closed; create a new one to sign in again")

    def cancel(self) -> None:
        """Stop polling; safe to call from any thread."""
        self._post(self._do_cancel)

    def close(self) -> None:
        """Cancel, stop every task and close every connection."""
        self._closed = True
        self._post(self._do_close)

    async def aclose(self) -> None:
        """Like :meth:`close`, and wait until the poll task has really finished."""
        import asyncio

        # Taken before close(): cancelling the task also drops the session's reference to it.
        task = self._task
        self.close()
        if task is not None and not task.done():
            await asyncio.wait([task])

    def wait(self, timeout: float | None = None) -> str:
        """Block until signed in and return the token.

        Raises :class:`PinExpiredError`, :class:`LoginCancelledError`,
        :class:`LoginFailedError`, or :class:`TimeoutError` after ``timeout`` seconds.
        """
        timeout = _validate_timeout(timeout)
        deadline = None if timeout is None else self._clock() + timeout
        loop = self._loop
        if loop is not None and loop.is_running() and _running_loop() is not loop:
            # Another thread's loop drives the flow; just wait for it to settle.
            if not self._settled.wait(timeout):
                raise TimeoutError(f"not signed in after {timeout:g} s")
            return self._outcome()
        self._drive_blocking(deadline)
        return self._outcome()

    async def wait_async(self, timeout: float | None = None) -> str:
        """Await the sign-in and return the token; same errors as :meth:`wait`."""
        import asyncio

        timeout = _validate_timeout(timeout)
        loop = asyncio.get_running_loop()
        with self._lock:
            done = self._is_settled()
        if not done:
            if self._loop is not loop or self._task is None or self._task.done():
                # The flow may have been started where no loop ran (a script): adopt this loop.
                self._loop = loop
                if self.flow.status is Status.IDLE:
                    self._do_start()
                else:
                    self._ensure_task()
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"not signed in after {timeout:g} s") from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return self._outcome()

    # ----------------------------------------------------------------- posting work safely

    def _post(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the thread that owns the flow right now."""
        with self._lock:
            if self._sync_active:
                self._inbox.append(work)
                self._wakeup.set()
                return
            loop = self._loop
            running = loop is not None and not loop.is_closed() and loop.is_running()
            if running and _running_loop() is not loop:
                # A cell may block in wait() on the loop's thread before the loop gets to run
                # this; so it also goes in the inbox, and whichever runs it first wins.
                item = functools.partial(work)
                self._inbox.append(item)
                loop.call_soon_threadsafe(self._run_posted, item)
                return
        if running:
            work()
            return
        # No loop runs the flow (any more): use this thread's loop, if it has one, from now on.
        self._loop = _running_loop()
        work()

    def _run_posted(self, item: Callable[[], None]) -> None:
        """Run work queued for the loop, unless a blocking driver took it from the inbox first."""
        with self._lock:
            if item not in self._inbox:
                return
            self._inbox.remove(item)
        item()

    def _do_start(self) -> None:
        with self._lock:
            self._settled.clear()
            self._cancel_task()
            self.flow.start(self._clock(), token=self._initial_token)
        self._notify()
        if self._loop is not None and _running_loop() is self._loop:
            self._ensure_task()
        elif self._loop is None:
            # No event loop: do the first step now, so a script can read the code at once.
            self._drive_blocking(None, first_step_only=True)

    def _do_cancel(self) -> None:
        with self._lock:
            self.flow.cancel(self._clock())
            self._cancel_task()
        self._notify()

    def _do_close(self) -> None:
        self._do_cancel()
        client, self._sync_client = self._sync_client, None
        if client is not None:
            client.close()

    def _cancel_task(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()

    # ----------------------------------------------------------------- notification

    def _is_settled(self) -> bool:
        flow = self.flow
        # A sign-in counts once the account has been read (or that read failed once), so that
        # whoever waited sees "Signed in as ..." with the name filled in.
        return flow.status in (Status.EXPIRED, Status.CANCELLED, Status.ERROR) or (
            flow.status is Status.AUTHORIZED
            and flow.token is not None
            and (flow.account_checked or flow.pending is None)
        )

    def _notify(self) -> None:
        with self._lock:
            settled = self._is_settled()
        if settled:
            self._settled.set()
            for waiter in list(self._waiters):
                if not waiter.done():
                    waiter.get_loop().call_soon_threadsafe(_resolve, waiter)
        if self._on_change is not None:
            try:
                self._on_change()
            except Exception:  # an observer's bug must not stop the login
                logger.exception("plexpin_widget: a change callback failed")

    def _outcome(self) -> str:
        with self._lock:
            flow = self.flow
            if flow.token is not None and flow.status is Status.AUTHORIZED:
                return flow.token
            if flow.status is Status.EXPIRED:
                raise PinExpiredError("the code expired before it was approved; call restart() for a new one")
            if flow.status is Status.CANCELLED:
                raise LoginCancelledError("the login was cancelled")
            if flow.status is Status.ERROR:
                error = flow.error
                raise LoginFailedError(f"the login failed: {error}") from error
            raise LoginFailedError(f"the login has not finished (status {flow.status.value})")

    # ----------------------------------------------------------------- performing actions

    def _event_for(self, action: FlowAction, result: Any, sent_at: float) -> FlowEvent:
        if isinstance(result, BaseException):
            return RequestFailed(action.seq, result)
        if isinstance(action, FetchUser):
            return UserReceived(action.seq, result)
        return PinReceived(action.seq, result, sent_at)

    def _feed(self, event: FlowEvent) -> None:
        with self._lock:
            self.flow.receive(event, self._clock())
        self._notify()

    # ----------------------------------------------------------------- asyncio driver

    def _ensure_task(self) -> None:
        if self._closed or (self._task is not None and not self._task.done()):
            return
        with self._lock:
            if self.flow.pending is None:
                return
        loop = self._loop
        assert loop is not None
        task = loop.create_task(self._run_async(), name="plexpin_widget poller")
        self._task = task
        _LIVE_TASKS.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        _LIVE_TASKS.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            logger.error("plexpin_widget: the poll task stopped: %s", type(error).__name__)

    async def _run_async(self) -> None:
        import asyncio

        # The clients (and httpx) load here, after the cell that built the widget has returned.
        from ._client import AsyncPlexTvClient

        client = AsyncPlexTvClient(
            self.identity,
            base_url=self.base_url,
            timeout=self._request_timeout,
            transport=self._transport,
        )
        try:
            while True:
                with self._lock:
                    action = self.flow.pending
                if action is None:
                    return
                if not await self._sleep_until(action):
                    continue
                sent_at = self._clock()
                result: Any
                if isinstance(action, Expire):
                    self._feed(TimerFired(action.seq))
                    continue
                try:
                    result = await self._perform_async(client, action)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # every failure, typed or a bug, goes to the flow
                    result = exc
                self._feed(self._event_for(action, result, sent_at))
        finally:
            await client.aclose()

    async def _sleep_until(self, action: FlowAction) -> bool:
        """Sleep until ``action`` is due, waking each second for the countdown.

        Returns False if the flow moved on meanwhile (someone else took the action)."""
        import asyncio

        while True:
            with self._lock:
                if self.flow.pending is not action:
                    return False
                now = self._clock()
                remaining = action.due - now
                tick = self._next_tick(now)
            if remaining <= 0:
                return True
            await asyncio.sleep(min(remaining, tick))
            if remaining > tick:
                self._notify()

    def _next_tick(self, now: float) -> float:
        """Seconds until the countdown next changes its whole-second value."""
        deadline = self.flow.deadline
        if deadline is None or self.flow.status is not Status.WAITING:
            return _TICK
        fraction = (deadline - now) % 1.0
        return fraction if fraction > 0.01 else _TICK

    async def _perform_async(self, client: AsyncPlexTvClient, action: FlowAction) -> Any:
        if isinstance(action, CreatePin):
            return await client.create_pin(strong=action.strong)
        if isinstance(action, CheckPin):
            return await client.check_pin(action.pin_id)
        if isinstance(action, FetchUser):
            return await client.get_user(action.token)
        raise TypeError(f"cannot perform {type(action).__name__}")

    # ----------------------------------------------------------------- blocking driver

    def _blocking_client(self) -> PlexTvClient:
        if self._sync_client is None or self._sync_client.is_closed:
            from ._client import PlexTvClient

            transport = sync_transport(self._transport, "a blocking wait() (or use await wait_async()) needs")
            self._sync_client = PlexTvClient(
                self.identity,
                base_url=self.base_url,
                timeout=self._request_timeout,
                transport=transport,
            )
        return self._sync_client

    def _drain_inbox(self) -> None:
        with self._lock:
            work, self._inbox = self._inbox, []
            self._wakeup.clear()
        for item in work:
            item()

    def _drive_blocking(self, deadline: float | None, *, first_step_only: bool = False) -> None:
        """Run the flow in this thread until it settles, ``deadline`` passes, or (with
        ``first_step_only``) the first request is answered."""
        with self._lock:
            self._sync_active += 1
            started = self.flow.status is Status.IDLE
            if started:
                self.flow.start(self._clock(), token=self._initial_token)
            # A poll task suspended on this (blocked) loop may still owe a result; make it stale.
            if self._task is not None and not self._task.done():
                self.flow.take_over(self._clock())
        try:
            if started:
                self._notify()  # observers see "requesting" here too, as after start()
            while True:
                self._drain_inbox()
                with self._lock:
                    action = self.flow.pending
                    if action is None or self._is_settled():
                        return
                    now = self._clock()
                    remaining = action.due - now
                    tick = self._next_tick(now)
                if deadline is not None and now >= deadline:
                    raise TimeoutError("not signed in before the timeout")
                if remaining > 0:
                    if first_step_only and not isinstance(action, CreatePin):
                        return
                    pause = min(remaining, tick)
                    if deadline is not None:
                        pause = min(pause, max(0.0, deadline - now))
                    if self._wakeup.wait(pause):
                        continue
                    self._notify()
                    continue
                if isinstance(action, Expire):
                    self._feed(TimerFired(action.seq))
                    continue
                sent_at = self._clock()
                try:
                    result: Any = self._perform_blocking(action)
                except Exception as exc:
                    result = exc
                self._feed(self._event_for(action, result, sent_at))
                if first_step_only:
                    return
        finally:
            with self._lock:
                self._sync_active -= 1
            self._drain_inbox()
            if self._loop is not None and _running_loop() is self._loop:
                self._ensure_task()

    def _perform_blocking(self, action: FlowAction) -> Any:
        client = self._blocking_client()
        if isinstance(action, CreatePin):
            return client.create_pin(strong=action.strong)
        if isinstance(action, CheckPin):
            return client.check_pin(action.pin_id)
        if isinstance(action, FetchUser):
            return client.get_user(action.token)
        raise TypeError(f"cannot perform {type(action).__name__}")


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)

