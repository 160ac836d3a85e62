"""What the widget shows: code, QR, link, countdown, status words, buttons, and the sign-in line.

The view's parts are found by their CSS classes (``plexpin-code``, ``plexpin-qr``...), so the
tests do not depend on how the boxes are nested. The QR image is decoded with zxing-cpp.
"""

from __future__ import annotations

import asyncio
import html
import html.parser
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as widgets
import pytest

from plexpin_widget import PinExpiredError, PlexPinLogin
from plexpin_widget._qr import qr_png
from plexpin_widget._view import LoginView, ViewState, fallback_html, fallback_text
from plexpin_widget.emulator import PlexTvEmulator

pytestmark = pytest.mark.usefixtures("private_config")

POLL = 0.05
HOSTILE = "<img src=x onerror=alert(1)>"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


# --------------------------------------------------------------------------- helpers


def descendants(widget: widgets.Widget) -> Iterator[widgets.Widget]:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from descendants(child)


def part(login: PlexPinLogin, name: str) -> Any:
    found = [w for w in descendants(login) if f"plexpin-{name}" in getattr(w, "_dom_classes", ())]
    assert len(found) == 1, f"expected one plexpin-{name}, found {len(found)}"
    return found[0]


def shown(login: PlexPinLogin, name: str) -> bool:
    """Whether the part and every box around it are displayed."""
    target = part(login, name)

    def path(widget: widgets.Widget) -> list[widgets.Widget] | None:
        if widget is target:
            return [widget]
        for child in getattr(widget, "children", ()):
            below = path(child)
            if below is not None:
                return [widget, *below]
        return None

    chain = path(login)
    assert chain is not None
    return all(w.layout.display != "none" for w in chain)


def html_values(login: PlexPinLogin) -> list[str]:
    return [w.value for w in descendants(login) if isinstance(w, widgets.HTML)]


def decode_qr(data: bytes) -> str:
    # zxing-cpp and numpy come with the `browser` extra: present for dev.py's main run, absent
    # from its ipywidgets-7 venv (`test` extra only), where this reports a skip.
    reason = "QR decoding needs zxing-cpp and numpy (the browser extra)"
    zxingcpp = pytest.importorskip("zxingcpp", reason=reason)
    numpy = pytest.importorskip("numpy", reason=reason)
    png = pytest.importorskip("png", reason=reason)
    width, height, rows, info = png.Reader(bytes=bytes(data)).asDirect()
    pixels = numpy.array([list(row) for row in rows], dtype=numpy.uint16)
    pixels = pixels.reshape(height, width, info["planes"])[:, :, : 3 if info["planes"] >= 3 else 1].mean(axis=2)
    grey = (pixels * (255 / (2 ** info["bitdepth"] - 1))).astype(numpy.uint8)
    results = zxingcpp.read_barcodes(grey)
    assert len(results) == 1, f"expected one QR code, decoded {len(results)}"
    return results[0].text


class _Anchors(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


def anchors(markup: str) -> list[dict[str, str | None]]:
    parser = _Anchors()
    parser.feed(markup)
    return parser.anchors


# --------------------------------------------------------------------------- while waiting


@pytest.mark.parametrize("strong", [False, True])
def test_waiting_view_shows_code_qr_link_and_countdown(strong: bool, make_login: Any) -> None:
    login = make_login(strong=strong)
    assert login.status == "waiting" and login.code and login.auth_url
    assert login.code == login.pin.code
    if not strong:
        assert login.auth_url == f"https://plex.tv/link/?pin={login.code}"
    else:
        assert login.auth_url.startswith("https://app.plex.tv/auth#?") and f"code={login.code}" in login.auth_url

    code = part(login, "code").value
    assert html.escape(login.code) in code and "monospace" in code
    assert "font-size: 2.4em" in code or strong, "the short code is large"

    assert bytes(part(login, "qr").value).startswith(b"\x89PNG")

    (link,) = anchors(part(login, "link").value)
    assert link["href"] == login.auth_url
    assert link["target"] == "_blank" and "noopener" in (link["rel"] or "")

    progress = part(login, "progress")
    assert progress.max == 900 if not strong else progress.max == 1800
    assert progress.value == login.seconds_left and 0 < login.seconds_left <= progress.max
    assert "Enter the code" in part(login, "status").value
    for name in ("code", "qr", "link", "progress", "cancel"):
        assert shown(login, name), name
    assert not shown(login, "restart") and not shown(login, "signed-in")


@pytest.mark.parametrize("strong", [False, True])
def test_qr_image_encodes_exactly_the_auth_url(strong: bool, make_login: Any) -> None:
    login = make_login(strong=strong)
    assert decode_qr(part(login, "qr").value) == login.auth_url


def test_progress_counts_down_to_expiry() -> None:
    emu = PlexTvEmulator(short_lifetime=3)
    login = PlexPinLogin(product="Countdown", poll_interval=POLL, transport=emu.transport())
    try:
        login._session.drive_first_request()  # the code, as a script's wait() would fetch it
        progress = part(login, "progress")
        steps: list[tuple[int, int, int]] = [(login.seconds_left, progress.value, progress.max)]
        progress.observe(
            lambda change: steps.append((login.seconds_left, change["new"], progress.max)), names="value"
        )
        with pytest.raises(PinExpiredError):
            login.wait(timeout=10)
    finally:
        login.close()
    assert login.status == "expired"
    lefts = [left for left, _, _ in steps[:-1]]
    assert len(lefts) >= 2 and lefts == sorted(lefts, reverse=True) and len(set(lefts)) == len(lefts)
    assert all(value == left for left, value, _ in steps[:-1]), "the bar shows seconds_left"
    assert {maximum for _, _, maximum in steps} == {3}, "the bar's length is the pin's lifetime"
    assert steps[-1][1] == 0 and not shown(login, "progress")


# --------------------------------------------------------------------------- after sign-in


def test_signed_in_view_drops_code_and_qr(make_login: Any, emu: PlexTvEmulator) -> None:
    emu.auto_claim(0)
    login = make_login()
    login.wait(timeout=10)
    assert login.code == "" and login.auth_url == "" and login.seconds_left == 0
    assert part(login, "qr").value == b""
    assert part(login, "code").value == "" and part(login, "link").value == ""
    signed_in = part(login, "signed-in").value
    assert f"Signed in as <b>{emu.username}</b>" in signed_in
    assert shown(login, "signed-in")
    for name in ("code", "qr", "link", "progress", "cancel", "restart"):
        assert not shown(login, name), name
    bundle = login._repr_mimebundle_()
    assert f"Signed in as {emu.username}" in bundle["text/plain"] and "Code:" not in bundle["text/plain"]
    assert "Signed in as" in bundle["text/html"]


def test_hostile_username_is_escaped_everywhere(make_login: Any, emu: PlexTvEmulator) -> None:
    token = emu.add_account(username=HOSTILE)
    login = make_login()
    emu.claim(pin_id=login.pin.id, token=token)
    assert login.wait(timeout=10) == token
    assert login.user.username == HOSTILE
    values = html_values(login) + [login._repr_mimebundle_()["text/html"]]
    assert all(HOSTILE not in value and "<img" not in value for value in values)
    assert f"Signed in as <b>{html.escape(HOSTILE)}</b>" in part(login, "signed-in").value
    assert html.escape(HOSTILE) in login._repr_mimebundle_()["text/html"]


def test_every_server_string_is_escaped_by_the_view() -> None:
    state = ViewState(
        status="waiting",
        code='<b>"AB',
        auth_url='https://plex.tv/link/?pin="><script>alert(1)</script>',
        seconds_left=30,
        lifetime=900,
        error="<script>bad</script>",
        username=HOSTILE,
        product="<i>product</i>",
    )
    view = LoginView()
    view.render(state)
    markup = [w.value for w in (view.title, view.code, view.link, view.status, view.error, view.signed_in)]
    markup.append(fallback_html(state))
    for value in markup:
        assert "<script" not in value and "<b>\"AB" not in value and "<i>" not in value
    (link,) = anchors(view.link.value)
    assert link["href"] == state.auth_url, "escaped in the markup, exact once parsed"
    assert state.code in fallback_text(state), "plain text needs no escaping"


# --------------------------------------------------------------------------- status words and buttons


def _expire(login: PlexPinLogin, emu: PlexTvEmulator) -> None:
    emu.clock.advance(901)
    with pytest.raises(PinExpiredError):
        login.wait(timeout=10)


def _fail(login: PlexPinLogin, emu: PlexTvEmulator) -> None:
    emu.faults.add("status", method="GET", status=418)
    with pytest.raises(Exception):
        login.wait(timeout=10)


@pytest.mark.parametrize(
    ("end", "status", "words"),
    [
        (lambda login, emu: login.cancel(), "cancelled", "Sign-in cancelled."),
        (_expire, "expired", "The code expired before it was approved."),
        (_fail, "error", "Sign-in failed."),
    ],
    ids=["cancelled", "expired", "error"],
)
def test_a_stopped_login_offers_a_new_code(
    end: Callable[[PlexPinLogin, PlexTvEmulator], None], status: str, words: str, make_login: Any, emu: PlexTvEmulator
) -> None:
    login = make_login()
    end(login, emu)
    assert login.status == status
    assert words in part(login, "status").value
    assert shown(login, "restart") and not shown(login, "cancel")
    assert part(login, "qr").value == b"" and not shown(login, "qr") and login.code == ""
    if status == "error":
        assert login.error and "418" in login.error
        assert html.escape(login.error) in part(login, "error").value and shown(login, "error")
    else:
        assert login.error == ""


async def test_requesting_shows_only_cancel(make_login: Any, emu: PlexTvEmulator) -> None:
    emu.faults.add("latency", method="POST", delay=0.5)
    login = make_login()
    assert login.status == "requesting"
    assert "Getting a code" in part(login, "status").value
    assert shown(login, "cancel") and not shown(login, "restart") and not shown(login, "qr")
    await login.aclose()


def test_clicking_cancel_then_get_a_new_code(make_login: Any, emu: PlexTvEmulator) -> None:
    login = make_login()
    first = login.pin
    part(login, "cancel").click()
    assert login.status == "cancelled"
    part(login, "restart").click()
    assert login.status == "requesting", "with no loop running, the new code is fetched by wait()"
    login._session.drive_first_request()
    assert login.status == "waiting" and login.pin.id != first.id
    assert part(login, "qr").value == qr_png(login.auth_url), "the QR shows the new code"
    emu.claim(pin_id=login.pin.id)
    assert login.wait(timeout=10) == emu.demo_token


async def test_clicking_in_a_notebook_keeps_one_poller(make_login: Any, emu: PlexTvEmulator) -> None:
    login = make_login()
    await asyncio.sleep(0)
    part(login, "cancel").click()
    assert login.status == "cancelled"
    part(login, "restart").click()
    part(login, "restart").click()  # a double click
    emu.auto_claim(0)
    assert await login.wait_async(timeout=10) == emu.demo_token
    pollers = [t for t in asyncio.all_tasks() if t.get_name() == "plexpin_widget poller" and not t.done()]
    assert len(pollers) <= 1
    await login.aclose()


# --------------------------------------------------------------------------- representations


def test_mimebundle_has_widget_view_and_fallbacks(make_login: Any) -> None:
    login = make_login()
    bundle = login._repr_mimebundle_()
    assert bundle[WIDGET_VIEW_MIME]["model_id"] == login.model_id
    assert f"Code: {login.code}" in bundle["text/plain"] and login.auth_url in bundle["text/plain"]
    assert html.escape(login.code) in bundle["text/html"]
    (link,) = anchors(bundle["text/html"])
    assert link["href"] == login.auth_url and link["target"] == "_blank"
    assert repr(login) == f"PlexPinLogin(status='waiting', code={login.code!r})"


def live_widgets() -> dict[str, widgets.Widget]:
    """ipywidgets' registry of open widgets (``_instances`` in 8, ``Widget.widgets`` in 7)."""
    from ipywidgets.widgets import widget as widget_module

    registry = getattr(widget_module, "_instances", None)
    return registry if registry is not None else widgets.Widget.widgets


def test_close_closes_every_part_and_saving_state_still_works(make_login: Any) -> None:
    from ipywidgets.embed import embed_data

    login = make_login()
    parts = list(descendants(login))
    styles = [w.style for w in parts if isinstance(getattr(w, "style", None), widgets.Widget)]
    parts += [w.layout for w in parts] + styles
    assert len(parts) > 20
    login.close()
    assert [type(w).__name__ for w in parts if w.comm is not None] == [], "every comm is closed"
    assert not {w._model_id for w in parts} & set(live_widgets())
    # Saving every widget's state (what "Save Notebook Widget State" does) works after a close.
    embed_data(views=None)


def test_displaying_a_closed_login_shows_the_fallback(make_login: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display
    from IPython.utils.dir2 import get_real_method

    published: list[dict[str, Any]] = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: published.append(obj))

    def show(obj: Any) -> dict[str, Any]:
        # IPython's order: a callable _ipython_display_ hook, else the mime bundle.
        hook = get_real_method(obj, "_ipython_display_")
        if hook is not None:
            hook()
            return published[-1]
        return get_real_method(obj, "_repr_mimebundle_")()

    login = make_login()
    assert show(login)[WIDGET_VIEW_MIME]["model_id"] == login.model_id
    login.close()
    bundle = show(login)
    assert WIDGET_VIEW_MIME not in bundle, "no view of a model that no longer exists"
    assert "Sign-in cancelled." in bundle["text/plain"] and bundle["text/html"]
