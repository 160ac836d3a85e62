"""Button clicks while a cell waits, on each ipykernel generation.

While a cell runs, ipykernel holds back the front end's widget messages (a click on Cancel is a
``comm_msg`` on the shell channel) until the cell ends. What can be done about it depends on
the kernel:

* **ipykernel 6** (Colab's): jupyter-ui-poll takes the pending messages from inside the
  running cell, holding back any ``execute_request`` until the cell has finished. The waits use
  it, so Cancel, "Get a new code" and "Remember me" work while a cell waits.
* **ipykernel 7**: jupyter-ui-poll cannot help (7.1 removed ``do_one_iteration``; on 7.4 its
  async mode loses comm messages). ``await login.wait_async()`` needs nothing: 7.4 dispatches
  comm messages while an async cell awaits, and 7.0-7.3 handle them on a subshell when the front
  end sends them there. A blocking ``wait()`` keeps the cell's thread busy, so the widget says
  so next to its buttons and how to stop waiting (interrupt the kernel).

What jupyter-ui-poll cannot do: it works only from the kernel's main thread, inside a cell
(it replays the held-back cells from a ``post_run_cell`` hook), not from a background thread
or a task that outlives the cell; in a blocking wait the click handlers run on its helper
thread, not the kernel's main thread (the login hands their work to the waiting thread).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["BlockingUiEvents", "await_with_ui_events", "ipykernel_major", "ui_events_work"]

T = TypeVar("T")

#: How often a waiting cell takes pending widget messages (seconds).
UI_EVENTS_EVERY = 0.1
#: How many pending messages are taken each time.
_PER_POLL = 10


def ipykernel_major() -> int | None:
    """The running ipykernel's major version, or None if no ipykernel is loaded."""
    ipykernel = sys.modules.get("ipykernel")
    if ipykernel is None:
        return None
    version = getattr(ipykernel, "version_info", None)
    if version:
        return int(version[0])
    try:
        return int(str(getattr(ipykernel, "__version__", "")).split(".")[0])
    except ValueError:
        return None


def ui_events_work() -> bool:
    """True where jupyter-ui-poll can deliver clicks to this waiting cell: ipykernel 6 or
    older, on the kernel's main thread, with jupyter-ui-poll installed."""
    major = ipykernel_major()
    if major is None or major >= 7 or threading.current_thread() is not threading.main_thread():
        return False
    try:
        import jupyter_ui_poll  # noqa: F401
    except ImportError:
        return False
    return True


class BlockingUiEvents:
    """For a blocking wait: call the instance now and then to handle pending widget messages."""

    def __init__(self) -> None:
        from jupyter_ui_poll import ui_events

        self._context: Any = ui_events()
        self._poll: Callable[[int], Any] | None = None

    def __enter__(self) -> BlockingUiEvents:
        self._poll = self._context.__enter__()
        return self

    def __call__(self) -> None:
        if self._poll is not None:
            self._poll(_PER_POLL)

    def __exit__(self, *exc_info: Any) -> None:
        self._poll = None
        self._context.__exit__(*exc_info)


async def await_with_ui_events(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` while handling pending widget messages every
    :data:`UI_EVENTS_EVERY` seconds (ipykernel 6; see :func:`ui_events_work`)."""
    import asyncio

    from jupyter_ui_poll import ui_events

    task = asyncio.ensure_future(awaitable)
    try:
        async with ui_events() as poll:
            while not task.done():
                await poll(_PER_POLL)
                await asyncio.wait([task], timeout=UI_EVENTS_EVERY)
    finally:
        if not task.done():
            task.cancel()  # interrupted: the wait ends, the login goes on
    return task.result()
