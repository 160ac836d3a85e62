"""The token stays in the kernel: not in widget state, saved-notebook state, HTML, repr, logs or errors.

Widget state is serialised the ways a notebook saves it: each widget's ``get_state()``, the
manager state, ``ipywidgets.embed.embed_data`` (what "Save Notebook Widget State" and
nbclient's ``store_widget_state`` write) and ``embed_minimal_html``. Binary buffers (the QR
PNG) are searched as bytes.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import ipywidgets as widgets
import pytest
from ipywidgets.embed import dependency_state, embed_data, embed_minimal_html
from ipywidgets.widgets import widget as widget_module

from plexpin_widget import LoginCancelledError, LoginFailedError, PlexPinLogin
from plexpin_widget.emulator import PlexTvEmulator

pytestmark = pytest.mark.usefixtures("private_config")

POLL = 0.05
SYNCED = ("status", "code", "auth_url", "seconds_left", "error")
KERNEL_ONLY = ("token", "pin", "user")


@pytest.fixture
def signed_in(emu: PlexTvEmulator, caplog: pytest.LogCaptureFixture) -> Iterator[tuple[PlexPinLogin, str]]:
    """A login signed in with a distinctive token, with every log record captured from the start."""
    caplog.set_level(logging.DEBUG)
    token = emu.add_account(username="secret-keeper", token="TOKEN-must-stay-in-kernel-42")
    login = PlexPinLogin(product="Secrecy", poll_interval=POLL, transport=emu.transport())
    login._session.drive_first_request()  # no loop runs: nothing is sent before this
    emu.claim(pin_id=login.pin.id, token=token)
    assert login.wait(timeout=10) == token and login.user is not None
    yield login, token
    login.close()


# --------------------------------------------------------------------------- helpers


def widget_tree(root: widgets.Widget) -> list[widgets.Widget]:
    """``root`` and every widget its synced state refers to: children, Layout, Style..."""
    seen: dict[int, widgets.Widget] = {}
    todo = [root]
    while todo:
        widget = todo.pop()
        if id(widget) in seen:
            continue
        seen[id(widget)] = widget
        for name in widget.keys:
            value = getattr(widget, name)
            values = value if isinstance(value, (list, tuple)) else [value]
            todo.extend(v for v in values if isinstance(v, widgets.Widget))
    return list(seen.values())


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(type(value).__name__)


def assert_token_absent(token: str, *texts: str, buffers: tuple[bytes, ...] = ()) -> None:
    for text in texts:
        assert token not in text
    for buffer in buffers:
        assert token.encode() not in buffer


def binary_values(state: dict[str, Any]) -> tuple[bytes, ...]:
    return tuple(bytes(v) for v in state.values() if isinstance(v, (bytes, bytearray, memoryview)))


# --------------------------------------------------------------------------- the traits


def test_token_pin_and_user_are_never_synced() -> None:
    login = PlexPinLogin(product="Traits", autostart=False)
    try:
        for name in KERNEL_ONLY:
            assert not login.trait_metadata(name, "sync"), f"{name} must not be synced"
            assert name not in login.keys and name not in login.get_state()
        for name in SYNCED:
            assert login.trait_metadata(name, "sync"), f"{name} must be synced"
            assert name in login.get_state()
    finally:
        login.close()


# --------------------------------------------------------------------------- after sign-in


def test_token_is_in_no_widget_state(signed_in: tuple[PlexPinLogin, str]) -> None:
    login, token = signed_in
    tree = widget_tree(login)
    kinds = {type(w).__name__ for w in tree}
    assert {"HTML", "Image", "Button", "IntProgress", "Layout"} <= kinds, "the walk reaches every part"
    assert any("Style" in kind for kind in kinds)
    for widget in tree:
        state = widget.get_state()
        assert_token_absent(token, json.dumps(state, default=_jsonable), repr(widget), buffers=binary_values(state))


def test_token_is_in_no_saved_notebook_state(signed_in: tuple[PlexPinLogin, str]) -> None:
    login, token = signed_in
    everything = widgets.Widget.get_manager_state(drop_defaults=False)
    saved = embed_data(views=[login], drop_defaults=False)
    page = io.StringIO()
    embed_minimal_html(page, views=[login], title="saved")
    assert login.model_id in saved["manager_state"]["state"], "the login's own model is saved"
    assert_token_absent(
        token,
        json.dumps(everything, default=_jsonable),
        json.dumps(saved, default=_jsonable),
        json.dumps(dependency_state([login], drop_defaults=False), default=_jsonable),
        page.getvalue(),
    )
    # Every live widget in the process, as a front end would have them.
    registry = getattr(widget_module, "_instances", None)
    for widget in list((registry if registry is not None else widgets.Widget.widgets).values()):
        state = widget.get_state()
        assert_token_absent(token, json.dumps(state, default=_jsonable), buffers=binary_values(state))


def test_token_is_in_no_html_repr_or_log(signed_in: tuple[PlexPinLogin, str], caplog: pytest.LogCaptureFixture) -> None:
    login, token = signed_in
    bundle = login._repr_mimebundle_()
    assert_token_absent(
        token,
        *(json.dumps(v) if not isinstance(v, str) else v for v in bundle.values()),
        repr(login),
        str(login),
        repr(login.pin),
        str(login.pin),
        repr(login.user),
        str(login.user),
        login.error,
        caplog.text,
        *(record.getMessage() for record in caplog.records),
    )
    assert login.pin.auth_token == token, "the pin does carry it, in the kernel"


def test_token_is_in_no_error(
    emu: PlexTvEmulator, signed_in: tuple[PlexPinLogin, str], caplog: pytest.LogCaptureFixture
) -> None:
    login, token = signed_in
    failures: list[BaseException] = []
    # A new code after the sign-in, then every way a wait can fail.
    login.restart()
    try:
        login.wait(timeout=0.05)
    except TimeoutError as exc:
        failures.append(exc)
    login.cancel()
    with pytest.raises(LoginCancelledError) as cancelled:
        login.wait(timeout=1)
    failures.append(cancelled.value)
    emu.faults.add("status", method="GET", status=418, message=f"teapot {login.code}")
    login.restart()
    with pytest.raises(LoginFailedError) as failed:
        login.wait(timeout=5)
    failures.append(failed.value)
    assert failed.value.__cause__ is not None and "418" in str(failed.value)
    assert login.error and "418" in login.error
    assert len(failures) == 3
    for exc in failures:
        assert_token_absent(token, str(exc), repr(exc), "".join(traceback.format_exception(exc)))
    assert_token_absent(token, login.error, caplog.text, json.dumps(login.get_state(), default=_jsonable))


def test_unverified_sign_in_says_so_without_the_token(emu: PlexTvEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    emu.faults.add("status", path_prefix="/api/v2/user", status=500, count=None)
    login = PlexPinLogin(product="Secrecy", poll_interval=POLL, transport=emu.transport())
    login._session.drive_first_request()  # no loop runs: nothing is sent before this
    try:
        token = emu.claim(pin_id=login.pin.id)
        assert login.wait(timeout=10) == token
        assert login.user is None and "could not be verified" in login.error
        state = json.dumps(login.get_state(), default=_jsonable)
        assert_token_absent(token, login.error, state, repr(login), caplog.text, login._repr_mimebundle_()["text/html"])
    finally:
        login.close()
