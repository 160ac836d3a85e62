"""``PlexPinLogin``: the notebook widget. Traits for the browser, a token for Python only.

The widget is a thin layer over :class:`~plexpin_widget._drivers.LoginSession`: the session runs
the login, and after every change the widget copies what it needs into traits and re-renders
its view. Only display values are synced to the browser; the token, the pin and the user stay
in the kernel, so they cannot end up in a saved notebook.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import traitlets

from ._drivers import LoginSession
from ._flow import Status, validate_poll_interval
from ._identity import DEFAULT_PRODUCT, ClientIdentity, validate_product
from ._models import Pin, PlexUser
from ._urls import auth_url as build_auth_url
from ._view import LoginView, ViewState, describe_error, fallback_html, fallback_text

__all__ = ["PlexPinLogin"]

_STATUSES = tuple(status.value for status in Status)
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
    """

    status = traitlets.Enum(_STATUSES, default_value="idle", help="Where the login stands.").tag(sync=True)
    code = traitlets.Unicode("", help="The code to approve; empty until one exists.").tag(sync=True)
    auth_url = traitlets.Unicode("", help="The page where the code is approved.").tag(sync=True)
    seconds_left = traitlets.Int(0, help="Seconds until the code expires.").tag(sync=True)
    error = traitlets.Unicode("", help="What went wrong, in words; empty when nothing did.").tag(sync=True)

    # Never synced: these stay in the kernel.
    token = traitlets.Unicode(None, allow_none=True, read_only=True, help="The Plex token once signed in.")
    pin = traitlets.Instance(Pin, allow_none=True, read_only=True, help="The current pin.")
    user = traitlets.Instance(PlexUser, allow_none=True, read_only=True, help="The account after sign-in.")

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
        **kwargs: Any,
    ) -> None:
        product = validate_product(product)
        poll_interval = validate_poll_interval(poll_interval)
        identity = ClientIdentity.create(product=product, client_identifier=client_identifier)
        self._view = LoginView()
        super().__init__(children=list(self._view.children), **kwargs)
        self.add_class("plexpin-login")
        self._product = product
        self._strong = bool(strong)
        self._session = LoginSession(
            identity,
            base_url=base_url,
            strong=strong,
            poll_interval=poll_interval,
            request_timeout=request_timeout,
            transport=transport,
            on_change=self._pull_state,
        )
        self._view.cancel_button.on_click(lambda _button: self.cancel())
        self._view.restart_button.on_click(lambda _button: self.restart())
        self._render()
        if autostart:
            self.start()

    # ----------------------------------------------------------------- public methods

    @property
    def base_url(self) -> str:
        return self._session.base_url

    @property
    def client_identifier(self) -> str:
        return self._session.identity.client_identifier

    def start(self) -> None:
        """Begin the login. The constructor calls this unless ``autostart=False``."""
        self._session.start(token=self._initial_token())

    def cancel(self) -> None:
        """Stop polling. Safe to call from any thread (button callbacks may run on a subshell)."""
        self._session.cancel()

    def restart(self) -> None:
        """Forget the current code and get a new one."""
        self._session.restart()

    def wait(self, timeout: float | None = None) -> str:
        """Block until signed in and return the token. Works in scripts and in notebook cells
        (the widget keeps updating meanwhile). Raises :class:`PinExpiredError`,
        :class:`LoginCancelledError`, :class:`LoginFailedError` or :class:`TimeoutError`."""
        return self._session.wait(timeout)

    async def wait_async(self, timeout: float | None = None) -> str:
        """Await the sign-in and return the token; same errors as :meth:`wait`."""
        return await self._session.wait_async(timeout)

    def close(self) -> None:
        """Stop all work and close the widget and its parts."""
        session = getattr(self, "_session", None)
        if session is not None:
            session.close()
        view = getattr(self, "_view", None)
        super().close()
        if view is not None:
            for part in (view.title, view.code, view.qr, view.link, view.progress, view.status,
                         view.error, view.signed_in, view.cancel_button, view.restart_button,
                         view.buttons, view.body):
                part.close()

    async def aclose(self) -> None:
        """Like :meth:`close`, and wait until the poll task has finished."""
        await self._session.aclose()
        self.close()

    # ----------------------------------------------------------------- hooks for subclasses

    def _initial_token(self) -> str | None:
        """A token to validate instead of asking for a code (none by default)."""
        return None

    # ----------------------------------------------------------------- state -> traits

    def _pull_state(self) -> None:
        session = self._session
        flow = session.flow
        status = flow.status
        pin = flow.pin
        live = status is Status.WAITING and pin is not None
        with self.hold_trait_notifications():
            self.set_trait("pin", pin)
            self.code = pin.code if live else ""
            self.auth_url = self._auth_url_for(pin) if live else ""
            self.seconds_left = session.seconds_left()
            self.error = self._error_sentence()
            self.status = status.value
            self.set_trait("user", flow.user)
            if flow.token != self.token:
                self.set_trait("token", flow.token)
        self._render()

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
        if flow.status is Status.ERROR or flow.reconnecting:
            return describe_error(flow.error, retrying=flow.reconnecting)
        return ""

    def _view_state(self) -> ViewState:
        flow = self._session.flow
        pin = flow.pin
        lifetime = 0
        if pin is not None and pin.lifetime is not None:
            lifetime = int(pin.lifetime.total_seconds())
        return ViewState(
            status=self.status,
            code=self.code,
            auth_url=self.auth_url,
            seconds_left=self.seconds_left,
            lifetime=lifetime or (pin.expires_in if pin is not None else 0),
            error=self.error,
            reconnecting=flow.reconnecting,
            username=self.user.display_name if self.user is not None else "",
            product=self._product,
            strong=self._strong,
        )

    def _render(self) -> None:
        self._view.render(self._view_state())

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
        model_id = getattr(self, "model_id", None) or getattr(self, "_model_id", None)
        if model_id:
            bundle[_WIDGET_VIEW_MIME] = {"version_major": 2, "version_minor": 0, "model_id": model_id}
        return bundle

    def _ipython_display_(self, **kwargs: Any) -> None:
        # ipywidgets 7 displays through this hook instead of _repr_mimebundle_.
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)

