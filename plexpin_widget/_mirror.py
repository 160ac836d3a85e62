"""The login box as one anywidget, for hosts that cannot render core ipywidgets (marimo).

:class:`LoginMirror` holds display values only, drawn from the same :func:`view_parts` as the
core view, so the two cannot disagree. Its front end is a hand-written ES module shipped in
``plexpin_widget/static`` (no CDN, no build step) that puts every server string in the page with
``textContent``. Buttons send ``{"action": ...}`` messages back; the mirror hands the few it
knows to a callback and ignores the rest.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ._qr import qr_png
from ._view import ViewState, view_parts

__all__ = ["ACTIONS", "LoginMirror"]

logger = logging.getLogger("plexpin_widget.mirror")

STATIC = Path(__file__).resolve().parent / "static"
#: What the browser may ask for. "remember" carries a bool ``value``; the others carry nothing.
ACTIONS = ("cancel", "restart", "retry_now", "sign_out", "remember")
_PNG_DATA_URL = "data:image/png;base64,"
#: By the buttons while a cell waits: marimo handles the page's messages only between cells.
BUSY_NOTE = (
    "A cell is waiting for this sign-in, and marimo handles clicks only between cells: the "
    "buttons answer once that cell has finished."
)


class LoginMirror(anywidget.AnyWidget):
    """Display values of one login, kept up to date by :meth:`render`; holds no secret."""

    _esm = STATIC / "login.js"
    _css = STATIC / "login.css"

    product = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("idle").tag(sync=True)
    live = traitlets.Bool(False).tag(sync=True)
    code = traitlets.Unicode("").tag(sync=True)
    strong = traitlets.Bool(False).tag(sync=True)
    auth_url = traitlets.Unicode("").tag(sync=True)
    link_label = traitlets.Unicode("").tag(sync=True)
    #: The QR image of ``auth_url`` as a PNG data URL; empty unless a code is live.
    qr = traitlets.Unicode("").tag(sync=True)
    seconds_left = traitlets.Int(0).tag(sync=True)
    lifetime = traitlets.Int(1).tag(sync=True)
    expiring = traitlets.Bool(False).tag(sync=True)
    status_text = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    signed_in_as = traitlets.Unicode("").tag(sync=True)
    notice = traitlets.Unicode("").tag(sync=True)
    busy_note = traitlets.Unicode("").tag(sync=True)
    can_cancel = traitlets.Bool(False).tag(sync=True)
    can_restart = traitlets.Bool(False).tag(sync=True)
    can_retry_now = traitlets.Bool(False).tag(sync=True)
    can_sign_out = traitlets.Bool(False).tag(sync=True)
    can_remember = traitlets.Bool(True).tag(sync=True)
    remember = traitlets.Bool(False).tag(sync=True)

    def __init__(self, on_action: Callable[[str, Any], None], state: ViewState, *, remember: bool = False) -> None:
        self._qr_for = ""
        self._qr = ""
        # The first state goes out with the model itself: the page never shows a blank box.
        super().__init__(**self._values(state, remember))
        self._on_action = on_action
        self.on_msg(self._handle_action)

    def render(self, state: ViewState, *, remember: bool) -> None:
        """Show ``state``; only traits whose value changes are sent."""
        with self.hold_sync():
            for name, value in self._values(state, remember).items():
                if getattr(self, name) != value:
                    setattr(self, name, value)

    def _values(self, state: ViewState, remember: bool) -> dict[str, Any]:
        parts = view_parts(state)
        if parts.auth_url != self._qr_for:
            # Drawn once per code, not once per countdown tick.
            self._qr = _PNG_DATA_URL + base64.b64encode(qr_png(parts.auth_url)).decode() if parts.auth_url else ""
            self._qr_for = parts.auth_url
        return {
            "product": parts.product,
            "status": state.status,
            "live": parts.live,
            "code": parts.code,
            "strong": state.strong,
            "auth_url": parts.auth_url,
            "link_label": parts.link_label,
            "qr": self._qr,
            "seconds_left": parts.seconds_left,
            "lifetime": parts.lifetime,
            "expiring": parts.expiring,
            "status_text": parts.status_text,
            "error": parts.error,
            "signed_in_as": parts.signed_in_as,
            "notice": parts.notice,
            "busy_note": BUSY_NOTE if parts.busy else "",
            "can_cancel": parts.can_cancel,
            "can_restart": parts.can_restart,
            "can_retry_now": parts.can_retry_now,
            "can_sign_out": parts.can_sign_out,
            "can_remember": parts.can_remember,
            "remember": remember,
        }

    def _handle_action(self, _widget: Any, content: Any, _buffers: Any) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        value = content.get("value") if isinstance(content, dict) else None
        if action not in ACTIONS or (action == "remember") != isinstance(value, bool):
            # The page is not trusted to name methods: anything else is dropped, and said so.
            logger.warning("plexpin_widget: ignored a message from the page that is not a known action")
            return
        self._on_action(action, value)
