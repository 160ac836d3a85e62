"""The login in marimo: the anywidget mirror, what it syncs, the messages it takes, and closing
the login when its cell runs again. In-process, no marimo kernel: the headless run is in
test_marimo_notebook.py and the browser test in tests/browser/test_marimo_browser.py."""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("anywidget", reason="anywidget is a runtime dependency; install the package")
pytest.importorskip("marimo", reason="marimo is in the test extra")

import comm  # noqa: E402
import ipywidgets  # noqa: E402
import marimo  # noqa: E402

from plexpin_widget import PlexPinLogin  # noqa: E402
from plexpin_widget import _marimo  # noqa: E402
from plexpin_widget._mirror import ACTIONS, STATIC, LoginMirror  # noqa: E402
from plexpin_widget._qr import qr_png  # noqa: E402
from plexpin_widget._store import TokenStore  # noqa: E402
from plexpin_widget._view import ViewState, view_parts  # noqa: E402

ESM = (STATIC / "login.js").read_text()
#: The ESM without its comments (which may name what the code avoids).
ESM_CODE = re.sub(r"^\s*//.*$", "", ESM, flags=re.M)
TOKEN = "TOKEN-must-stay-in-kernel-marimo-77"
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def synced_state(mirror: LoginMirror) -> dict[str, Any]:
    """The mirror's own display traits, as they go over the wire."""
    names = {name for name in LoginMirror.class_own_traits(sync=True) if not name.startswith("_")}
    return {name: value for name, value in mirror.get_state().items() if name in names}


def send_from_page(mirror: LoginMirror, content: Any) -> None:
    """Deliver a custom message the way a front end's ``model.send(content)`` arrives."""
    mirror._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def shown(login: PlexPinLogin) -> str:
    """The HTML marimo puts in the cell for ``login``: marimo calls ``_display_`` before any other
    hook and formats the result. (marimo's own ``try_format`` is not used here: outside a marimo
    kernel it installs process-wide hooks into ipywidgets and the import system.)"""
    return login._display_().text


def displayed(login: PlexPinLogin) -> LoginMirror:
    """Display ``login`` as marimo does and return the mirror that shows it."""
    html = shown(login)
    mirror = login._marimo_mirror
    assert isinstance(mirror, LoginMirror)
    assert "<marimo-anywidget" in html and mirror.model_id in html
    return mirror


@pytest.fixture(autouse=True)
def _no_marimo_hooks_left() -> Any:
    """These tests run in the same process as the Jupyter ones: marimo must not be left hooked
    into ipywidgets or comm."""
    before = (ipywidgets.Widget._widget_construction_callback, comm.create_comm)
    yield
    assert (ipywidgets.Widget._widget_construction_callback, comm.create_comm) == before


# --------------------------------------------------------------------------- display


def test_marimo_shows_an_anywidget_and_jupyter_still_the_core_widgets(make_login: Any) -> None:
    login = make_login()
    bundle = login._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == login.model_id
    assert login._marimo_mirror is None  # nothing is built for marimo until marimo asks
    mirror = displayed(login)
    assert login.status == "waiting" and mirror.status == "waiting"
    # Displaying again (another cell, a layout) shows the same live model.
    assert shown(login) == shown(login)
    assert login._marimo_mirror is mirror


def test_the_mirror_shows_what_the_core_view_shows(make_login: Any, emu: Any) -> None:
    login = make_login(product="Mirror test")
    mirror = displayed(login)
    assert mirror.live and mirror.code == login.code and len(login.code) == 4
    assert mirror.auth_url == login.auth_url and mirror.link_label == "plex.tv/link"
    assert mirror.qr.startswith("data:image/png;base64,")
    assert base64.b64decode(mirror.qr.split(",", 1)[1]) == qr_png(login.auth_url) == login._view.qr.value
    assert mirror.product == "Mirror test" and mirror.can_cancel and not mirror.can_restart
    assert mirror.status_text in login._view.status.value
    assert 0 < mirror.seconds_left <= mirror.lifetime == 900

    login.cancel()
    assert (mirror.status, mirror.live, mirror.code, mirror.qr, mirror.auth_url) == ("cancelled", False, "", "", "")
    assert mirror.can_restart and not mirror.can_cancel
    assert mirror.status_text == "Sign-in cancelled."


def test_the_mirror_follows_the_login_to_signed_in(make_login: Any, emu: Any) -> None:
    token = emu.add_account(username="marimo-user", token=TOKEN)
    login = make_login()
    mirror = displayed(login)
    seen: list[str | None] = []
    login.observe(lambda change: seen.append(change["new"]), names="token")
    emu.claim(pin_id=login.pin.id, token=token)
    assert login.wait(timeout=10) == TOKEN and seen == [TOKEN]
    assert mirror.status == "authorized" and mirror.signed_in_as == "marimo-user"
    assert mirror.can_sign_out and not mirror.live and mirror.status_text == ""


def test_no_token_in_any_synced_trait_or_message(make_login: Any, emu: Any) -> None:
    token = emu.add_account(username="secret-keeper", token=TOKEN)
    login = make_login(remember=True)
    mirror = displayed(login)
    sent: list[str] = []
    real_send = mirror.comm.send
    mirror.comm.send = lambda data=None, *a, **k: (sent.append(json.dumps(data, default=str)), real_send(data, *a, **k))
    emu.claim(pin_id=login.pin.id, token=token)
    assert login.wait(timeout=10) == TOKEN
    login.sign_out()
    everything = json.dumps(mirror.get_state(), default=str) + "".join(sent)
    assert sent, "the sign-in must have sent updates"
    assert TOKEN not in everything
    assert set(synced_state(mirror)) & {"token", "pin", "user"} == set()


def test_the_esm_reads_only_the_display_traits() -> None:
    keys = set(re.findall(r'"([a-z_]+)"', ESM.split("const KEYS = [", 1)[1].split("];", 1)[0]))
    mirror = LoginMirror(lambda *_: None, ViewState())
    try:
        assert keys == set(synced_state(mirror))
        assert not keys & {"token", "pin", "user", "auth_token"}
        # Everything the ESM reads from the model is a KEYS entry.
        assert set(re.findall(r'get\("([a-z_]+)"\)', ESM)) <= keys
    finally:
        mirror.close()


def test_the_esm_never_parses_server_text_as_html() -> None:
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("):
        assert sink not in ESM_CODE, sink
    assert "textContent" in ESM_CODE
    # Links only for http(s) URLs; images only for our own PNG data URLs.
    assert 'parsed.protocol === "https:" || parsed.protocol === "http:"' in ESM
    assert 'src.startsWith("data:image/png;base64,")' in ESM
    # Nothing loaded from elsewhere: no imports, no fetches, no URLs.
    assert not re.search(r"^\s*import\b|\bfetch\(|https?://", ESM_CODE, re.M)


def test_hostile_strings_are_plain_values_in_the_mirror() -> None:
    state = ViewState(status="authorized", username=HOSTILE, product=HOSTILE, notice=HOSTILE, error=HOSTILE)
    mirror = LoginMirror(lambda *_: None, state)
    try:
        values = synced_state(mirror)
        # Carried as text for textContent, not pre-escaped (it would show as &lt;…) and not dropped.
        assert values["signed_in_as"] == values["product"] == values["notice"] == values["error"] == HOSTILE
        assert view_parts(state).signed_in_as == HOSTILE
    finally:
        mirror.close()


def test_a_javascript_url_never_becomes_the_link() -> None:
    state = ViewState(status="waiting", code="ABCD", auth_url="javascript:alert(1)", seconds_left=60, lifetime=900)
    mirror = LoginMirror(lambda *_: None, state)
    try:
        # The ESM refuses it (webLink); the QR carries it as data only.
        assert mirror.auth_url == "javascript:alert(1)"
        assert "webLink(String(get(\"auth_url\")" in ESM
    finally:
        mirror.close()


# --------------------------------------------------------------------------- page -> kernel


def test_buttons_reach_cancel_restart_sign_out_and_remember(make_login: Any, emu: Any) -> None:
    login = make_login()
    mirror = displayed(login)
    first = login.code
    send_from_page(mirror, {"action": "cancel"})
    assert login.status == "cancelled" and mirror.can_restart
    send_from_page(mirror, {"action": "restart"})
    login._session.drive_first_request()  # no loop runs in this test: fetch the new code
    assert login.status == "waiting" and login.code and login.code != first
    assert mirror.code == login.code

    send_from_page(mirror, {"action": "remember", "value": True})
    assert login.remember is True and mirror.remember is True and login._view.remember_box.value is True
    send_from_page(mirror, {"action": "remember", "value": False})
    assert login.remember is False and mirror.remember is False

    token = emu.claim(pin_id=login.pin.id)
    assert login.wait(timeout=10) == token
    send_from_page(mirror, {"action": "sign_out"})
    assert login.token is None and login.status == "idle" and mirror.notice.startswith("Signed out.")
    assert mirror.can_restart


@pytest.mark.parametrize(
    "content",
    [
        {"action": "close"},
        {"action": "_do_close"},
        {"action": "__init__"},
        {"action": "wait"},
        {"action": "remember"},
        {"action": "remember", "value": "yes"},
        {"action": "cancel", "value": True},
        {"action": ["cancel"]},
        "cancel",
        None,
        [],
    ],
)
def test_unknown_messages_are_ignored_and_logged(
    make_login: Any, content: Any, caplog: pytest.LogCaptureFixture
) -> None:
    login = make_login()
    mirror = displayed(login)
    code = login.code
    with caplog.at_level(logging.WARNING, logger="plexpin_widget.mirror"):
        send_from_page(mirror, content)
    assert login.status == "waiting" and login.code == code and login.remember is False
    assert "not a known action" in caplog.text


def test_actions_are_the_documented_few() -> None:
    assert ACTIONS == ("cancel", "restart", "retry_now", "sign_out", "remember")


# --------------------------------------------------------------------------- lifetime


def test_a_closed_mirror_is_replaced_on_the_next_display(make_login: Any) -> None:
    login = make_login()
    mirror = displayed(login)
    # What marimo does to a displaying cell's models when that cell runs again.
    mirror.comm.close()
    replacement = displayed(login)
    assert replacement is not mirror and replacement.code == login.code


def test_close_closes_the_mirror(make_login: Any) -> None:
    login = make_login()
    mirror = displayed(login)
    login.close()
    assert mirror.comm is None and login.status == "cancelled"


class _FakeCellContext:
    """marimo's runtime context, as far as the login uses it: the running cell and its registry."""

    def __init__(self) -> None:
        from marimo._runtime.cell_lifecycle_registry import CellLifecycleRegistry

        self.cell_id = "cell-1"
        self.cell_lifecycle_registry = CellLifecycleRegistry()

    def run_again(self) -> None:
        """What marimo does before it runs the cell again: dispose what the cell registered."""
        items = self.cell_lifecycle_registry.registry.pop(self.cell_id, set())
        for item in items:
            assert item.dispose(self, False) is True


@pytest.fixture
def marimo_cell(monkeypatch: pytest.MonkeyPatch) -> _FakeCellContext:
    import marimo._runtime.context as context_module

    ctx = _FakeCellContext()
    monkeypatch.setattr(context_module, "safe_get_context", lambda: ctx)
    monkeypatch.setattr(context_module, "get_context", lambda: ctx)
    return ctx


def test_running_the_cell_again_stops_the_old_login(make_login: Any, marimo_cell: _FakeCellContext) -> None:
    assert _marimo._context() is marimo_cell
    old = make_login()
    assert old.status == "waiting"
    assert len(marimo_cell.cell_lifecycle_registry.registry[marimo_cell.cell_id]) == 1
    marimo_cell.run_again()
    assert old.status == "cancelled" and old._session._closed
    new = make_login()
    assert new.status == "waiting"
    marimo_cell.run_again()
    assert new.status == "cancelled"


def test_the_cell_does_not_keep_the_login_alive(make_login: Any, marimo_cell: _FakeCellContext) -> None:
    import gc
    import weakref

    login = PlexPinLogin(autostart=False, product="x")
    ref = weakref.ref(login)
    login.close()
    del login
    gc.collect()
    assert ref() is None
    marimo_cell.run_again()  # disposing an item whose login is gone is a no-op


def test_outside_marimo_nothing_is_registered() -> None:
    assert _marimo._context() is None
    assert _marimo.close_with_cell(object()) is False


def test_marimo_is_not_imported_by_the_package() -> None:
    import subprocess
    import sys

    code = "import sys, plexpin_widget; plexpin_widget.PlexPinLogin; print('marimo' in sys.modules, 'anywidget' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_missing_anywidget_says_how_to_fix_it(make_login: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    login = make_login()
    monkeypatch.setitem(sys.modules, "anywidget", None)  # import anywidget -> ImportError
    monkeypatch.delitem(sys.modules, "plexpin_widget._mirror", raising=False)
    html = shown(login)
    assert "pip install anywidget" in html and login.code in html


def test_static_files_are_package_data() -> None:
    root = Path(__file__).resolve().parents[1]
    pyproject = (root / "pyproject.toml").read_text()
    assert 'packages = ["plexpin_widget"]' in pyproject  # hatch ships every file under the package
    assert (STATIC / "login.js").is_file() and (STATIC / "login.css").is_file()
    assert marimo.__version__


# --------------------------------------------------------------------------- apps served to many


@pytest.fixture
def served_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """As under ``marimo run``: every viewer's session shares this process and config folder."""
    monkeypatch.setattr(_marimo, "serves_viewers", lambda: True)


def remember_a_sign_in(make_login: Any, emu: Any) -> str:
    """A person signs in with "Remember me" in a personal notebook on this computer."""
    login = make_login(remember=True)
    token = emu.claim(pin_id=login.pin.id)
    assert login.wait(timeout=10) == token
    assert TokenStore().load(login.client_identifier, login.base_url) is not None
    login.close()
    return token


def test_a_served_app_neither_offers_nor_uses_a_remembered_sign_in(
    make_login: Any, emu: Any, served_app: None
) -> None:
    remember_a_sign_in(make_login, emu)
    viewer = make_login()
    # The next viewer gets a code of their own, not the last person's account.
    assert viewer.status == "waiting" and viewer.code and viewer.token is None
    mirror = displayed(viewer)
    assert mirror.can_remember is False and mirror.remember is False
    send_from_page(mirror, {"action": "remember", "value": True})
    assert viewer.remember is False


def test_a_served_app_that_asks_for_remember_gets_it(make_login: Any, emu: Any, served_app: None) -> None:
    token = remember_a_sign_in(make_login, emu)
    login = make_login(remember=True)  # the app's author chose this for every viewer
    assert login.wait(timeout=10) == token


def test_a_personal_notebook_offers_remember(make_login: Any, emu: Any) -> None:
    token = remember_a_sign_in(make_login, emu)
    login = make_login()
    assert login.wait(timeout=10) == token
    mirror = displayed(login)
    assert mirror.can_remember is True and mirror.remember is True


def test_a_marimo_without_the_lifecycle_registry_is_named_in_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import types

    import marimo._runtime.context as context_module

    monkeypatch.setattr(context_module, "safe_get_context", lambda: types.SimpleNamespace(cell_id="c"))
    monkeypatch.setattr(_marimo, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="plexpin_widget.marimo"):
        assert _marimo.close_with_cell(object()) is False
    assert "no cell lifecycle registry" in caplog.text and "login.close()" in caplog.text


async def test_try_again_now_from_the_page_while_plex_tv_is_unreachable(make_login: Any, emu: Any) -> None:
    from helpers import apoll_until, creations

    emu.faults.add("drop", method="POST", path_prefix="/api/v2/pins", count=None)
    login = make_login(poll_interval=30.0)  # the backoff puts the next try far off
    mirror = displayed(login)
    await apoll_until(lambda: mirror.can_retry_now, timeout=10, what="Try again now in the mirror")
    assert mirror.error.startswith("Can't reach plex.tv") and mirror.can_cancel
    before = len(creations(emu))
    emu.faults.clear()
    send_from_page(mirror, {"action": "retry_now"})
    await apoll_until(lambda: login.status == "waiting", timeout=10, what="a code after Try again now")
    assert len(creations(emu)) > before and mirror.code == login.code and not mirror.can_retry_now
    await login.aclose()


@pytest.mark.parametrize("blocking", [True, False])
def test_a_waiting_cell_is_named_by_the_buttons(make_login: Any, monkeypatch: pytest.MonkeyPatch, blocking: bool) -> None:
    import plexpin_widget._widget as widget_module
    from plexpin_widget._hosts import Host
    from plexpin_widget._mirror import BUSY_NOTE

    monkeypatch.setattr(widget_module, "detect_host", lambda: Host.MARIMO)
    login = make_login()
    mirror = displayed(login)
    assert mirror.busy_note == ""
    with login._waiting(blocking=blocking):
        assert mirror.busy_note == BUSY_NOTE and "between cells" in BUSY_NOTE
    assert mirror.busy_note == ""
