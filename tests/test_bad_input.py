"""Bad input from the person: every public constructor, wait() and the CLI refuse it clearly.

A bad value must raise :class:`ConfigurationError` (also a ``ValueError``) whose ``name`` is the
argument at fault and whose message starts with that name and says what is wrong, before
anything touches the network or builds a widget. The ``plexpin`` command turns the same
mistakes into exit status 2 with the flag named on stderr.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import ipywidgets
import pytest

from plexpin_widget import AsyncPlexTvClient, ClientIdentity, ConfigurationError, PlexPinLogin, PlexTvClient
from plexpin_widget._session import LoginSession
from plexpin_widget.emulator import PlexTvEmulator

# A transport that fails the test if anything is sent: bad input must be refused first.
_NO_NETWORK = httpx.MockTransport(lambda request: pytest.fail(f"bad input reached the network: {request.url}"))

LONG_PRODUCT = "p" * 1000

# (argument, bad value, words the message must contain)
PRODUCTS = [("", "empty"), ("   ", "empty"), (LONG_PRODUCT, "1000 characters"), ("two\nlines", "control"), (42, "string")]
POLL_INTERVALS = [(0, "positive"), (-1, "positive"), (-0.5, "positive"), (math.nan, "positive"), (math.inf, "positive"),
                  ("1", "number"), (True, "number"), (None, "number")]
BASE_URLS = [
    ("ftp://plex.tv", "https://"),
    ("plex.tv", "https://"),
    ("file:///etc/passwd", "https://"),
    ("javascript:alert(1)", "https://"),
    ("http://plex.tv", "plain http"),
    ("http://192.168.1.20:32400", "plain http"),
    ("http://127.0.0.1.example.com", "plain http"),
    ("https://", "no host"),
    ("https://user:secret@plex.tv", "credentials"),
    ("https://plex.tv/?x=1", "query"),
    ("https://plex.tv:99999", "not a valid URL"),
    (42, "string"),
]
TIMEOUTS = [(0, "positive"), (-1, "positive"), (-0.001, "positive"), (math.nan, "positive"), ("10", ""), (True, "")]
CLIENT_IDS = [("", "client identifier"), ("has space", "client identifier"), ("x" * 200, "client identifier"),
              ("a\nb", "client identifier")]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXPIN_CONFIG_DIR", str(tmp_path))
    for name in ("PLEXPIN_BASE_URL", "PLEXPIN_CLIENT_IDENTIFIER", "PLEX_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def _open_widgets() -> int:
    from ipywidgets.widgets import widget as widget_module

    registry = getattr(widget_module, "_instances", None)  # ipywidgets 8
    if registry is None:
        registry = ipywidgets.Widget.widgets  # ipywidgets 7
    return len(registry)


def _assert_names(excinfo: pytest.ExceptionInfo[ConfigurationError], name: str, words: str) -> None:
    error = excinfo.value
    assert isinstance(error, ValueError)
    assert error.name == name
    message = str(error)
    assert message.startswith(f"{name}: "), message
    assert words.lower() in message.lower(), f"{message!r} should mention {words!r}"
    assert len(message) < 300, "a message, not a dump"


def _widget(**kwargs: Any) -> PlexPinLogin:
    kwargs.setdefault("autostart", False)
    kwargs.setdefault("transport", _NO_NETWORK)
    return PlexPinLogin(**kwargs)


def _sync_client(**kwargs: Any) -> PlexTvClient:
    kwargs.setdefault("transport", _NO_NETWORK)
    return PlexTvClient(client_identifier=kwargs.pop("client_identifier", "test-id"), **kwargs)


def _async_client(**kwargs: Any) -> AsyncPlexTvClient:
    kwargs.setdefault("transport", _NO_NETWORK)
    return AsyncPlexTvClient(client_identifier=kwargs.pop("client_identifier", "test-id"), **kwargs)


def _session(**kwargs: Any) -> LoginSession:
    product = kwargs.pop("product", "test")
    identity = ClientIdentity.create(product=product, client_identifier=kwargs.pop("client_identifier", "test-id"))
    kwargs.setdefault("transport", _NO_NETWORK)
    return LoginSession(identity, **kwargs)


CONSTRUCTORS: dict[str, Callable[..., Any]] = {
    "PlexPinLogin": _widget,
    "PlexTvClient": _sync_client,
    "AsyncPlexTvClient": _async_client,
    "LoginSession": _session,
}
TIMEOUT_ARGUMENT = {"PlexPinLogin": "request_timeout", "LoginSession": "request_timeout",
                    "PlexTvClient": "timeout", "AsyncPlexTvClient": "timeout"}


def _cases() -> Iterator[Any]:
    for ctor in CONSTRUCTORS:
        for value, words in PRODUCTS:
            yield pytest.param(ctor, "product", value, words, id=f"{ctor}-product-{str(value)[:12]!r}")
        for value, words in BASE_URLS:
            yield pytest.param(ctor, "base_url", value, words, id=f"{ctor}-base_url-{str(value)[:30]}")
        for value, words in CLIENT_IDS:
            yield pytest.param(ctor, "client_identifier", value, words, id=f"{ctor}-client_identifier-{value[:12]!r}")
        argument = TIMEOUT_ARGUMENT[ctor]
        for value, words in TIMEOUTS:
            yield pytest.param(ctor, argument, value, words, id=f"{ctor}-{argument}-{value!r}")
        if ctor in ("PlexPinLogin", "LoginSession"):
            for value, words in POLL_INTERVALS:
                yield pytest.param(ctor, "poll_interval", value, words, id=f"{ctor}-poll_interval-{value!r}")


@pytest.mark.parametrize(("ctor", "argument", "value", "words"), list(_cases()))
def test_constructor_refuses_bad_argument(ctor: str, argument: str, value: Any, words: str) -> None:
    before = _open_widgets()
    with pytest.raises(ConfigurationError) as excinfo:
        CONSTRUCTORS[ctor](**{argument: value})
    _assert_names(excinfo, argument, words)
    assert _open_widgets() == before, "a refused PlexPinLogin left widgets open"


@pytest.mark.parametrize("ctor", list(CONSTRUCTORS))
@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9", "https://plex.tv"])
async def test_loopback_http_and_https_are_accepted(ctor: str, url: str) -> None:
    """The refusals above are not blanket ones: plain http is fine on this machine."""
    made = CONSTRUCTORS[ctor](base_url=url)
    assert made.base_url.rstrip("/") == url.rstrip("/")
    if isinstance(made, PlexTvClient):
        made.close()
    elif isinstance(made, AsyncPlexTvClient):
        await made.aclose()
    else:
        made.close()


@pytest.mark.parametrize(
    ("variable", "value", "ctor"),
    [
        ("PLEXPIN_BASE_URL", "http://example.com", "PlexPinLogin"),
        ("PLEXPIN_BASE_URL", "gopher://x", "PlexTvClient"),
        ("PLEXPIN_CLIENT_IDENTIFIER", "no spaces please", "PlexPinLogin"),
        ("PLEXPIN_CLIENT_IDENTIFIER", "no spaces please", "AsyncPlexTvClient"),
    ],
)
def test_bad_environment_variable_is_named(variable: str, value: str, ctor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as excinfo:
        if ctor == "PlexPinLogin":
            _widget()
        elif ctor == "PlexTvClient":
            PlexTvClient(transport=_NO_NETWORK)
        else:
            AsyncPlexTvClient(transport=_NO_NETWORK)
    _assert_names(excinfo, variable, "")


@pytest.mark.parametrize("value", ["", "   ", "has space", "tab\there", 42])
def test_widget_refuses_a_bad_token_without_showing_it(value: Any) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        _widget(token=value)
    _assert_names(excinfo, "token", "")
    if isinstance(value, str) and value.strip():
        assert value not in str(excinfo.value)


def test_widget_refuses_a_bad_plex_token_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEX_TOKEN", "secret with spaces")
    emu = PlexTvEmulator()
    login = PlexPinLogin(transport=emu.transport(), base_url="http://127.0.0.1:9", autostart=False)
    try:
        with pytest.raises(ConfigurationError) as excinfo:
            login.start()
        _assert_names(excinfo, "PLEX_TOKEN", "")
        assert "secret with spaces" not in str(excinfo.value)
    finally:
        login.close()


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_widget_refuses_a_non_bool_remember(value: Any) -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        _widget(remember=value)
    _assert_names(excinfo, "remember", "")


def test_an_unknown_keyword_raises_type_error_like_a_function_with_a_hint() -> None:
    with pytest.raises(TypeError) as excinfo:
        PlexPinLogin(remeber=True, autostart=False)
    assert str(excinfo.value) == (
        "PlexPinLogin() got an unexpected keyword argument 'remeber' (did you mean 'remember'?)"
    )
    with pytest.raises(TypeError, match=r"^PlexPinLogin\(\) got unexpected keyword arguments 'prodcut' "
                       r"\(did you mean 'product'\?\), 'xyzzy'$"):
        PlexPinLogin(prodcut="x", xyzzy=1, autostart=False)


def test_the_box_keywords_still_work() -> None:
    login = PlexPinLogin(layout=ipywidgets.Layout(width="500px"), box_style="info", autostart=False)
    try:
        assert login.layout.width == "500px" and login.box_style == "info"
    finally:
        login.close()
    with pytest.raises(TypeError, match="'children'"):
        PlexPinLogin(children=[], autostart=False)  # the parts are the login's own


# --------------------------------------------------------------------------- wait()

WAIT_TIMEOUTS = [(-1, "negative"), (-0.01, "negative"), (math.nan, "number"), ("5", "number"), (True, "number")]


@pytest.mark.parametrize(("value", "words"), WAIT_TIMEOUTS)
def test_wait_refuses_bad_timeout(value: Any, words: str) -> None:
    emu = PlexTvEmulator()
    login = _widget(base_url="http://127.0.0.1:9", transport=emu.transport())
    session = _session(base_url="http://127.0.0.1:9", transport=emu.transport())
    try:
        for target in (login, session):
            with pytest.raises(ConfigurationError) as excinfo:
                target.wait(value)
            _assert_names(excinfo, "timeout", words)
        assert emu.request_log() == [], "wait() must check its timeout before polling"
    finally:
        login.close()
        session.close()


@pytest.mark.parametrize(("value", "words"), WAIT_TIMEOUTS)
async def test_wait_async_refuses_bad_timeout(value: Any, words: str) -> None:
    emu = PlexTvEmulator()
    login = _widget(base_url="http://127.0.0.1:9", transport=emu.transport())
    session = _session(base_url="http://127.0.0.1:9", transport=emu.transport())
    try:
        for target in (login, session):
            with pytest.raises(ConfigurationError) as excinfo:
                await target.wait_async(value)
            _assert_names(excinfo, "timeout", words)
        await asyncio.sleep(0)
        assert emu.request_log() == [], "wait_async() must check its timeout before polling"
    finally:
        await login.aclose()
        await session.aclose()


def test_client_methods_refuse_bad_arguments() -> None:
    with _sync_client() as client:
        for pin_id in (-1, "12", 1.5, True):
            with pytest.raises(ConfigurationError) as excinfo:
                client.check_pin(pin_id)  # type: ignore[arg-type]
            _assert_names(excinfo, "pin_id", "")
        for token in ("", "  ", "with space", None):
            with pytest.raises(ConfigurationError) as excinfo:
                client.get_user(token)  # type: ignore[arg-type]
            _assert_names(excinfo, "token", "")


# --------------------------------------------------------------------------- the plexpin command

CLI_CASES = [
    (["login", "--product", ""], "--product", "empty"),
    (["login", "--product", "   "], "--product", "empty"),
    (["login", "--product", LONG_PRODUCT], "--product", "1000 characters"),
    (["login", "--base-url", "ftp://plex.tv"], "--base-url", "https://"),
    (["login", "--base-url", "plex.tv"], "--base-url", "https://"),
    (["login", "--base-url", "http://plex.tv"], "--base-url", "plain http"),
    (["login", "--base-url", "http://10.0.0.2:32400"], "--base-url", "plain http"),
    (["logout", "--base-url", "javascript:alert(1)"], "--base-url", "https://"),
    (["login", "--timeout", "-1"], "--timeout", "positive"),
    (["login", "--timeout", "0"], "--timeout", "positive"),
    (["login", "--timeout", "nan"], "--timeout", "positive"),
    (["login", "--timeout", "soon"], "--timeout", "seconds"),
    (["login", "--client-identifier", "bad id"], "--client-identifier", "client identifier"),
]


def _run_main(args: list[str]) -> int:
    from plexpin_widget._cli import main

    try:
        return main(args)
    except SystemExit as exc:  # argparse reports its own errors this way
        return int(exc.code or 0)


@pytest.mark.parametrize(("args", "flag", "words"), CLI_CASES, ids=lambda v: str(v)[:40])
def test_cli_refuses_bad_argument(
    args: list[str], flag: str, words: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Should a check ever be missing, the login would go here (nothing listens) and not exit 2.
    monkeypatch.setenv("PLEXPIN_BASE_URL", "http://127.0.0.1:9")
    assert _run_main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"argument {flag}: " in captured.err, captured.err
    assert words.lower() in captured.err.lower(), captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PLEXPIN_BASE_URL", "http://example.com"), ("PLEXPIN_CLIENT_IDENTIFIER", "bad id"),
     ("PLEX_TOKEN", "secret with spaces")],
)
def test_cli_names_a_bad_environment_variable(
    variable: str, value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if variable != "PLEXPIN_BASE_URL":
        monkeypatch.setenv("PLEXPIN_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv(variable, value)
    assert _run_main(["login"]) == 2
    captured = capsys.readouterr()
    assert variable in captured.err and "Traceback" not in captured.err, captured.err
    if variable == "PLEX_TOKEN":
        assert value not in captured.err


def test_real_command_exits_2_for_a_long_product(tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PLEX_TOKEN", "PLEXPIN_CLIENT_IDENTIFIER")}
    env.update(PLEXPIN_CONFIG_DIR=str(tmp_path), PLEXPIN_BASE_URL="http://127.0.0.1:9")
    command = [sys.executable, "-c", "import sys; from plexpin_widget._cli import main; sys.exit(main())"]
    result = subprocess.run([*command, "login", "--product", LONG_PRODUCT], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "argument --product: " in result.stderr and "1000 characters" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
