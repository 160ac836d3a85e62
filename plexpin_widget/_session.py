"""``LoginSession``: one PIN login's public face; the flow runs on one of two drivers.

:class:`LoginSession` owns one :class:`~plexpin_widget._flow.PinFlow` and hands it to a driver:
the asyncio driver (``_driver_async.py``) where an event loop runs in the calling thread (every
Jupyter kernel), the blocking driver (``_driver_blocking.py``) in :meth:`LoginSession.wait` where
none runs (a plain script). Both carry out actions through the one table in ``_driving.py``.

This module holds what is neither driver: the public methods, posting work to the thread that
owns the flow, telling observers and waiters about changes, and turning the end into a token or
an exception. Calls may come from other threads: with ipykernel 7 and JupyterLab >= 4.4, button
callbacks run on a subshell thread. Such calls are handed to the loop with
``call_soon_threadsafe``, or to a blocking driver through the inbox, never applied to the flow
from the foreign thread.
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

    from ._client import AsyncPlexTvClient, PlexTvClient
    from ._device_auth import DeviceAuth

from ._driver_async import AsyncDriver
from ._driver_blocking import BlockingDriver
from ._driving import Inbox, SharedFlow, resolve
from ._errors import (
    ConfigurationError,
    LoginCancelledError,
    LoginFailedError,
    PinExpiredError,
)
from ._flow import PinFlow, Status
from ._identity import ClientIdentity
from ._timeouts import check_request_timeout
from ._urls import resolve_base_url

__all__ = ["LoginSession"]

logger = logging.getLogger("plexpin_widget.session")


def running_loop() -> asyncio.AbstractEventLoop | None:
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


class LoginSession:
    """One PIN login and the machinery that runs it; the widget and the CLI sit on top.

    ``on_change`` is called (without arguments) after every change of state and once a
    second while a code is live, on the thread that drives the flow.
    ``give_up_unreachable_after`` (seconds, ``None`` = never) ends the login with
    :class:`PlexTvUnreachableError` when plex.tv has not answered at all by then.
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
        jwt: bool = False,
        give_up_unreachable_after: float | None = None,
    ) -> None:
        self.identity = identity
        self.base_url = resolve_base_url(base_url)
        self.flow = PinFlow(
            strong=strong, poll_interval=poll_interval, jwt=jwt, give_up_unreachable_after=give_up_unreachable_after
        )
        #: JWT sign-in: the device key and its steps (``None`` for the classic sign-in).
        self.device: DeviceAuth | None = None
        if jwt:
            from ._device_auth import DeviceAuth

            self.device = DeviceAuth(identity.client_identifier, self.base_url)
        # Checked here, not when the first client is built: by then the error would surface
        # inside the poll task (a kernel would only log it).
        self._request_timeout = check_request_timeout(request_timeout)
        self._transport = transport
        self._on_change = on_change
        self._clock = clock
        # With no one to tell, waking each second for the countdown would be wasted work.
        self._shared = SharedFlow(self.flow, clock, self._notify, ticks=on_change is not None)
        self._lock = self._shared.lock
        self._inbox = Inbox(self._lock)
        self._async = AsyncDriver(self._shared, self._async_client)
        self._blocking = BlockingDriver(self._shared, self._inbox, self._blocking_client)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._blocking_active = 0
        self._settled = threading.Event()
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False
        self._initial_token: str | None = None
        self._initial_by_key = False

    # ----------------------------------------------------------------- public face

    @property
    def status(self) -> Status:
        return self.flow.status

    @property
    def is_blocking(self) -> bool:
        """Whether a blocking ``wait()`` drives the flow right now (on whichever thread)."""
        with self._lock:
            return self._blocking_active > 0

    def seconds_left(self) -> int:
        with self._lock:
            return self.flow.seconds_left(self._clock())

    def seconds_until_retry(self) -> int:
        """Whole seconds until the next try while a fault is being retried (0 otherwise)."""
        with self._lock:
            return self.flow.seconds_until_retry(self._clock())

    def retry_now(self) -> None:
        """Send the request being retried at once, instead of after its backoff (a 429's
        ``Retry-After`` is still honoured); safe to call from any thread."""
        self._post(self._do_retry_now)

    def start(self, token: str | None = None, *, by_key: bool = False) -> None:
        """Begin the login (validating ``token`` first if one is given; with ``by_key``, a JWT
        login signs in by refreshing with its device key). Never blocks on the network when an
        event loop runs in this thread."""
        self._check_open()
        self._initial_token = token
        self._initial_by_key = by_key
        self._post(self._do_start)

    def restart(self) -> None:
        """Drop the code and get a new one."""
        self._check_open()
        self._initial_token = None
        self._initial_by_key = False
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
        task = self._async.task
        self.close()
        if task is not None and not task.done():
            await asyncio.wait([task])

    def wait(self, timeout: float | None = None, *, idle: Callable[[], None] | None = None) -> str:
        """Block until signed in and return the token.

        Raises :class:`PinExpiredError`, :class:`LoginCancelledError`,
        :class:`LoginFailedError`, or :class:`TimeoutError` after ``timeout`` seconds.
        ``idle`` is called every 0.1 s or so while the flow sleeps (see ``BlockingDriver.run``).
        """
        timeout = _validate_timeout(timeout)
        deadline = None if timeout is None else self._clock() + timeout
        loop = self._loop
        if loop is not None and loop.is_running() and running_loop() is not loop:
            # Another thread's loop drives the flow; just wait for it to settle.
            if not self._settled.wait(timeout):
                raise TimeoutError(f"not signed in after {timeout:g} s")
            return self._outcome()
        self._drive_blocking(deadline, idle=idle)
        return self._outcome()

    async def wait_async(self, timeout: float | None = None) -> str:
        """Await the sign-in and return the token; same errors as :meth:`wait`."""
        import asyncio

        timeout = _validate_timeout(timeout)
        loop = asyncio.get_running_loop()
        with self._lock:
            done = self._shared.is_settled()
        if not done:
            if self._loop is not loop or not self._async.running:
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
            if self._blocking_active:
                self._inbox.put(work, wake=True)
                return
            loop = self._loop
            running = loop is not None and not loop.is_closed() and loop.is_running()
            if running and running_loop() is not loop:
                # A cell may block in wait() on the loop's thread before the loop gets to run
                # this; so it also goes in the inbox, and whichever runs it first wins.
                item = functools.partial(work)
                self._inbox.put(item, wake=False)
                loop.call_soon_threadsafe(self._run_posted, item)
                return
        if running:
            work()
            return
        # No loop runs the flow (any more): use this thread's loop, if it has one, from now on.
        self._loop = running_loop()
        work()

    def _run_posted(self, item: Callable[[], None]) -> None:
        """Run work queued for the loop, unless a blocking driver took it from the inbox first."""
        if self._inbox.claim(item):
            item()

    def _do_start(self) -> None:
        with self._lock:
            self._settled.clear()
            self._async.cancel()
            self.flow.start(self._clock(), token=self._initial_token, by_key=self._initial_by_key)
        self._notify()
        if self._loop is not None and running_loop() is self._loop:
            self._ensure_task()
        # With no event loop (a script), nothing is sent yet: wait() drives the flow, so an
        # observer registered in between sees every change, the first code included.

    def _do_retry_now(self) -> None:
        with self._lock:
            before = self.flow.pending
            moved = self.flow.retry_now(self._clock()) is not before
        if moved:
            self._async.wake()  # a poll task asleep until the old time looks again now
            self._notify()

    def _do_cancel(self) -> None:
        with self._lock:
            self.flow.cancel(self._clock())
            self._async.cancel()
        self._notify()

    def _do_close(self) -> None:
        self._do_cancel()
        self._blocking.close()

    # ----------------------------------------------------------------- notification

    def _notify(self) -> None:
        with self._lock:
            settled = self._shared.is_settled()
        if settled:
            self._settled.set()
            for waiter in list(self._waiters):
                if not waiter.done():
                    waiter.get_loop().call_soon_threadsafe(resolve, waiter)
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

    # ----------------------------------------------------------------- handing the flow to a driver

    def _client_options(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "timeout": self._request_timeout}

    def _async_client(self) -> Any:
        from ._client import AsyncPlexTvClient

        client = AsyncPlexTvClient(self.identity, transport=self._transport, **self._client_options())
        if self.device is None:
            return client
        from ._device_auth import AsyncDeviceClient

        return AsyncDeviceClient(client, self.device)

    def _blocking_client(self) -> Any:
        from ._client import PlexTvClient, sync_transport

        transport = sync_transport(self._transport, "a blocking wait() (or use await wait_async()) needs")
        client = PlexTvClient(self.identity, transport=transport, **self._client_options())
        if self.device is None:
            return client
        from ._device_auth import DeviceClient

        return DeviceClient(client, self.device)

    def _ensure_task(self) -> None:
        if self._closed:
            return
        loop = self._loop
        assert loop is not None
        self._async.ensure_running(loop)

    def drive_first_request(self) -> None:
        """Where no loop runs: send the first request now and take its answer (tests use it to
        get a code without a wait)."""
        self._drive_blocking(None, first_step_only=True)
        with self._lock:
            # A remembered device key that plex.tv refused: the code it falls back to, too.
            refused = self.flow.key_rejected and self.flow.pin is None
        if refused:
            self._drive_blocking(None, first_step_only=True)

    def _drive_blocking(
        self, deadline: float | None, *, idle: Callable[[], None] | None = None, first_step_only: bool = False
    ) -> None:
        """Run the flow in this thread (see :meth:`BlockingDriver.run`), then hand it back to
        this thread's loop, if one runs."""
        with self._lock:
            self._blocking_active += 1
            started = self.flow.status is Status.IDLE
            if started:
                self.flow.start(self._clock(), token=self._initial_token, by_key=self._initial_by_key)
            # A poll task suspended on this (blocked) loop may still owe a result; make it stale.
            if self._async.running:
                self.flow.take_over(self._clock())
        try:
            if started:
                self._notify()  # observers see "requesting" here too, as after start()
            self._blocking.run(deadline, idle=idle, first_step_only=first_step_only)
        finally:
            with self._lock:
                self._blocking_active -= 1
            self._inbox.drain()
            if self._loop is not None and running_loop() is self._loop:
                self._ensure_task()
