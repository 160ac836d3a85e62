"""The asyncio driver: one poll task on the event loop of the thread that started the login.

Where an event loop runs in the calling thread (every Jupyter kernel), the flow is driven from
this task, so the notebook never blocks and widget updates happen on the kernel's own thread.
The task sleeps until the pending action is due (waking each second for the countdown),
carries it out through :data:`~plexpin_widget._driving.ROUTES` and feeds back the result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._driving import SharedFlow, resolve
from ._flow import FlowAction

if TYPE_CHECKING:
    import asyncio

    from ._client import AsyncPlexTvClient

__all__ = ["LIVE_TASKS", "AsyncDriver"]

logger = logging.getLogger("plexpin_widget.session")

#: Strong references to running poll tasks: the event loop itself only keeps weak ones.
LIVE_TASKS: set[asyncio.Task[None]] = set()
TASK_NAME = "plexpin_widget poller"


class AsyncDriver:
    """Runs ``shared``'s flow from a task; ``connect`` builds the client each task uses."""

    def __init__(self, shared: SharedFlow, connect: Callable[[], AsyncPlexTvClient]) -> None:
        self._shared = shared
        self._connect = connect
        self.task: asyncio.Task[None] | None = None
        self._nap: asyncio.Future[None] | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def ensure_running(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start a poll task on ``loop`` unless one runs or there is nothing to do."""
        if self.running:
            return
        with self._shared.lock:
            if self._shared.flow.pending is None:
                return
        task = loop.create_task(self._run(), name=TASK_NAME)
        self.task = task
        LIVE_TASKS.add(task)
        task.add_done_callback(_task_done)

    def wake(self) -> None:
        """Cut the task's current sleep short, so that it looks at the flow again now.
        Call on the loop's thread."""
        nap = self._nap
        if nap is not None and not nap.done():
            nap.set_result(None)

    def cancel(self) -> None:
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()

    async def _run(self) -> None:
        import asyncio

        shared = self._shared
        # The client (and httpx) loads here, after the cell that built the widget has returned.
        client = self._connect()
        try:
            while True:
                with shared.lock:
                    action = shared.flow.pending
                if action is None:
                    return
                if not await self._sleep_until(action):
                    continue
                step = shared.begin(action)
                result: Any
                try:
                    result = (await step.send(client)) if step.sends else None
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # every failure, typed or a bug, goes to the flow
                    result = exc
                shared.finish(step, result)
        finally:
            await client.aclose()

    async def _sleep_until(self, action: FlowAction) -> bool:
        """Sleep until ``action`` is due, waking each second for the countdown.

        Returns False if the flow moved on meanwhile (someone else took the action)."""
        import asyncio

        shared = self._shared
        while True:
            with shared.lock:
                if shared.flow.pending is not action:
                    return False
                now = shared.clock()
                remaining = action.due - now
                tick = shared.next_tick(now, remaining)
            if remaining <= 0:
                return True
            # What asyncio.sleep does, with a future that wake() can also resolve.
            loop = asyncio.get_running_loop()
            self._nap = nap = loop.create_future()
            timer = loop.call_later(min(remaining, tick), resolve, nap)
            try:
                await nap
            finally:
                timer.cancel()
                self._nap = None
            if remaining > tick:
                shared.notify()


def _task_done(task: asyncio.Task[None]) -> None:
    LIVE_TASKS.discard(task)
    if not task.cancelled() and task.exception() is not None:
        error = task.exception()
        logger.error("plexpin_widget: the poll task stopped: %s", type(error).__name__)
