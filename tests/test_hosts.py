"""``detect_host()`` in each real host, and the login where no widget front end shows it.

Each host is the real thing: a plain ``python`` subprocess, terminal IPython (``python -m
IPython -c``), and an ipykernel started through jupyter_client (see ``kernel_helpers``), whose
cells are sent once as jupyter_client sends them (nbclient, papermill: headless) and once with a
browser's plain-UUID message id (JupyterLab, Notebook, VS Code: a widget front end). The browser
hosts themselves are checked by the browser tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plexpin_widget._hosts import Host, detect_host
from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator

DETECT = "from plexpin_widget._hosts import detect_host; print('host=' + detect_host().value)"
USERNAME = "script-person"


def run_python(args: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=full_env,
        stdin=subprocess.DEVNULL,
    )


def host_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("host="))


# --------------------------------------------------------------------------- detection, real hosts


def test_a_plain_script_is_a_script() -> None:
    result = run_python(["-c", DETECT])
    assert result.returncode == 0, result.stderr
    assert host_line(result.stdout) == "host=script"


def test_terminal_ipython_is_terminal_ipython(tmp_path: Path) -> None:
    result = run_python(["-m", "IPython", "--no-banner", "--quick", "-c", DETECT], env={"IPYTHONDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert host_line(result.stdout) == "host=terminal_ipython"


@pytest.mark.kernel
@pytest.mark.timeout(120)
def test_a_kernel_tells_a_headless_client_from_a_browser(tmp_path: Path) -> None:
    from kernel_helpers import KernelSession

    kernel = KernelSession(tmp_path, {"PLEXPIN_CONFIG_DIR": str(tmp_path / "config")})
    try:
        headless = kernel.execute(DETECT)
        browser = kernel.execute(DETECT, as_browser=True)
        voila = kernel.execute(
            "import os\nos.environ['SERVER_SOFTWARE'] = 'voila/0.5.13'\n" + DETECT
            + "\ndel os.environ['SERVER_SOFTWARE']"
        )
    finally:
        kernel.shutdown()
    assert host_line(headless.stdout) == "host=headless_kernel"
    assert host_line(browser.stdout) == "host=jupyter_frontend"
    assert host_line(voila.stdout) == "host=voila"


# --------------------------------------------------------------------------- detection, the rules


class ZMQInteractiveShell:
    """Stands in for ipykernel's shell class (detect_host checks names, as huggingface_hub does)."""

    def __init__(self, msg_id: str) -> None:
        self.kernel = types.SimpleNamespace(get_parent=lambda: {"header": {"msg_id": msg_id}})


class ColabShell(ZMQInteractiveShell):
    pass


def fake_ipython(monkeypatch: pytest.MonkeyPatch, shell: Any) -> None:
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))


def test_marimo_comes_before_every_ipython_check(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ipython(monkeypatch, ZMQInteractiveShell("3f0c6b7e-6a43-4d2a-9b7e-2c1f0a9d8e71"))
    monkeypatch.setitem(sys.modules, "marimo", types.SimpleNamespace(running_in_notebook=lambda: True))
    assert detect_host() is Host.MARIMO
    monkeypatch.setitem(sys.modules, "marimo", types.SimpleNamespace(running_in_notebook=lambda: False))
    assert detect_host() is Host.JUPYTER_FRONTEND  # marimo imported as a library in Jupyter


def test_a_subclass_of_the_kernel_shell_counts_and_colab_is_a_front_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "marimo", raising=False)
    fake_ipython(monkeypatch, ColabShell("ab12cd34-0000-4000-8000-000000000000_4242_7"))
    assert detect_host() is Host.HEADLESS_KERNEL
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert detect_host() is Host.JUPYTER_FRONTEND


def test_any_other_ipython_shell_is_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "marimo", raising=False)
    fake_ipython(monkeypatch, object())
    assert detect_host() is Host.TERMINAL_IPYTHON
    fake_ipython(monkeypatch, None)
    assert detect_host() is Host.SCRIPT


def test_only_front_ends_show_widgets() -> None:
    assert {host for host in Host if host.shows_widgets} == {Host.JUPYTER_FRONTEND, Host.VOILA, Host.MARIMO}


# --------------------------------------------------------------------------- the login outside a notebook


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[PlexTvEmulator, EmulatorServer]]:
    emu = PlexTvEmulator(username=USERNAME)
    with EmulatorServer(emu, host="127.0.0.1", port=0) as server:
        yield emu, server


def login_env(server: EmulatorServer, tmp_path: Path) -> dict[str, str]:
    return {
        "PLEXPIN_BASE_URL": server.url,
        "PLEXPIN_CONFIG_DIR": str(tmp_path / "config"),
        "PLEXPIN_KEYRING": "0",
        "PLEX_TOKEN": "",
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }


SCRIPT = """
import sys
from plexpin_widget import PlexPinLogin
login = PlexPinLogin(product="Script test", poll_interval=0.05)
seen = []
login.observe(lambda change: seen.append(change["new"]), names="code")
token = login.wait(timeout=30)
print("codes seen", [code for code in seen if code])
print("signed in", bool(token), login.user.username)
print("pin code", login.pin.code)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("host", ["script", "terminal_ipython"])
def test_without_a_widget_front_end_wait_shows_the_code_on_stderr_and_drives_the_login(
    host: str, emulator: tuple[PlexTvEmulator, EmulatorServer], tmp_path: Path
) -> None:
    emu, server = emulator
    runner = ["-c"] if host == "script" else ["-m", "IPython", "--no-banner", "--quick", "-c"]
    emu.auto_claim(0.5)
    try:
        result = run_python([*runner, SCRIPT], env=login_env(server, tmp_path))
    finally:
        emu.auto_claim(None)
    assert result.returncode == 0, result.stderr
    err = result.stderr
    code = result.stdout.split("pin code ", 1)[1].split()[0]
    assert any(pin.code == code for pin in emu.pins.values())
    assert err.count("To sign in to Plex, open this link:") == 1, err
    assert err.count(f"    {code}\n") == 1, "the code is shown once"
    assert "▀" in err or "▄" in err, "a QR code drawn in the terminal"
    assert err.rstrip().endswith(f"Signed in as {USERNAME}."), err
    assert f"codes seen ['{code}']" in result.stdout, "an observer registered before wait() saw the first code"
    assert f"signed in True {USERNAME}" in result.stdout


ASYNC_SCRIPT = """
import asyncio
from plexpin_widget import PlexPinLogin

async def main():
    login = PlexPinLogin(product="Script test", poll_interval=0.05)
    try:
        await login.wait_async(timeout=30)
    except Exception as exc:
        print("raised", type(exc).__name__)

asyncio.run(main())
"""


@pytest.mark.timeout(120)
def test_wait_async_in_a_script_reports_how_the_login_ended(tmp_path: Path) -> None:
    with EmulatorServer(PlexTvEmulator(short_lifetime=1), host="127.0.0.1", port=0) as server:
        result = run_python(["-c", ASYNC_SCRIPT], env=login_env(server, tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("To sign in to Plex, open this link:") == 1
    assert result.stderr.rstrip().endswith("The code expired before it was approved."), result.stderr
    assert "raised PinExpiredError" in result.stdout


def test_where_no_loop_runs_the_constructor_sends_nothing_and_wait_shows_every_change(
    make_login: Any, emu: PlexTvEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    login = make_login(first_request=False)
    assert emu.request_log() == [] and login.status == "requesting" and login.code == ""
    changes: list[tuple[str, str]] = []
    login.observe(lambda change: changes.append((change["name"], change["new"])), names=["status", "code"])
    emu.auto_claim(0)
    assert login.wait(timeout=10) == emu.demo_token
    code = login.pin.code
    assert changes[:2] == [("code", code), ("status", "waiting")] or changes[:2] == [("status", "waiting"), ("code", code)]
    assert ("status", "authorized") in changes
    err = capsys.readouterr().err
    assert err.count(f"    {code}\n") == 1 and err.rstrip().endswith("Signed in as demo.")
