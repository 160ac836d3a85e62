"""``PlexPinLogin``: the notebook widget. Traits for the browser, a token for Python only.

The widget is a thin layer over :class:`~plexpin_widget._session.LoginSession`: the session runs
the login, and after every change the widget copies what it needs into traits and re-renders
its view. Only display values are synced to the browser; the token, the pin and the user stay
in the kernel, so they cannot end up in a saved notebook.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as widgets
import traitlets

from ._errors import ConfigurationError, LoginError
from ._flow import Status, validate_poll_interval
from ._hosts import Host, detect_host
from ._identity import DEFAULT_PRODUCT, ClientIdentity, validate_product
from ._models import Pin, PlexResource, PlexUser
from ._session import LoginSession, running_loop
from ._kernel_events import BlockingUiEvents, await_with_ui_events, ipykernel_major, ui_events_work
from ._sources import TOKEN_ENV, FoundKey, FoundToken, check_token_text, find_device_key, find_token, forget_rejected
from ._store import DeviceKeyStore, TokenStore
from ._terminal import TerminalProgress
from ._timeouts import check_request_timeout
from ._urls import auth_url as build_auth_url
from ._urls import resolve_base_url
from ._view import (
    LoginView,
    ViewState,
    close_widgets,
    describe_error,
    fallback_html,
    fallback_text,
    unreachable_sentence,
)

__all__ = ["PlexPinLogin"]


_STATUSES = tuple(status.value for status in Status)
# The box's own look may be set as for any ipywidgets box (layout=Layout(width="500px")); any
# other keyword is a mistake and raises, as it would for a Python function.
_BOX_KEYWORDS = ("layout", "box_style", "tabbable", "tooltip")
_WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


class PlexPinLogin(widgets.VBox):
    """Sign in to Plex from a notebook: shows a code and a QR image, and polls in the background.

    >>> login = PlexPinLogin(product="My analysis")   # doctest: +SKIP
    >>> login                                          # displays the widget; returns at once
    >>> token = login.wait()                           # or: await login.wait_async()

    ``token`` is an observable trait that is never sent to the browser::

        login.observe(lambda change: print("signed in"), names="token")

    Parameters: ``product`` is the name plex.tv shows among your authorized devices;
    ``strong=True`` asks for a long code carried in a URL (the Plex auth app) instead of a
    4-character code typed at plex.tv/link; ``base_url`` and ``client_identifier`` default to
    ``$PLEXPIN_BASE_URL`` / ``https://plex.tv`` and to ``$PLEXPIN_CLIENT_IDENTIFIER`` / the
    identifier stored in your config directory; ``poll_interval`` is the seconds between checks.

    Before asking for a code, a token is looked for in ``token=``, ``$PLEX_TOKEN``, the Colab
    secret ``PLEX_TOKEN`` and the sign-in remembered on this computer, in that order; one that
    plex.tv accepts signs you in at once. ``remember=True`` (or ticking "Remember me on this
    computer") keeps the token in the OS keyring, or a private file, for the next session;
    :meth:`sign_out` forgets it. After sign-in, :meth:`resources`, :meth:`account` and
    :meth:`server` reach your Plex servers (the last two through python-plexapi).

    ``jwt=True`` uses Plex's newer sign-in (needs ``plexpin_widget[jwt]``): the login makes an
    Ed25519 device key, and ``token`` is a Plex JWT, checked against plex.tv's published keys,
    that lasts 7 days and is renewed in the background before it runs out (``token`` changes
    and observers run again; ``token_expires_at`` says when the current one ends). With
    ``remember=True`` only the device key is kept, never a JWT. Plex Media Servers have been
    reported to refuse Plex JWTs; sign in without ``jwt=True`` if :meth:`server` must work.
    """

    status = traitlets.Enum(_STATUSES, default_value="idle", help="Where the login stands.").tag(sync=True)
    code = traitlets.Unicode("", help="The code to approve; empty until one exists.").tag(sync=True)
    auth_url = traitlets.Unicode("", help="The page where the code is approved.").tag(sync=True)
    seconds_left = traitlets.Int(0, help="Seconds until the code expires.").tag(sync=True)
    error = traitlets.Unicode("", help="What went wrong, in words; empty when nothing did.").tag(sync=True)
    notice = traitlets.Unicode("", help="A passing message about remembering or signing out.").tag(sync=True)
    remember = traitlets.Bool(False, help="Keep the token on this computer for the next session.")

    # Never synced: these stay in the kernel.
    token = traitlets.Unicode(None, allow_none=True, read_only=True, help="The Plex token once signed in.")
    pin = traitlets.Instance(Pin, allow_none=True, read_only=True, help="The current pin.")
    user = traitlets.Instance(PlexUser, allow_none=True, read_only=True, help="The account after sign-in.")
    token_expires_at = traitlets.Instance(
        datetime.datetime, allow_none=True, read_only=True,
        help="When the Plex JWT in token expires (UTC); None for a classic token.",
    )

    def __init__(
        self,
        product: str = DEFAULT_PRODUCT,
        strong: bool = False,
        base_url: str | None = None,
        client_identifier: str | None = None,
        poll_interval: float = 1.0,
        *,
        request_timeout: float = 10.0,
        transport: Any = None,
        autostart: bool = True,
        token: str | None = None,
        remember: bool = False,
        jwt: bool = False,
        **kwargs: Any,
    ) -> None:
        _check_keywords(kwargs)
        product = validate_product(product)
        poll_interval = validate_poll_interval(poll_interval)
        if not isinstance(remember, bool):
            raise ConfigurationError("remember", f"must be True or False, not {remember!r}")
        if not isinstance(jwt, bool):
            raise ConfigurationError("jwt", f"must be True or False, not {jwt!r}")
        if jwt:
            from ._jwk import require_jwt

            require_jwt()  # JwtUnavailableError names the extra to install
            if token is not None:
                raise ConfigurationError("token", "a JWT sign-in makes its own token; leave token= out with jwt=True")
        # Kept in a plain attribute, never a trait: nothing of it may reach the browser.
        self._explicit_token = check_token_text(token, "token") if token is not None else None
        identity = ClientIdentity.create(product=product, client_identifier=client_identifier)
        # Every argument is checked before the first widget exists: a bad one must not leave
        # a half-built view (dozens of open widget models) behind.
        base_url = resolve_base_url(base_url)
        check_request_timeout(request_timeout)
        self._view = LoginView(later=self._soon)
        super().__init__(children=list(self._view.children), **kwargs)
        self.add_class("plexpin-login")
        self.layout.border = "1px solid #d0d7de"
        self.layout.padding = "8px 16px"
        self.layout.max_width = "720px"
        self._product = product
        self._strong = bool(strong)
        self._request_timeout = request_timeout
        self._transport = transport
        self._jwt = jwt
        # A JWT sign-in remembers its device key, never a token.
        self._store: TokenStore = DeviceKeyStore() if jwt else TokenStore()
        self._found: FoundToken | None = None
        self._found_key: FoundKey | None = None
        self._persisted_for: str | None = None
        self._rejection_seen = False
        self._signed_out = False
        self._last_status = Status.IDLE
        self._terminal: TerminalProgress | None = None  # made by the first wait with no widget seen
        self._terminal_live = False
        self._busy = False  # a blocking wait holds the kernel (ipykernel 7): say so by the buttons
        self._pulled: tuple[Any, ...] | None = None
        self._session = LoginSession(
            identity,
            base_url=base_url,
            strong=strong,
            poll_interval=poll_interval,
            request_timeout=request_timeout,
            transport=transport,
            on_change=self._pull_state,
            jwt=jwt,
        )
        # marimo shows the login through an anywidget mirror, made on first display.
        self._marimo_mirror: Any = None
        self._marimo_element: Any = None
        # An app that `marimo run` serves to many viewers keeps one config folder for all of
        # them: a sign-in remembered there would sign the next viewer in as the last one. So
        # there it is neither offered nor used, unless the app itself passes remember=True.
        self._shared_app = False
        self._remember_chosen = remember
        if "marimo" in sys.modules:
            from ._marimo import close_with_cell, serves_viewers

            # Running the cell again replaces this login: stop it then, or it polls on.
            close_with_cell(self)
            self._shared_app = serves_viewers()
        self._session_options = {
            "strong": strong, "poll_interval": poll_interval,
            "request_timeout": request_timeout, "transport": transport, "jwt": jwt,
        }
        self.remember = remember
        traitlets.link((self, "remember"), (self._view.remember_box, "value"))
        self.observe(self._on_remember, names="remember")
        self._view.cancel_button.on_click(lambda _button: self.cancel())
        self._view.restart_button.on_click(lambda _button: self.restart())
        self._view.retry_button.on_click(lambda _button: self.retry_now())
        self._view.signout_button.on_click(lambda _button: self.sign_out())
        self._render()
        if autostart:
            try:
                self.start()
            except BaseException:
                # E.g. a malformed $PLEX_TOKEN: do not leave a half-made widget's comm open.
                self.close()
                raise

    # ----------------------------------------------------------------- public methods

    @property
    def base_url(self) -> str:
        return self._session.base_url

    @property
    def client_identifier(self) -> str:
        return self._session.identity.client_identifier

    @property
    def jwt(self) -> bool:
        """Whether this login uses Plex's JWT sign-in (``jwt=True``)."""
        return self._jwt

    def _soon(self, work: Callable[[], None]) -> None:
        """Run ``work`` in the event loop's next round; now where no loop runs in this thread,
        or while a blocking ``wait()`` holds the loop (its next round comes only after the wait,
        when the person no longer needs the QR image)."""
        loop = running_loop()
        session = getattr(self, "_session", None)
        if loop is None or (session is not None and session.is_blocking):
            work()
        else:
            loop.call_soon(work)

    def start(self) -> None:
        """Begin the login. The constructor calls this unless ``autostart=False``."""
        self._signed_out = False
        self.notice = ""
        if self._jwt:
            self._session.start(by_key=self._remembered_key())
        else:
            self._session.start(token=self._initial_token())

    def cancel(self) -> None:
        """Stop polling. Safe to call from any thread (button callbacks may run on a subshell)."""
        self._session.cancel()

    def retry_now(self) -> None:
        """While plex.tv cannot be reached, try again at once instead of after the backoff (the
        "Try again now" button). A wait plex.tv asked for (429 ``Retry-After``) is still kept.
        Safe to call from any thread."""
        self._session.retry_now()

    def restart(self) -> None:
        """Forget the current code and get a new one."""
        self._signed_out = False
        self.notice = ""
        self._session.restart()

    def sign_out(self) -> None:
        """Sign out: revoke the token at plex.tv and delete what this computer remembers.

        The token (classic or JWT) is revoked with ``DELETE /api/v2/users/signout``; the
        remembered token or device key is deleted even when plex.tv cannot be reached, and the
        notice then says the revocation did not happen. The widget says "Signed out." and
        offers to sign in again; ``token`` and ``user`` become ``None``. Where an event loop
        runs (a notebook), the revocation is sent from a worker thread and the notice follows
        when plex.tv has answered, so the kernel never waits on the network.
        """
        token = self.token
        loop = running_loop()
        revoked = self._revoke(token) if token and loop is None else None
        try:
            deleted = self._store.delete(self.client_identifier, self.base_url)
        except Exception:  # a broken store must not keep anyone signed in
            deleted = False
        device = self._session.device
        if device is not None:
            device.forget()  # the next sign-in starts from a new key
        self.remember = False
        old = self._session
        self._session = LoginSession(
            old.identity, base_url=old.base_url, on_change=self._pull_state, **self._session_options
        )
        old.close()
        self._found = None
        self._found_key = None
        self._persisted_for = None
        self._signed_out = True
        if token and loop is not None:
            self.notice = self._signed_out_notice("pending", deleted)
            revocation = loop.run_in_executor(None, self._revoke, token)

            def answered(done: Any) -> None:
                if self._signed_out and not done.cancelled():  # not signed in again meanwhile
                    self.notice = self._signed_out_notice(done.result(), deleted)

            revocation.add_done_callback(answered)
        else:
            self.notice = self._signed_out_notice(revoked, deleted)
        self._pull_state()

    def _signed_out_notice(self, revoked: bool | str | None, deleted: bool) -> str:
        """``revoked``: True, why not (an error's name), "pending", or None (no token)."""
        parts = ["Signed out."]
        if revoked == "pending":
            parts.append("Revoking the token at plex.tv…")
        elif revoked is True:
            parts.append("plex.tv revoked the token.")
        elif revoked is not None:
            parts.append(f"The token was NOT revoked at plex.tv ({revoked}): it stays valid there until "
                         "it expires or you remove the device under Authorized Devices.")
        if deleted:
            parts.append("The sign-in remembered on this computer was deleted.")
        if os.environ.get(TOKEN_ENV, "").strip():
            parts.append(f"{TOKEN_ENV} is still set in this environment and will sign you in again next time.")
        return " ".join(parts)

    def _revoke(self, token: str) -> bool | str:
        """True once plex.tv revoked ``token``; otherwise the error's name (never the token)."""
        from ._account import revoke_token

        try:
            revoke_token(
                token, identity=self._session.identity, base_url=self.base_url,
                timeout=self._request_timeout, transport=self._transport,
            )
        except Exception as exc:
            return type(exc).__name__
        return True

    # ----------------------------------------------------------------- after sign-in

    def _require_token(self) -> str:
        token = self.token
        if not token:
            raise LoginError("not signed in yet; wait for the sign-in first (login.wait() or await login.wait_async())")
        return token

    def resources(self) -> list[PlexResource]:
        """The account's servers and other devices, with their connections (blocks briefly)."""
        from ._account import list_resources

        return list_resources(
            self._require_token(), identity=self._session.identity, base_url=self.base_url,
            timeout=self._request_timeout, transport=self._transport,
        )

    def account(self) -> Any:
        """The account as a python-plexapi ``MyPlexAccount`` (needs ``plexpin_widget[plexapi]``)."""
        from ._account import plexapi_account

        return plexapi_account(
            self._require_token(), identity=self._session.identity, base_url=self.base_url,
            timeout=self._request_timeout,
        )

    def server(self, name: str | None = None) -> Any:
        """A python-plexapi ``PlexServer`` for your server ``name`` (any server when ``None``),
        reached through its best connection: local, then remote, relay last. Needs
        ``plexpin_widget[plexapi]``; raises ``ServerConnectionError`` naming every connection
        tried when none answers."""
        from ._account import connect_server

        # A Plex JWT reaches a server with the resource's accessToken; a 401 to it is explained.
        return connect_server(
            self._require_token(), name, identity=self._session.identity, base_url=self.base_url,
            timeout=self._request_timeout, transport=self._transport,
        )

    def wait(self, timeout: float | None = None) -> str:
        """Block until signed in and return the token. Works in scripts and in notebook cells
        (the widget keeps updating meanwhile). Raises :class:`PinExpiredError`,
        :class:`LoginCancelledError`, :class:`LoginFailedError` or :class:`TimeoutError`.

        Where no widget front end shows the login (a script, terminal IPython, a kernel run by
        nbclient or papermill), the code, the link and a QR code are written to stderr once,
        and then how the login ends. In a notebook on ipykernel 6 the buttons keep working
        while the cell waits; on ipykernel 7 the widget says that the cell is busy and that
        interrupting the kernel (■) stops the wait (the login goes on polling).
        """
        # A draw left for the loop's next round (an answer taken in just before this cell ran)
        # would come only after the wait, which holds that loop: it is drawn now.
        self._view.flush()
        with self._waiting(blocking=True) as ui_events:
            return self._session.wait(timeout, idle=ui_events)

    async def wait_async(self, timeout: float | None = None) -> str:
        """Await the sign-in and return the token; same errors and terminal output as
        :meth:`wait`. The buttons keep working while the cell awaits, on ipykernel 6 and 7."""
        with self._waiting(blocking=False) as ui_events:
            if ui_events is not None:
                return await await_with_ui_events(self._session.wait_async(timeout))
            return await self._session.wait_async(timeout)

    @contextlib.contextmanager
    def _waiting(self, *, blocking: bool) -> Iterator[Any]:
        """Around a wait: terminal output where no widget is seen, and in a notebook either a
        way to take clicks meanwhile (yielded) or a note that the cell is busy."""
        host = detect_host()
        if not host.shows_widgets:
            if self._terminal is None:
                self._terminal = TerminalProgress(
                    sys.stderr, product=self._product, strong=self._strong,
                    countdown_every=None, report_status=True,
                )
            self._terminal.out = sys.stderr
            self._terminal_live = True
            try:
                self._pull_state()  # what is known already (the code, if it exists) shows now
                yield None
            finally:
                self._terminal_live = False
                self._terminal.finish()
            return
        if host is Host.MARIMO:
            # marimo takes the page's clicks only between cells, whichever way the cell waits.
            with self._showing_busy():
                yield None
            return
        on_main_thread = threading.current_thread() is threading.main_thread()
        if ipykernel_major() is None or not on_main_thread:
            yield None  # a wait on another thread leaves the kernel free to take clicks
            return
        if ui_events_work():
            if not blocking:
                yield True
                return
            with BlockingUiEvents() as ui_events:
                yield ui_events
            return
        if not blocking:
            yield None
            return
        with self._showing_busy():
            yield None

    @contextlib.contextmanager
    def _showing_busy(self) -> Iterator[None]:
        """The view says by the buttons that a cell waiting here holds clicks back."""
        self._busy = True
        try:  # an interrupt may come while the note is drawn: it goes in any case
            self._render()
            yield
        finally:
            self._busy = False
            self._render()

    def close(self) -> None:
        """Stop all work and close the widget and its parts."""
        session = getattr(self, "_session", None)
        if session is not None:
            session.close()
        mirror = getattr(self, "_marimo_mirror", None)
        if mirror is not None:
            mirror.close()
        super().close()
        close_widgets(self)  # every part, however deep, with its Layout and Style

    async def aclose(self) -> None:
        """Like :meth:`close`, and wait until the poll task has finished."""
        await self._session.aclose()
        self.close()

    # ----------------------------------------------------------------- hooks for subclasses

    def _initial_token(self) -> str | None:
        """A token to validate instead of asking for a code: the first of ``token=``,
        ``$PLEX_TOKEN``, the Colab secret and the remembered sign-in (see ``_sources``)."""
        self._found = find_token(
            self._explicit_token, client_identifier=self.client_identifier, base_url=self.base_url,
            store=self._store, use_remembered=self._remember_chosen or not self._shared_app,
        )
        self._rejection_seen = False
        if self._found is None:
            return None
        if self._found.source == "remembered":
            # It is stored already, and the person chose that earlier: show the box ticked.
            self._persisted_for = self._found.token
            self.remember = True
        return self._found.token

    def _remembered_key(self) -> bool:
        """JWT sign-in: use the device key remembered on this computer, if there is one."""
        self._rejection_seen = False
        try:
            found = find_device_key(
                client_identifier=self.client_identifier, base_url=self.base_url, store=self._store,  # type: ignore[arg-type]
            )
        except Exception:
            found = None
        self._found_key = found
        if found is None:
            return False
        device = self._session.device
        assert device is not None
        device.use_key(found.key)
        self._persisted_for = found.key.kid
        self.remember = True
        return True

    # ----------------------------------------------------------------- remembering

    def _sync_remembered(self) -> None:
        """After each change: drop a rejected remembered token, keep a new one if asked to."""
        flow = self._session.flow
        if self._jwt:
            self._sync_remembered_key()
            return
        if flow.token_rejected and not self._rejection_seen:
            self._rejection_seen = True
            found = self._found
            try:
                deleted = forget_rejected(
                    found, client_identifier=self.client_identifier, base_url=self.base_url, store=self._store
                )
            except Exception:
                deleted = False
            if deleted:
                self._persisted_for = None
                self.notice = "plex.tv no longer accepts the remembered sign-in; it was deleted. Sign in with the code."
            elif found is not None:
                self.notice = f"plex.tv did not accept {found.description}; sign in with the code instead."
        if flow.status is Status.AUTHORIZED and self._last_status is not Status.AUTHORIZED:
            found = self._found
            # Say where a sign-in without a code came from, so it is never a mystery.
            used = found is not None and flow.token == found.token and not flow.token_rejected
            self.notice = f"Signed in with {found.description}." if used and found is not None else ""
        self._last_status = flow.status
        if self.remember:
            self._persist()

    def _sync_remembered_key(self) -> None:
        """JWT sign-in: say why a code is shown after a refused key; keep the key if asked to."""
        flow = self._session.flow
        if not flow.key_rejected:
            self._rejection_seen = False  # a later refusal is news again
        elif not self._rejection_seen:
            self._rejection_seen = True
            try:
                deleted = self._store.delete(self.client_identifier, self.base_url)
            except Exception:
                deleted = False
            self._persisted_for = None
            self._found_key = None
            what = "the device key remembered on this computer" if deleted else "this device's key"
            self.notice = (f"plex.tv no longer accepts {what} (the device may have been removed under "
                           "Authorized Devices)" + ("; it was deleted" if deleted else "")
                           + ". Sign in with the new code.")
        if flow.status is Status.AUTHORIZED and self._last_status is not Status.AUTHORIZED:
            used_key = self._found_key is not None and flow.pin is None
            self.notice = f"Signed in with {self._found_key.description}." if used_key and self._found_key else ""
        self._last_status = flow.status
        if self.remember:
            self._persist()

    def _persist(self) -> None:
        if self._jwt:
            self._persist_key()
            return
        flow = self._session.flow
        token = flow.token
        if flow.status is not Status.AUTHORIZED or not token or token == self._persisted_for:
            return
        from_pin = flow.pin is not None and flow.pin.auth_token == token
        if not (flow.verified or from_pin):
            return  # plex.tv has not vouched for it yet; keep it only once it has
        self._persisted_for = token  # set first: a failure is reported once, not every second
        try:
            where = self._store.save(token, self.client_identifier, self.base_url)
        except Exception as exc:
            self.notice = f"Could not remember the sign-in on this computer ({type(exc).__name__})."
            return
        self.notice = f"Remembered on this computer, in {where}."

    def _persist_key(self) -> None:
        """Keep the device key (never the JWT) once plex.tv has issued a token for it."""
        flow = self._session.flow
        device = self._session.device
        key = device.current_key if device is not None else None
        if flow.status is not Status.AUTHORIZED or not flow.token or key is None:
            return
        if key.kid == self._persisted_for:
            return
        self._persisted_for = key.kid  # set first: a failure is reported once, not every second
        try:
            where = self._store.save(key.to_jwk_bytes().decode("ascii"), self.client_identifier, self.base_url)
        except Exception as exc:
            self.notice = f"Could not remember the device key on this computer ({type(exc).__name__})."
            return
        self.notice = f"This computer remembers the device key (not the token), in {where}."

    def _on_remember(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self._persist()
        else:
            self._persisted_for = None
            try:
                deleted = self._store.delete(self.client_identifier, self.base_url)
            except Exception:
                deleted = False
            if deleted:
                self.notice = "This computer no longer remembers the sign-in."
        self._render()

    # ----------------------------------------------------------------- state -> traits

    def _pull_state(self) -> None:
        session = self._session
        flow = session.flow
        status = flow.status
        pin = flow.pin
        # A waiting login is pulled once or twice a second (after each check, at each whole
        # second) and mostly only its countdown moved. While a code waits and no fault is being
        # retried (a retry's words count down too), everything else shown or remembered comes
        # from what ``pulled`` holds; any other state takes the full path.
        pulled: tuple[Any, ...] | None = None
        if status is Status.WAITING and pin is not None and not flow.reconnecting:
            pulled = (session, pin.id, pin.code, pin.auth_token, _lifetime(pin), flow.error, flow.token,
                      flow.user, flow.token_expires_at, flow.token_rejected, self._signed_out, self.notice)
        if pulled is not None and pulled == self._pulled:
            if pin is not self.pin:  # a newer answer for the same pin (its expires_in moved)
                self.set_trait("pin", pin)
            seconds_left = session.seconds_left()
            if seconds_left != self.seconds_left:
                self.seconds_left = seconds_left
                self._render()  # the view redraws only the countdown
            self._tell_terminal()
            return
        self._pulled = pulled
        live = status is Status.WAITING and pin is not None
        with self.hold_trait_notifications():
            self.set_trait("pin", pin)
            self.code = pin.code if live else ""
            self.auth_url = self._auth_url_for(pin) if live else ""
            self.seconds_left = session.seconds_left()
            self.error = self._error_sentence()
            self.status = status.value
            self.set_trait("user", flow.user)
            if flow.token_expires_at != self.token_expires_at:
                self.set_trait("token_expires_at", flow.token_expires_at)
            if flow.token != self.token:
                self.set_trait("token", flow.token)
        self._sync_remembered()
        self._render()
        self._tell_terminal()

    def _tell_terminal(self) -> None:
        """While a wait writes to the terminal (no widget is seen), pass each change on."""
        if self._terminal_live and self._terminal is not None:
            self._terminal.session = self._session
            self._terminal()

    def _auth_url_for(self, pin: Pin | None) -> str:
        if pin is None:
            return ""
        return build_auth_url(
            self._session.base_url,
            pin.code,
            strong=self._strong,
            client_identifier=self._session.identity.client_identifier,
            product=self._product,
        )

    def _error_sentence(self) -> str:
        flow = self._session.flow
        if flow.status is Status.AUTHORIZED and not flow.verified and flow.error is not None:
            return "Signed in, but the account could not be verified yet: " + describe_error(
                flow.error, retrying=flow.reconnecting
            )
        if flow.status in (Status.EXPIRED, Status.CANCELLED):
            return ""
        if flow.unreachable:
            return unreachable_sentence(self._session.seconds_until_retry())
        if flow.status is Status.ERROR or flow.reconnecting:
            return describe_error(flow.error, retrying=flow.reconnecting)
        return ""

    def _view_state(self) -> ViewState:
        flow = self._session.flow
        pin = flow.pin
        return ViewState(
            status=self.status,
            code=self.code,
            auth_url=self.auth_url,
            seconds_left=self.seconds_left,
            lifetime=_lifetime(pin) if pin is not None else 0,
            error=self.error,
            reconnecting=flow.reconnecting,
            username=self.user.display_name if self.user is not None else "",
            product=self._product,
            strong=self._strong,
            offer_remember=not self._shared_app,
            notice=self.notice,
            signed_out=self._signed_out,
            busy=self._busy,
            unreachable=flow.unreachable,
        )

    def _render(self) -> None:
        state = self._view_state()
        self._view.render(state)
        if self._marimo_mirror is not None:
            self._marimo_mirror.render(state, remember=self.remember)

    # ----------------------------------------------------------------- marimo

    def _display_(self) -> Any:
        """What marimo shows for the login (marimo alone calls this, before any other display
        hook): the live login as an anywidget, since marimo does not render core ipywidgets."""
        from ._marimo import comm_closed, marimo_element, missing_anywidget_html

        if self._marimo_mirror is None or comm_closed(self._marimo_mirror):
            try:
                mirror, element = marimo_element(self._on_page_action, self._view_state(), remember=self.remember)
            except ImportError:
                return missing_anywidget_html(fallback_html(self._view_state()))
            self._marimo_mirror, self._marimo_element = mirror, element
        return self._marimo_element

    def _on_page_action(self, action: str, value: Any) -> None:
        if action == "cancel":
            self.cancel()
        elif action == "restart":
            self.restart()
        elif action == "retry_now":
            self.retry_now()
        elif action == "sign_out":
            self.sign_out()
        elif action == "remember" and not self._shared_app:
            self.remember = bool(value)

    # ----------------------------------------------------------------- representations

    def __repr__(self) -> str:
        who = f", user={self.user.display_name!r}" if self.user is not None else ""
        return f"PlexPinLogin(status={self.status!r}, code={self.code!r}{who})"

    def _repr_keys(self):  # type: ignore[no-untyped-def]
        # ipywidgets builds its text fallback from these; keep it to display values.
        return iter(("status", "code"))

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        state = self._view_state()
        bundle: dict[str, Any] = {
            "text/plain": fallback_text(state),
            "text/html": fallback_html(state),
        }
        comm = getattr(self, "comm", None)
        if comm is not None:  # a closed widget has no model left for a front end to show
            bundle[_WIDGET_VIEW_MIME] = {"version_major": 2, "version_minor": 0, "model_id": comm.comm_id}
        return bundle

    def _ipython_display_(self, **kwargs: Any) -> None:
        # ipywidgets 7 displays through this hook instead of _repr_mimebundle_.
        from IPython.display import display

        # Widget.close() sets the instance's _repr_mimebundle_ to None; a closed login still
        # shows its text/HTML fallback, so use the class's method.
        display(type(self)._repr_mimebundle_(self), raw=True)


def _check_keywords(kwargs: dict[str, Any]) -> None:
    """Raise ``TypeError`` for keywords neither ``PlexPinLogin`` nor its box takes."""
    if not kwargs:  # the usual case: nothing to look up on every construction
        return
    import difflib
    import inspect

    box_keywords = {name for name in _BOX_KEYWORDS if widgets.VBox.class_traits().get(name) is not None}
    unknown = [name for name in kwargs if name not in box_keywords]
    if not unknown:
        return
    known = [
        name for name, parameter in inspect.signature(PlexPinLogin.__init__).parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY) and name != "self"
    ] + sorted(box_keywords)

    def named(name: str) -> str:
        close = difflib.get_close_matches(name, known, 1)
        return f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)

    if len(unknown) == 1:
        message = f"PlexPinLogin() got an unexpected keyword argument {named(unknown[0])}"
    else:
        message = "PlexPinLogin() got unexpected keyword arguments " + ", ".join(map(named, unknown))
    raise TypeError(message)


def _lifetime(pin: Pin) -> int:
    """The pin's whole lifetime in seconds (what the progress bar counts down from)."""
    lifetime = int(pin.lifetime.total_seconds()) if pin.lifetime is not None else 0
    return lifetime or pin.expires_in
