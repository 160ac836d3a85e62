"""How a login looks: words for each state, HTML snippets, and the ipywidgets that show them.

Everything here is a pure function of a :class:`ViewState`, so the widget, the widget-free HTML
fallback and the tests render the same text. Every string that can come from a server (the
code, the username, the URL) goes through :func:`html.escape` before it is put in HTML. The
token is not part of :class:`ViewState`, so it cannot reach the page.
"""

from __future__ import annotations

import dataclasses
import html
import urllib.parse
from collections.abc import Callable

import ipywidgets as widgets

from ._errors import (
    CertificateError,
    DeviceKeyRejectedError,
    InvalidTokenError,
    JwtVerificationError,
    MalformedResponseError,
    PlexApiError,
    RateLimitedError,
    ServerError,
    TokenExpiredError,
    TransportError,
)
from ._qr import qr_png
from ._terminal import clock

__all__ = [
    "LoginView",
    "ViewParts",
    "ViewState",
    "close_widgets",
    "describe_error",
    "fallback_html",
    "fallback_text",
    "status_sentence",
    "unreachable_sentence",
    "view_parts",
]

CSS_PREFIX = "plexpin"
#: Shown by the buttons while a cell blocks in wait() on a kernel that holds clicks back.
BUSY_NOTE = (
    "This cell is waiting in <code>login.wait()</code>, so the kernel is busy and the buttons may "
    "not respond until it ends. To stop waiting, interrupt the kernel (■); the login goes on."
)


@dataclasses.dataclass(frozen=True)
class ViewState:
    """What the view shows. Built by the widget from its traits; holds no secret."""

    status: str = "idle"
    code: str = ""
    auth_url: str = ""
    seconds_left: int = 0
    lifetime: int = 0
    error: str = ""
    reconnecting: bool = False
    username: str = ""
    product: str = ""
    strong: bool = False
    #: A passing message about remembering or signing out (never an error, never a secret).
    notice: str = ""
    #: The person signed out; the view offers to sign in again.
    signed_out: bool = False
    #: plex.tv has not answered the last tries at all; the view offers "Try again now".
    unreachable: bool = False
    #: "Remember me" is offered (not in an app served to many viewers).
    offer_remember: bool = True
    #: A cell blocks in ``wait()`` and the kernel cannot take clicks meanwhile (ipykernel 7).
    busy: bool = False


def describe_error(error: BaseException | None, *, retrying: bool) -> str:
    """A sentence for a person. Built from the error's type and Plex's message, never a token."""
    if error is None:
        return ""
    suffix = " Retrying in the background…" if retrying else ""
    if isinstance(error, RateLimitedError):
        wait = f" for {error.retry_after:.0f} s" if error.retry_after else ""
        return f"plex.tv asked us to slow down{wait}.{suffix}"
    if isinstance(error, CertificateError):
        return (
            f"plex.tv's TLS certificate could not be verified ({error.reason}). A proxy that "
            "intercepts HTTPS, or missing system certificates, can cause this."
        )
    if isinstance(error, TransportError):
        return f"Cannot reach plex.tv right now ({type(error).__name__}).{suffix}"
    if isinstance(error, ServerError):
        return f"plex.tv is having trouble (HTTP {error.status_code}).{suffix}"
    if isinstance(error, MalformedResponseError):
        return f"plex.tv sent an answer that could not be read.{suffix}"
    if isinstance(error, DeviceKeyRejectedError):
        return ("plex.tv no longer accepts this device's key (it may have been removed under "
                "Authorized Devices); sign in again with a new code.")
    if isinstance(error, TokenExpiredError):
        return "The Plex JWT expired and could not be renewed; sign in again with a new code."
    if isinstance(error, InvalidTokenError):
        return "plex.tv did not accept the token (it may have been signed out)."
    if isinstance(error, JwtVerificationError):
        return (f"The token plex.tv sent failed the check against plex.tv's published keys "
                f"({error.reason}), so it was not used.{suffix}")
    if isinstance(error, PlexApiError):
        detail = f": {error.plex_message}" if error.plex_message else ""
        return f"plex.tv answered HTTP {error.status_code}{detail}.{suffix}"
    return f"Sign-in failed: {error}.{suffix}" if str(error) else f"Sign-in failed ({type(error).__name__}).{suffix}"


def unreachable_sentence(retry_in: int) -> str:
    """The words while plex.tv gives no answer at all and the login keeps trying."""
    when = f"retrying in {retry_in} s" if retry_in > 0 else "retrying now"
    return f"Can't reach plex.tv — {when}…"


def link_label(auth_url: str) -> str:
    """Short text for the link: ``plex.tv/link`` rather than the whole URL."""
    parts = urllib.parse.urlsplit(auth_url)
    path = parts.path.rstrip("/") or ""
    return f"{parts.netloc}{path}" if parts.netloc else auth_url


def status_sentence(state: ViewState) -> str:
    """The status in words (plain text, not yet escaped)."""
    if state.status == "idle":
        return "Signed out." if state.signed_out else "Not started."
    if state.status == "requesting":
        return "Reconnecting to plex.tv…" if state.reconnecting else "Getting a code from plex.tv…"
    if state.status == "waiting":
        where = "the page below" if state.strong else link_label(state.auth_url) or "plex.tv/link"
        base = f"Enter the code at {where} or scan the QR code. {clock(state.seconds_left)} left."
        return f"Reconnecting… {base}" if state.reconnecting else base
    if state.status == "authorized":
        who = state.username or "your Plex account"
        return f"Signed in as {who}."
    if state.status == "expired":
        return "The code expired before it was approved."
    if state.status == "cancelled":
        return "Sign-in cancelled."
    if state.status == "error":
        return "Sign-in failed."
    return state.status


def _code_html(code: str, strong: bool) -> str:
    size = "1.1em" if strong else "2.4em"
    spacing = "0.02em" if strong else "0.25em"
    return (
        f'<div style="font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; '
        f'font-size: {size}; font-weight: 700; letter-spacing: {spacing}; word-break: break-all">'
        f"{html.escape(code)}</div>"
    )


def _link_html(auth_url: str) -> str:
    if urllib.parse.urlsplit(auth_url.strip()).scheme.lower() not in ("http", "https"):
        # Only web links become clickable (a javascript: URL must never); auth_url is built from
        # a checked base URL, so this is a second line of defence.
        return html.escape(auth_url)
    url = html.escape(auth_url, quote=True)
    return (
        f'<a href="{url}" target="_blank" rel="noopener noreferrer" '
        f'style="text-decoration: underline">Open {html.escape(link_label(auth_url))} ↗</a>'
    )


@dataclasses.dataclass(frozen=True)
class ViewParts:
    """What each part of the login box shows for a :class:`ViewState`, as plain text (not yet
    escaped) plus which parts are live. Both views (core ipywidgets and the anywidget for marimo)
    are drawn from this, so they cannot disagree."""

    product: str
    #: A code is live: the code, link, QR image and countdown show.
    live: bool
    code: str
    #: The approval page while the code is live; empty otherwise.
    auth_url: str
    link_label: str
    seconds_left: int
    lifetime: int
    #: Under a minute left: the countdown is drawn as a warning.
    expiring: bool
    status_text: str
    error: str
    #: Who is signed in (a name or "your Plex account"); empty until signed in.
    signed_in_as: str
    can_cancel: bool
    can_restart: bool
    can_sign_out: bool
    can_remember: bool
    notice: str
    #: plex.tv gives no answer and the login is retrying: offer to retry at once.
    can_retry_now: bool = False
    #: A cell waits for this login and the host holds clicks back meanwhile: say so by the buttons.
    busy: bool = False


def countdown_parts(state: ViewState) -> tuple[int, int, bool, str]:
    """The parts that move with the clock: ``(seconds_left, lifetime, expiring, status_text)``
    as :func:`view_parts` has them; a countdown step redraws only these."""
    live = state.status == "waiting" and bool(state.code)
    return (
        state.seconds_left if live else 0,
        max(state.lifetime, state.seconds_left, 1),
        live and state.seconds_left <= 60,
        "" if state.status == "authorized" else status_sentence(state),
    )


def view_parts(state: ViewState) -> ViewParts:
    """Decide what shows for ``state``: the single place where state becomes display."""
    live = state.status == "waiting" and bool(state.code)
    authorized = state.status == "authorized"
    seconds_left, lifetime, expiring, status_text = countdown_parts(state)
    return ViewParts(
        product=state.product,
        live=live,
        code=state.code if live else "",
        auth_url=state.auth_url if live else "",
        link_label=link_label(state.auth_url) if live and state.auth_url else "",
        seconds_left=seconds_left,
        lifetime=lifetime,
        expiring=expiring,
        status_text=status_text,
        error=state.error,
        signed_in_as=(state.username or "your Plex account") if authorized else "",
        can_cancel=state.status in ("requesting", "waiting"),
        can_restart=state.status in ("expired", "cancelled", "error") or state.signed_out,
        can_sign_out=authorized,
        can_remember=state.offer_remember,
        notice=state.notice,
        can_retry_now=state.unreachable and state.status in ("requesting", "waiting"),
        busy=state.busy and state.status in ("requesting", "waiting"),
    )


def fallback_text(state: ViewState) -> str:
    """The plain-text rendering for front ends without widgets (and for logs)."""
    lines = [f"Plex sign-in: {status_sentence(state)}"]
    if state.code and state.status == "waiting":
        lines.append(f"Code: {state.code}")
        lines.append(f"Link: {state.auth_url}")
    if state.error:
        lines.append(state.error)
    if state.notice:
        lines.append(state.notice)
    return "\n".join(lines)


def fallback_html(state: ViewState) -> str:
    """A static HTML rendering for front ends that cannot show widgets."""
    parts = [f"<p><b>Plex sign-in</b>: {html.escape(status_sentence(state))}</p>"]
    if state.code and state.status == "waiting":
        parts.append(_code_html(state.code, state.strong))
        parts.append(f"<p>{_link_html(state.auth_url)}</p>")
    if state.error:
        parts.append(f"<p>{html.escape(state.error)}</p>")
    if state.notice:
        parts.append(f"<p>{html.escape(state.notice)}</p>")
    return '<div class="plexpin-fallback">' + "".join(parts) + "</div>"


def _show(widget: widgets.Widget, visible: bool) -> None:
    display = None if visible else "none"
    if widget.layout.display != display:
        widget.layout.display = display


class LoginView:
    """The ipywidgets that make up the login box; :meth:`render` brings them up to date.

    Only core widgets are used (HTML, Image, IntProgress, Button, Checkbox), so the view works wherever
    ipywidgets does, with no front-end extension of our own.
    """

    def __init__(self, later: Callable[[Callable[[], None]], None] | None = None) -> None:
        """``later(work)`` runs ``work`` soon, outside the current update: the QR image is drawn
        so, unless :meth:`flush` draws it first. Without ``later`` everything is drawn at once."""
        self._later = later
        self.title = widgets.HTML()
        self.code = widgets.HTML()
        self.qr = widgets.Image(format="png", width=180, height=180)
        self.link = widgets.HTML()
        self.progress = widgets.IntProgress(value=0, min=0, max=1, bar_style="info")
        self.status = widgets.HTML()
        self.error = widgets.HTML()
        self.signed_in = widgets.HTML()
        self.cancel_button = widgets.Button(description="Cancel", button_style="")
        self.restart_button = widgets.Button(description="Get a new code", button_style="primary")
        self.retry_button = widgets.Button(description="Try again now", button_style="")
        self.buttons = widgets.HBox([self.retry_button, self.cancel_button, self.restart_button])
        self.busy = widgets.HTML()
        self.remember_box = widgets.Checkbox(value=False, description="Remember me on this computer", indent=False)
        self.signout_button = widgets.Button(description="Sign out", button_style="")
        self.footer = widgets.HBox([self.remember_box, self.signout_button])
        self.footer.layout.align_items = "center"
        self.notice = widgets.HTML()
        self.qr.layout.width = "180px"
        self.qr.layout.height = "180px"
        self.progress.layout.width = "260px"
        left = widgets.VBox([self.code, self.link, self.progress, self.status, self.error, self.buttons, self.busy])
        left.layout.justify_content = "center"
        self.body = widgets.HBox([self.qr, left])
        self.body.layout.align_items = "center"
        self.body.layout.grid_gap = "16px"
        self.children: list[widgets.Widget] = [self.title, self.body, self.signed_in, self.footer, self.notice]
        for name in ("title", "code", "qr", "link", "progress", "status", "error", "signed_in", "buttons", "busy", "body"):
            getattr(self, name).add_class(f"{CSS_PREFIX}-{name.replace('_', '-')}")
        self.cancel_button.add_class(f"{CSS_PREFIX}-cancel")
        self.restart_button.add_class(f"{CSS_PREFIX}-restart")
        self.retry_button.add_class(f"{CSS_PREFIX}-retry")
        self.remember_box.add_class(f"{CSS_PREFIX}-remember")
        self.signout_button.add_class(f"{CSS_PREFIX}-signout")
        self.footer.add_class(f"{CSS_PREFIX}-footer")
        self.notice.add_class(f"{CSS_PREFIX}-notice")
        self._qr_for = ""
        self._qr_pending = False  # the image of ``_qr_for`` is still to be drawn
        self._shown: ViewState | None = None

    def render(self, state: ViewState) -> None:
        """Show ``state``; only widgets whose value changes are touched.

        Nothing is done when ``state`` is what is shown already, and when only the countdown
        moved, only the countdown's parts are redrawn: a waiting login renders once or twice a
        second, and each widget value set is serialised for the front end."""
        shown = self._shown
        if state == shown:
            return
        self._shown = state
        if shown is not None and dataclasses.replace(shown, seconds_left=state.seconds_left) == state:
            self._render_countdown(*countdown_parts(state))
            return
        parts = view_parts(state)
        live = parts.live
        title = "<b>Sign in to Plex</b>"
        if parts.product:
            title += f" — {html.escape(parts.product)}"
        _set(self.title, title)
        _set(self.code, _code_html(parts.code, state.strong) if live else "")
        _set(self.link, _link_html(parts.auth_url) if parts.auth_url else "")
        if live and parts.auth_url != self._qr_for:
            self._qr_for = parts.auth_url
            self._draw_qr(parts.auth_url)
        elif not live and self._qr_for:
            # Leave nothing reusable in a saved notebook once the code is no longer live.
            self.qr.value = b""
            self._qr_for = ""
            self._qr_pending = False
        self._render_countdown(parts.seconds_left, parts.lifetime, parts.expiring, parts.status_text)
        _set(self.error, f'<span style="color: #b00020">{html.escape(parts.error)}</span>' if parts.error else "")
        if parts.signed_in_as:
            _set(self.signed_in, f"<span>✅ Signed in as <b>{html.escape(parts.signed_in_as)}</b></span>")
        else:
            _set(self.signed_in, "")
        _show(self.body, not parts.signed_in_as)
        _show(self.qr, live)
        _show(self.progress, live)
        _show(self.code, live)
        _show(self.link, live)
        _show(self.signed_in, bool(parts.signed_in_as))
        _show(self.cancel_button, parts.can_cancel)
        _show(self.restart_button, parts.can_restart)
        _show(self.retry_button, parts.can_retry_now)
        _show(self.signout_button, parts.can_sign_out)
        _show(self.remember_box, parts.can_remember)
        _set(self.notice, f"<span>{html.escape(parts.notice)}</span>" if parts.notice else "")
        _show(self.notice, bool(parts.notice))
        _set(self.busy, f"<small>{BUSY_NOTE}</small>" if parts.busy else "")
        _show(self.busy, parts.busy)

    def _draw_qr(self, auth_url: str) -> None:
        # Encoding a QR image takes a few ms. Where ``later`` defers it (to the event loop's
        # next round), the other answers that arrived with this one are taken in first: the
        # logins of one kernel then keep checking together, in one wake-up, rather than
        # drifting apart by an image's worth each.
        if self._later is None:
            self.qr.value = qr_png(auth_url)
            return
        already_due = self._qr_pending
        self._qr_pending = True
        if not already_due:
            self._later(self.flush)

    def flush(self) -> None:
        """Draw now what was left for later (the QR image of the live code, if still due)."""
        if self._qr_pending:
            self._qr_pending = False
            # Nothing to draw once the code expired or the login closed: either clears ``_qr_for``.
            if self._qr_for:
                self.qr.value = qr_png(self._qr_for)

    def _render_countdown(self, seconds_left: int, lifetime: int, expiring: bool, status_text: str) -> None:
        if self.progress.max != lifetime:
            self.progress.max = lifetime
        if self.progress.value != seconds_left:
            self.progress.value = seconds_left
        style = "warning" if expiring else "info"
        if self.progress.bar_style != style:
            self.progress.bar_style = style
        _set(self.status, f"<span>{html.escape(status_text)}</span>" if status_text else "")


def close_widgets(root: widgets.Widget) -> None:
    """Close every widget below ``root`` (not ``root`` itself) and the Layout and Style of each,
    ``root``'s included. Closing a box leaves its parts open otherwise: each keeps a comm, and a
    box left open around closed parts breaks saving the notebook's widget state."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        widget = todo.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        todo.extend(getattr(widget, "children", ()))
        for extra in (getattr(widget, "layout", None), getattr(widget, "style", None)):
            if isinstance(extra, widgets.Widget):
                extra.close()
        if widget is not root:
            widget.close()


def _set(widget: widgets.HTML, value: str) -> None:
    if widget.value != value:
        widget.value = value
