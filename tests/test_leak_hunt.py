"""The token hunt: sign in through every path, then look for the token everywhere.

Paths: the widget with a code (remembering the token), the widget with the remembered token,
the widget with ``PLEX_TOKEN``, the widget with a revoked ``token=``, the terminal's
``plexpin login`` (with and without ``--print-token``, remembering, remembered, with
``PLEX_TOKEN``), and a notebook executed by nbclient with its widget state stored.

Places: the synced state of every live widget and the saved-notebook forms of it, mime bundles,
every repr and str of what a person can print, log output at DEBUG (root logger, so httpx and
httpcore too), the text and tracebacks of errors from failed calls, the terminal's stdout and
stderr, the remembered store, and the executed ``.ipynb``.

A token may be found only where it belongs: the ``token`` trait, stdout with
``--print-token``, and the remembered store. Each of those is also checked to really hold it,
so the hunt is known to be able to find it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import ipywidgets
import nbformat
import pytest
from ipywidgets.embed import embed_data, embed_minimal_html
from nbclient import NotebookClient

from plexpin_widget import LoginCancelledError, PlexPinError, PlexPinLogin, PlexTvClient
from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator

CLI = [sys.executable, "-c", "import sys; from plexpin_widget._cli import main; sys.exit(main())"]
POLL = 0.05


class Hunt:
    """Named texts to search; ``where(token)`` says which of them hold the token."""

    def __init__(self) -> None:
        self.places: dict[str, str] = {}

    def add(self, name: str, value: Any) -> None:
        self.places[name] = self.places.get(name, "") + "\n" + _text(value)

    def error(self, name: str, exc: BaseException) -> None:
        self.add(name, [str(exc), repr(exc), "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))])

    def where(self, token: str) -> set[str]:
        return {name for name, text in self.places.items() if token in text}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    try:
        return json.dumps(value, default=_text_default)
    except (TypeError, ValueError):
        return repr(value)


def _text_default(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        # Searched raw and as base64, the two ways a saved notebook can hold a buffer.
        return bytes(value).decode("latin-1") + " " + base64.b64encode(bytes(value)).decode("ascii")
    return repr(value)


def _live_widgets() -> list[ipywidgets.Widget]:
    from ipywidgets.widgets import widget as widget_module

    registry = getattr(widget_module, "_instances", None)
    return list((registry if registry is not None else ipywidgets.Widget.widgets).values())


def snapshot(hunt: Hunt, path: str, login: PlexPinLogin) -> None:
    """Everything a front end, a saved notebook or a print() can get from ``login`` right now."""
    for widget in _live_widgets():
        hunt.add("synced state of every widget", widget.get_state())
    hunt.add("manager state", ipywidgets.Widget.get_manager_state(drop_defaults=False))
    hunt.add("embedded widget state", embed_data(views=[login], drop_defaults=False))
    page = io.StringIO()
    embed_minimal_html(page, views=[login], title="saved")
    hunt.add("embedded HTML page", page.getvalue())
    hunt.add("mime bundle", login._repr_mimebundle_())
    session = login._session
    shown = [login, login.pin, login.user, session, session.flow, session.flow.pending, login._found, login._store,
             login.error, login.notice, login.status, login.code, login.auth_url]
    hunt.add("repr and str", [repr(item) for item in shown] + [str(item) for item in shown])
    hunt.add(f"token trait ({path})", login.token or "")


async def _until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=60)


def execute_and_save(cells: list[str], tmp_path: Path, *, last_raises: bool = False) -> tuple[str, str, dict[str, Any]]:
    """Run ``cells`` in a real kernel (nbclient, widget state stored), save the notebook, and
    return what was saved, every cell's outputs as JSON, and the stored widget state."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    if last_raises:
        notebook.cells[-1].metadata["tags"] = ["raises-exception"]
    NotebookClient(notebook, timeout=120, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, path)
    outputs = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    widget_state = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return path.read_text(encoding="utf-8"), outputs, widget_state


@pytest.fixture
def private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config"
    monkeypatch.setenv("PLEXPIN_CONFIG_DIR", str(config))
    monkeypatch.setenv("PLEXPIN_KEYRING", "0")  # the file store: its contents can be searched
    for name in ("PLEX_TOKEN", "PLEXPIN_BASE_URL", "PLEXPIN_CLIENT_IDENTIFIER"):
        monkeypatch.delenv(name, raising=False)
    return config


@pytest.fixture
def served() -> Iterator[tuple[PlexTvEmulator, str]]:
    emu = PlexTvEmulator(username="leak hunter")
    with EmulatorServer(emu) as server:
        yield emu, server.url


async def test_the_token_is_only_where_it_belongs(
    private: Path, served: tuple[PlexTvEmulator, str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="plexpin_widget")
    emu, base = served
    hunt = Hunt()
    demo = emu.demo_token
    env_token = emu.add_account(username="env user")
    revoked = emu.add_account(username="gone user")
    emu.revoke(revoked)
    logins: list[PlexPinLogin] = []

    def widget(**kwargs: Any) -> PlexPinLogin:
        login = PlexPinLogin(product="Leak hunt", base_url=base, poll_interval=POLL, **kwargs)
        logins.append(login)
        return login

    try:
        # 1. The widget with a code, remembering the token.
        first = widget(client_identifier="leak-widget", remember=True)
        await _until(lambda: first.status == "waiting", "a code")
        emu.claim(pin_id=first.pin.id)
        assert await first.wait_async(timeout=15) == demo
        await _until(lambda: first.user is not None and "Remembered" in first.notice, "the account and the store")
        hunt.add("resources() repr", repr(await asyncio.to_thread(first.resources)))
        snapshot(hunt, "code", first)

        # 2. The widget with the remembered token.
        again = widget(client_identifier="leak-widget")
        assert await again.wait_async(timeout=15) == demo
        await _until(lambda: again.user is not None, "the account")
        assert again.pin is None, "the remembered token was used, no code asked for"
        snapshot(hunt, "remembered", again)

        # 3. The widget with PLEX_TOKEN.
        monkeypatch.setenv("PLEX_TOKEN", env_token)
        from_env = widget(client_identifier="leak-env")
        assert await from_env.wait_async(timeout=15) == env_token
        await _until(lambda: from_env.user is not None, "the account")
        snapshot(hunt, "PLEX_TOKEN", from_env)
        monkeypatch.delenv("PLEX_TOKEN")

        # 4. A revoked token= argument: refused, a code is asked for instead, then cancelled.
        refused = widget(client_identifier="leak-refused", token=revoked)
        await _until(lambda: refused.status == "waiting", "a code after the refusal")
        snapshot(hunt, "refused", refused)
        refused.cancel()
        with pytest.raises(LoginCancelledError) as cancelled:
            await refused.wait_async(timeout=5)
        hunt.error("errors from failed calls", cancelled.value)

        # 5. Failed calls with each token (an echoing server or message would show it).
        with PlexTvClient(client_identifier="leak-client", base_url=base) as client:
            for token in (revoked, demo + "x", env_token + " "):
                with pytest.raises(PlexPinError) as failed:
                    client.get_user(token)
                hunt.error("errors from failed calls", failed.value)
            with pytest.raises(PlexPinError) as failed:
                client.get_resources(revoked)
            hunt.error("errors from failed calls", failed.value)
        async with httpx.AsyncClient() as raw:  # plex.tv down: the widget's error text
            await raw.post(f"{base}/__emulator__/faults", json={"kind": "status", "status": 503, "count": 50,
                                                                 "path_prefix": "/api/v2/user"})
        shaky = widget(client_identifier="leak-env-2", token=env_token)
        await _until(lambda: "verified" in shaky.error, "the unverified sign-in")
        snapshot(hunt, "unverified", shaky)
        emu.faults.clear()
    finally:
        for login in logins:
            await login.aclose()

    # 6. The terminal.
    env = {k: v for k, v in os.environ.items() if k not in ("PLEX_TOKEN", "PLEXPIN_BASE_URL")}
    env.update(PLEXPIN_CONFIG_DIR=str(private / "cli"), PLEXPIN_KEYRING="0", PYTHONUNBUFFERED="1")
    emu.auto_claim(0.2)
    target = ["--base-url", base, "--client-identifier", "leak-cli"]
    printed = _cli(["login", "--print-token", "--remember", *target], env)
    assert printed.returncode == 0, printed.stderr
    hunt.add("stdout with --print-token", printed.stdout)
    hunt.add("terminal stderr", printed.stderr)
    runs = [
        _cli(["login", *target], env),  # the remembered token
        _cli(["login", "--fresh", *target], env),  # a code, stdout stays empty
        _cli(["login", "--base-url", base, "--client-identifier", "leak-cli-env"], {**env, "PLEX_TOKEN": env_token}),
        _cli(["login", "--base-url", base, "--client-identifier", "leak-cli-gone"], {**env, "PLEX_TOKEN": revoked}),
    ]
    emu.auto_claim(None)
    for run in runs:
        assert run.returncode == 0, run.stderr
        hunt.add("terminal stdout without --print-token", run.stdout)
        hunt.add("terminal stderr", run.stderr)

    # 7. What the logs said, and what the store holds.
    hunt.add("log output at DEBUG", caplog.text)
    hunt.add("log output at DEBUG", [record.getMessage() for record in caplog.records])
    stored = [p for p in private.rglob("*") if p.is_file() and p.name != "client_identifier"]
    hunt.add("remembered store", [p.read_bytes() for p in stored])
    assert caplog.records, "nothing was logged, so the log search proves nothing"
    # Our requests go straight to httpx's transport (see _client._ClientBase), so the request log
    # that names each one is the client's own; httpx's client layer logs only what else uses it.
    assert any(r.name == "plexpin_widget.client" for r in caplog.records), "the request log was not captured"

    belongs = {"remembered store", "stdout with --print-token"}
    where = {
        "demo": hunt.where(demo),
        "PLEX_TOKEN": hunt.where(env_token),
        "revoked": hunt.where(revoked),
    }
    assert {p for p in where["demo"] if not p.startswith("token trait")} - belongs == set(), where["demo"]
    assert {p for p in where["PLEX_TOKEN"] if not p.startswith("token trait")} - belongs == set(), where["PLEX_TOKEN"]
    assert where["revoked"] == set(), where["revoked"]
    # The hunt can find it: each place it belongs does hold it.
    assert {"token trait (code)", "token trait (remembered)", "remembered store", "stdout with --print-token"} <= where["demo"]
    assert printed.stdout == demo + "\n"
    assert "token trait (PLEX_TOKEN)" in where["PLEX_TOKEN"]


# --------------------------------------------------------------------------- a saved notebook

NOTEBOOK_CELLS = [
    "import hashlib, logging, os\n"
    "logging.basicConfig(level=logging.DEBUG, force=True)\n"
    "from plexpin_widget import PlexPinLogin, PlexTvClient, PlexPinError",
    "login = PlexPinLogin(product='Leak hunt', poll_interval=0.05, remember=True)\nlogin",
    "token = await login.wait_async(timeout=60)\n"
    "print('signed in; sha256', hashlib.sha256(token.encode()).hexdigest())",
    "import asyncio\n"
    "for _ in range(500):\n"
    "    if login.user is not None and 'Remembered' in login.notice:\n"
    "        break\n"
    "    await asyncio.sleep(0.02)\n"
    "login",
    "login.user, login.pin, repr(login), login.error, login.notice",
    "again = PlexPinLogin(product='Leak hunt', poll_interval=0.05)\n"
    "print('remembered used:', await again.wait_async(timeout=30) == token)\nagain",
    "os.environ['PLEX_TOKEN'] = os.environ['LEAK_ENV_TOKEN']\n"
    "from_env = PlexPinLogin(product='Leak hunt', poll_interval=0.05, client_identifier='leak-nb-env')\n"
    "print('env used:', (await from_env.wait_async(timeout=30)) == os.environ['LEAK_ENV_TOKEN'])\nfrom_env",
    "PlexTvClient().get_user(os.environ['LEAK_REVOKED_TOKEN'])",
]


@pytest.mark.kernel
def test_the_token_is_not_in_an_executed_notebook(
    private: Path, served: tuple[PlexTvEmulator, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    emu, base = served
    emu.auto_claim(0.3)
    env_token = emu.add_account(username="env user")
    revoked = emu.add_account(username="gone user")
    emu.revoke(revoked)
    monkeypatch.setenv("PLEXPIN_BASE_URL", base)
    monkeypatch.setenv("LEAK_ENV_TOKEN", env_token)
    monkeypatch.setenv("LEAK_REVOKED_TOKEN", revoked)
    saved, outputs, widget_state = execute_and_save(NOTEBOOK_CELLS, tmp_path, last_raises=True)
    # It did sign in, through each path, and logged and failed as planned.
    assert hashlib.sha256(emu.demo_token.encode()).hexdigest() in outputs
    assert "remembered used: True" in outputs and "env used: True" in outputs
    assert "InvalidTokenError" in outputs and "DEBUG" in outputs
    assert widget_state.get("state"), "no widget state was stored, so it was not searched"
    for name, token in (("demo", emu.demo_token), ("PLEX_TOKEN", env_token), ("revoked", revoked)):
        assert token not in saved, f"the {name} token is in the saved notebook"
        assert base64.b64encode(token.encode()).decode() not in saved
