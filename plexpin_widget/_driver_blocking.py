"""The blocking driver: runs the flow in the calling thread, for scripts, the CLI and ``wait()``.

Where no event loop runs (a plain script), :meth:`LoginSession.wait` drives the flow itself with
a blocking client, sleeping on the :class:`~plexpin_widget._driving.Inbox` so that work posted
from another thread (a cancel, a restart) wakes it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._driving import Inbox, SharedFlow
from ._flow import CreatePin, RefreshToken

if TYPE_CHECKING:
    from ._client import PlexTvClient

__all__ = ["BlockingDriver"]


class BlockingDriver:
    """Runs ``shared``'s flow in this thread; ``connect`` builds the client, kept until :meth:`close`."""

    def __init__(self, shared: SharedFlow, inbox: Inbox, connect: Callable[[], PlexTvClient]) -> None:
        self._shared = shared
        self._inbox = inbox
        self._connect = connect
        self._client: PlexTvClient | None = None

    def _ready_client(self) -> PlexTvClient:
        if self._client is None or self._client.is_closed:
            self._client = self._connect()
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def run(
        self,
        deadline: float | None,
        *,
        idle: Callable[[], None] | None = None,
        idle_every: float = 0.1,
        first_step_only: bool = False,
    ) -> None:
        """Run the flow until it settles, ``deadline`` passes (:class:`TimeoutError`), or (with
        ``first_step_only``) the first request is answered.

        ``idle``, if given, is called at least every ``idle_every`` seconds while the flow
        sleeps: a notebook cell uses it to take the widget's pending clicks meanwhile."""
        shared = self._shared
        while True:
            self._inbox.drain()
            with shared.lock:
                action = shared.flow.pending
                now = shared.clock()
                # Signed in, the flow still has a JWT renewal ahead: carry it out if it is due
                # (so a script's wait() renews a token), else the sign-in is what was waited for.
                renew_now = isinstance(action, RefreshToken) and action.due <= now
                if action is None or (shared.is_settled() and not renew_now):
                    return
                remaining = action.due - now
                tick = shared.next_tick(now, remaining)
            if deadline is not None and now >= deadline:
                raise TimeoutError("not signed in before the timeout")
            if remaining > 0:
                if first_step_only and not isinstance(action, CreatePin):
                    return
                full = min(remaining, tick)
                if deadline is not None:
                    full = min(full, max(0.0, deadline - now))
                pause = full if idle is None else min(full, idle_every)
                woke = self._inbox.wait(pause)
                if idle is not None:
                    idle()
                if not woke and pause >= full and full < remaining:
                    shared.notify()  # the countdown's next second
                continue
            step = shared.begin(action)
            result: Any
            try:  # the client is built only for a request: a timer needs none
                result = step.send(self._ready_client()) if step.sends else None
            except Exception as exc:  # every failure, typed or a bug, goes to the flow
                result = exc
            shared.finish(step, result)
            if first_step_only and step.sends:
                return
