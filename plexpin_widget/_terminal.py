"""A login drawn in a terminal: the code, the link and a QR once, then a countdown and changes.

Shared by ``plexpin login`` and by ``PlexPinLogin.wait()`` where no widget front end shows the
login (a script, terminal IPython, a kernel that nobody renders). It only reads a
:class:`~plexpin_widget._session.LoginSession`; it never sees the token.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from ._errors import PlexPinError
from ._flow import PinFlow, Status
from ._qr import qr_text
from ._urls import auth_url

if TYPE_CHECKING:
    from ._session import LoginSession

__all__ = ["TerminalProgress", "clock", "describe", "network_trouble", "printable"]


def clock(seconds: int) -> str:
    """``m:ss``."""
    minutes, secs = divmod(max(0, seconds), 60)
    return f"{minutes}:{secs:02d}"


def printable(text: str) -> str:
    """``text`` without control characters: a username from the server must not be able to
    move the cursor, clear the screen or retitle the terminal."""
    return "".join(ch if unicodedata.category(ch)[0] != "C" else "\N{REPLACEMENT CHARACTER}" for ch in text)


def network_trouble(flow: PinFlow) -> bool:
    """The flow is retrying because plex.tv could not be reached (or answered 5xx/429)."""
    error = flow.error
    return flow.reconnecting and isinstance(error, PlexPinError) and error.retryable


def describe(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    return printable(f"{type(error).__name__}: {error}")


_ENDINGS = {
    Status.EXPIRED: "The code expired before it was approved.",
    Status.CANCELLED: "Sign-in cancelled.",
}


class TerminalProgress:
    """An ``on_change`` callback: shows each new code once, then a countdown.

    ``countdown_every``: without a terminal (a log, a notebook output), write a countdown line
    this often; ``None`` writes none there. ``report_status`` also writes a line when the login
    ends (signed in, expired, cancelled, failed); the CLI words those itself.
    """

    def __init__(
        self,
        out: TextIO,
        *,
        product: str,
        strong: bool,
        give_up_after: float | None = None,
        countdown_every: float | None = 10.0,
        report_status: bool = False,
    ) -> None:
        self.session: LoginSession | None = None  # set once the session exists
        self.out = out
        self.product = product
        self.strong = strong
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.give_up_after = give_up_after
        self.gave_up_offline = False
        self._countdown_every = countdown_every
        self._report_status = report_status
        self._shown_code: str | None = None
        self._last_line = -1e9
        self._line_open = False
        self._offline_since: float | None = None
        self._said_offline = False
        self._reported: tuple[Status, str] | None = None
        #: JWT sign-in: called once each time plex.tv refuses the device key.
        self.on_key_rejected: Callable[[], None] | None = None
        self._said_rejected = False

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _end_line(self) -> None:
        if self._line_open:
            self._write("\n")
            self._line_open = False

    def __call__(self) -> None:
        if self.session is None:
            return
        flow = self.session.flow
        now = time.monotonic()
        self._watch_network(flow, now)
        if flow.key_rejected and not self._said_rejected:
            self._said_rejected = True
            self._end_line()
            self._write("plex.tv no longer accepts this device's key (the device may have been removed "
                        "under Authorized Devices); sign in with a new code.\n")
            if self.on_key_rejected is not None:
                self.on_key_rejected()
        elif not flow.key_rejected:
            self._said_rejected = False
        if self._report_status:
            self._report(flow)
        if flow.status is not Status.WAITING or flow.pin is None:
            return
        pin = flow.pin
        if pin.code != self._shown_code:
            self._shown_code = pin.code
            self._reported = None
            self._show_code(pin.code)
            self._last_line = -1e9
        left = self.session.seconds_left()
        text = f"Waiting for approval… {clock(left)} left"
        if flow.reconnecting:
            text += " (reconnecting)"
        if self.tty:
            self._write(f"\r{text}   ")
            self._line_open = True
        elif self._countdown_every is not None and now - self._last_line >= self._countdown_every:
            self._write(text + "\n")
            self._last_line = now

    def _show_code(self, code: str) -> None:
        self._end_line()
        assert self.session is not None
        url = auth_url(
            self.session.base_url, code, strong=self.strong,
            client_identifier=self.session.identity.client_identifier, product=self.product,
        )
        lines = ["", "To sign in to Plex, open this link:", f"    {printable(url)}"]
        if not self.strong:
            lines += ["and enter the code:", "", f"    {printable(code)}", ""]
        lines += ["or scan this QR code with your phone:", "", qr_text(url), ""]
        self._write("\n".join(lines) + "\n")

    def _report(self, flow: PinFlow) -> None:
        status = flow.status
        if status is Status.AUTHORIZED:
            if not (flow.account_checked or flow.pending is None):
                return  # say who once the account has been read
            who = flow.user.display_name if flow.user is not None else ""
            line = f"Signed in as {printable(who)}." if who else "Signed in."
        elif status is Status.ERROR:
            line = f"Sign-in failed: {describe(flow.error)}"
        elif status in _ENDINGS:
            line = _ENDINGS[status]
        else:
            return
        if self._reported == (status, line):
            return
        self._reported = (status, line)
        self._end_line()
        self._write(line + "\n")

    def _watch_network(self, flow: PinFlow, now: float) -> None:
        assert self.session is not None
        no_code = flow.status is Status.REQUESTING
        if network_trouble(flow) and no_code:
            if self._offline_since is None:
                self._offline_since = now
            if not self._said_offline:
                self._said_offline = True
                self._end_line()
                self._write(f"Cannot reach {self.session.base_url} ({type(flow.error).__name__}); retrying…\n")
            if self.give_up_after is not None and now - self._offline_since >= self.give_up_after:
                self.gave_up_offline = True
                self.session.cancel()
        else:
            self._offline_since = None
            self._said_offline = False

    def finish(self) -> None:
        """End an open countdown line."""
        self._end_line()
