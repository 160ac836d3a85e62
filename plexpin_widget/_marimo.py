"""The login in marimo: which cell made it, closing it when that cell runs again, and what
marimo shows for it.

marimo does not render core ipywidgets, and it calls an object's ``_display_`` before anything
else; :class:`~plexpin_widget.PlexPinLogin` answers there with a :class:`LoginMirror` wrapped in
``mo.ui.anywidget``. marimo runs each cell on its kernel's asyncio loop, so the session's
ordinary asyncio driver polls between cells. Running a cell again (or deleting it) disposes what
marimo registered for that cell; the login registers itself there so that the old one stops
polling instead of leaking its task.

marimo offers no public hook for "this cell's objects are being replaced", so the cell lifecycle
registry is reached through marimo's private modules, guarded: with a marimo that lacks them the
login still shows and polls, but re-running the cell leaves the old login to be closed by hand.
"""

from __future__ import annotations

import html
import logging
import sys
import weakref
from collections.abc import Callable
from typing import Any

from ._view import ViewState

__all__ = [
    "ANYWIDGET_MISSING",
    "close_with_cell",
    "comm_closed",
    "marimo_element",
    "missing_anywidget_html",
    "serves_viewers",
]

logger = logging.getLogger("plexpin_widget.marimo")

ANYWIDGET_MISSING = (
    "marimo shows this login through anywidget, which is not installed in this environment. "
    "Install it (pip install anywidget) and run the cell again."
)


_warned = False


def _warn_once(why: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        logger.warning(
            "plexpin_widget: %s; running a login's cell again will not stop the old login "
            "(call login.close() first)", why
        )


def _context() -> Any:
    """marimo's runtime context for the running cell, or None outside a marimo kernel."""
    if "marimo" not in sys.modules:  # marimo is never imported just to ask
        return None
    try:
        from marimo._runtime.context import safe_get_context
    except Exception:  # a marimo without this module: treat as "not in a cell"
        _warn_once("this marimo has no runtime context module")
        return None
    try:
        return safe_get_context()
    except Exception:
        return None


def serves_viewers() -> bool:
    """True in an app that ``marimo run`` serves: every viewer gets a session of the same
    process, sharing its config folder."""
    if "marimo" not in sys.modules:
        return False
    try:
        import marimo

        return marimo.app_meta().mode == "run"
    except Exception:  # an older marimo without app_meta: assume a personal notebook
        return False


def close_with_cell(owner: Any) -> bool:
    """Call ``owner.close()`` when the marimo cell running now is run again or deleted.

    Holds ``owner`` weakly: nothing is kept alive for the sake of closing it. Returns whether a
    cell took it (False outside marimo, or with a marimo whose registry could not be found).
    """
    ctx = _context()
    if ctx is None or getattr(ctx, "cell_id", None) is None:
        return False
    try:
        from marimo._runtime.cell_lifecycle_item import CellLifecycleItem

        registry = ctx.cell_lifecycle_registry
    except Exception:
        _warn_once("this marimo has no cell lifecycle registry")
        return False

    owner_ref = weakref.ref(owner)

    class _CloseWithCell(CellLifecycleItem):
        def create(self, context: Any) -> None:
            del context

        def dispose(self, context: Any, deletion: bool) -> bool:
            del context, deletion
            target = owner_ref()
            if target is not None:
                try:
                    target.close()
                except Exception:  # a failing close must not break marimo's cell run
                    logger.exception("plexpin_widget: closing the previous login failed")
            return True

    registry.add(_CloseWithCell())
    return True


def marimo_element(on_action: Callable[[str, Any], None], state: ViewState, *, remember: bool) -> tuple[Any, Any]:
    """A new :class:`LoginMirror` showing ``state`` and the ``mo.ui.anywidget`` element for it.

    Raises ImportError when anywidget is missing (see :data:`ANYWIDGET_MISSING`).
    """
    import marimo as mo

    from ._mirror import LoginMirror

    mirror = LoginMirror(on_action, state, remember=remember)
    return mirror, mo.ui.anywidget(mirror)


def comm_closed(widget: Any) -> bool:
    """Whether ``widget`` no longer reaches a front end (closed by us, or by marimo when the
    cell that displayed it ran again)."""
    comm = getattr(widget, "comm", None)
    return comm is None or bool(getattr(comm, "_closed", False))


def missing_anywidget_html(fallback: str) -> Any:
    """What shows when anywidget is missing: the static rendering and how to fix it."""
    import marimo as mo

    return mo.Html(f'{fallback}<p class="plexpin-missing">{html.escape(ANYWIDGET_MISSING)}</p>')
