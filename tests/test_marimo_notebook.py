"""A marimo notebook run headless (``marimo export html``, which runs every cell in a real marimo
kernel): the login shows as an anywidget, polls on marimo's event loop between cells, and
``await login.wait_async()`` in a later cell returns the token, which reaches no output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("marimo", reason="marimo is in the test extra")

from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator  # noqa: E402

NOTEBOOK = '''
import marimo

app = marimo.App()


@app.cell
def _():
    from plexpin_widget import PlexPinLogin

    login = PlexPinLogin(product="Headless marimo", poll_interval=0.2)
    login
    return (login,)


@app.cell
async def _(login):
    token = await login.wait_async(timeout=60)
    mirror = login._marimo_mirror
    print("STATUS", login.status, "USER", login.user.display_name, "MIRROR", mirror.status, mirror.signed_in_as)
    print("TOKEN-MATCHES", token == login.token, len(token) > 0)
    return


if __name__ == "__main__":
    app.run()
'''

def marimo_env(tmp_path: Path, base_url: str) -> dict[str, str]:
    """The notebook's environment: our emulator, a private config, no keyring, and marimo's own
    config, cache and state in the test's folder."""
    env = dict(os.environ)
    for name in ("PLEX_TOKEN", "PLEXPIN_CLIENT_IDENTIFIER"):
        env.pop(name, None)
    home = tmp_path / "home"
    env.update(
        PLEXPIN_BASE_URL=base_url,
        PLEXPIN_CONFIG_DIR=str(tmp_path / "plexpin"),
        PLEXPIN_KEYRING="0",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".state"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


@pytest.fixture
def plex_tv() -> Any:
    emulator = PlexTvEmulator()
    emulator.auto_claim(0.5)  # approved half a second after the code is made, as by a person
    server = EmulatorServer(emulator, port=0).start()
    yield emulator, server
    server.stop()


def test_a_marimo_notebook_runs_the_login_headless(tmp_path: Path, plex_tv: Any) -> None:
    emulator, server = plex_tv
    notebook = tmp_path / "login_app.py"
    notebook.write_text(NOTEBOOK)
    out = tmp_path / "out.html"
    marimo = [sys.executable, "-m", "marimo"]
    result = subprocess.run(
        [*marimo, "export", "html", str(notebook), "-o", str(out), "--no-include-code"],
        env=marimo_env(tmp_path, server.url), capture_output=True, text=True, timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = out.read_text()
    # The login cell's output is the anywidget, not core ipywidgets (which marimo cannot show).
    assert "marimo-anywidget" in page
    assert "application/vnd.jupyter.widget-view+json" not in page
    # The poll task ran on marimo's loop between the cells, and the mirror got the final state.
    # (Where a cell's print goes, the page or the exporter's own stdout, depends on marimo's
    # version; it must be in one of them.)
    printed = page + result.stdout + result.stderr
    demo = emulator.demo_token
    assert f"STATUS authorized USER {emulator.username} MIRROR authorized {emulator.username}" in printed, printed[-3000:]
    assert "TOKEN-MATCHES True True" in printed
    assert demo not in printed
    pins = emulator.pins
    assert len(pins) == 1 and next(iter(pins.values())).auth_token == demo
