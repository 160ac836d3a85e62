"""``plexpin login`` and ``plexpin logout``: the PIN login in a terminal.

The login runs on :class:`~plexpin_widget._session.LoginSession` in blocking mode; its
``on_change`` callback draws the code, the link, a QR code and a countdown on stderr. Only the
token (with ``--print-token``) ever goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from ._errors import (
    LoginCancelledError,
    LoginFailedError,
    PinExpiredError,
    PlexPinError,
)
from ._exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_NETWORK, EXIT_OK
from ._flow import PinFlow, Status
from ._identity import ClientIdentity
from ._qr import qr_text
from ._session import LoginSession
from ._sources import FoundToken, find_token, forget_rejected
from ._store import TokenStore
from ._urls import auth_url, resolve_base_url

__all__ = ["OFFLINE_GIVE_UP", "run_login", "run_logout"]

#: Without --timeout, give up after this many seconds of failing to reach plex.tv for a code.
OFFLINE_GIVE_UP = 60.0
#: Without a terminal, one countdown line every this many seconds.
_LINE_EVERY = 10.0


def _clock(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    return f"{minutes}:{secs:02d}"


def _network_trouble(flow: PinFlow) -> bool:
    error = flow.error
    return flow.reconnecting and isinstance(error, PlexPinError) and error.retryable


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    return f"{type(error).__name__}: {error}"


class _Progress:
    """The ``on_change`` callback: shows each new code once, then a countdown."""

    def __init__(self, out: TextIO, *, product: str, strong: bool, give_up_after: float | None) -> None:
        self.session: LoginSession | None = None  # set once the session exists
        self.out = out
        self.product = product
        self.strong = strong
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.give_up_after = give_up_after
        self.gave_up_offline = False
        self._shown_code: str | None = None
        self._last_line = -1e9
        self._line_open = False
        self._offline_since: float | None = None
        self._said_offline = False

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
        if flow.status is not Status.WAITING or flow.pin is None:
            return
        pin = flow.pin
        if pin.code != self._shown_code:
            self._shown_code = pin.code
            self._show_code(pin.code)
            self._last_line = -1e9
        left = self.session.seconds_left()
        text = f"Waiting for approval… {_clock(left)} left"
        if flow.reconnecting:
            text += " (reconnecting)"
        if self.tty:
            self._write(f"\r{text}   ")
            self._line_open = True
        elif now - self._last_line >= _LINE_EVERY:
            self._write(text + "\n")
            self._last_line = now

    def _show_code(self, code: str) -> None:
        self._end_line()
        assert self.session is not None
        url = auth_url(
            self.session.base_url, code, strong=self.strong,
            client_identifier=self.session.identity.client_identifier, product=self.product,
        )
        lines = ["", "To sign in to Plex, open this link:", f"    {url}"]
        if not self.strong:
            lines += ["and enter the code:", "", f"    {code}", ""]
        lines += ["or scan this QR code with your phone:", "", qr_text(url), ""]
        self._write("\n".join(lines) + "\n")

    def _watch_network(self, flow: PinFlow, now: float) -> None:
        assert self.session is not None
        no_code = flow.status is Status.REQUESTING
        if _network_trouble(flow) and no_code:
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
        self._end_line()


def _store_token(store: TokenStore, token: str, identity: ClientIdentity, base_url: str, err: TextIO) -> None:
    try:
        where = store.save(token, identity.client_identifier, base_url)
    except OSError as exc:
        err.write(f"Could not remember the sign-in on this computer ({type(exc).__name__}).\n")
        return
    if "keyring" not in where:
        where = f"a private file in {store.folder}"  # a terminal may show the path; a notebook not
    err.write(f"Remembered on this computer, in {where}. `plexpin logout` forgets it.\n")


def run_login(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Carry out ``plexpin login``; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    identity = ClientIdentity.create(product=args.product, client_identifier=args.client_identifier)
    base_url = resolve_base_url(args.base_url)
    store = TokenStore()
    found: FoundToken | None = None
    if not args.fresh:
        found = find_token(client_identifier=identity.client_identifier, base_url=base_url, store=store)
    request_timeout = 10.0 if args.timeout is None else min(10.0, args.timeout)
    progress = _Progress(
        err, product=identity.product, strong=args.strong,
        give_up_after=OFFLINE_GIVE_UP if args.timeout is None else None,
    )
    session = LoginSession(
        identity, base_url=base_url, strong=args.strong, request_timeout=request_timeout, on_change=progress
    )
    progress.session = session
    if found is not None:
        err.write(f"Checking {found.description}…\n")
    try:
        session.start(token=found.token if found else None)
        token = session.wait(args.timeout)
    except KeyboardInterrupt:
        progress.finish()
        err.write("Cancelled.\n")
        return EXIT_INTERRUPTED
    except TimeoutError:
        progress.finish()
        if _network_trouble(session.flow):
            err.write(f"Gave up after {args.timeout:g} s: cannot reach {base_url} "
                      f"({_describe(session.flow.error)}).\n")
            return EXIT_NETWORK
        err.write(f"Gave up after {args.timeout:g} s without an approval.\n")
        return EXIT_FAILED
    except PinExpiredError:
        progress.finish()
        err.write("The code expired before it was approved. Run `plexpin login` again for a new one.\n")
        return EXIT_FAILED
    except LoginCancelledError:
        progress.finish()
        if progress.gave_up_offline:
            err.write(f"Gave up: cannot reach {base_url} ({_describe(session.flow.error)}).\n")
            return EXIT_NETWORK
        err.write("Sign-in cancelled.\n")
        return EXIT_FAILED
    except LoginFailedError as exc:
        progress.finish()
        cause = exc.__cause__
        err.write(f"Sign-in failed: {_describe(cause)}\n")
        if isinstance(cause, PlexPinError) and cause.retryable:
            return EXIT_NETWORK
        return EXIT_FAILED
    finally:
        session.close()
    progress.finish()
    flow = session.flow
    if flow.token_rejected and found is not None:
        deleted = forget_rejected(found, client_identifier=identity.client_identifier, base_url=base_url, store=store)
        err.write(f"plex.tv did not accept {found.description}"
                  f"{' (deleted it)' if deleted else ''}; signed in with a code instead.\n")
    who = flow.user.display_name if flow.user is not None else None
    if who is not None:
        err.write(f"Signed in as {who}.\n")
    else:
        err.write(f"Signed in, but the account could not be verified yet ({_describe(flow.error)}).\n")
    used_stored = found is not None and found.source == "remembered" and token == found.token
    from_pin = flow.pin is not None and flow.pin.auth_token == token
    if args.remember and not used_stored:
        if flow.verified or from_pin:
            _store_token(store, token, identity, base_url, err)
        else:
            err.write("Not remembered: plex.tv has not confirmed the token yet.\n")
    if args.print_token:
        out.write(token + "\n")
        out.flush()
    return EXIT_OK


def run_logout(args: argparse.Namespace, *, err: TextIO | None = None) -> int:
    """Carry out ``plexpin logout``: delete the remembered sign-in for this identifier and URL."""
    err = err or sys.stderr
    identity = ClientIdentity.create(client_identifier=args.client_identifier)
    base_url = resolve_base_url(args.base_url)
    if TokenStore().delete(identity.client_identifier, base_url):
        err.write(f"Forgot the sign-in remembered on this computer for {base_url}.\n")
    else:
        err.write(f"No sign-in was remembered on this computer for {base_url}.\n")
    return EXIT_OK
