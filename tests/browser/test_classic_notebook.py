"""PlexPinLogin in classic Notebook 6.5 with ipywidgets 7.8 (widgetsnbextension 3) on ipykernel 6.

This is the combination of Colab's generation, where a running cell holds the widget messages
back. It runs in dev.py's ``.venv-nb6`` (step 4), and is skipped, with that reason, in any
environment without classic Notebook 6. One notebook shows the login, then blocks in
``login.wait()``: a click on Cancel in the page must end that wait while the cell still runs
(jupyter-ui-poll takes the click). Then "Get a new code", approval, "Signed in as" with a hostile
username shown as text, and a QR code that decodes to the link.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from .conftest import PageWatch, decode_qr_png, wait_until, write_notebook

notebook = pytest.importorskip("notebook")
if not notebook.__version__.startswith("6."):
    pytest.skip("needs classic Notebook 6.5 (dev.py makes .venv-nb6 for it: step 4)", allow_module_level=True)

HOSTILE_USERNAME = "<img src=x onerror=alert(1)>"

CELLS = [
    "from plexpin_widget import PlexPinLogin\n"
    "from plexpin_widget._hosts import detect_host\n"
    "import ipykernel, ipywidgets\n"
    "print('host=' + detect_host().value, 'ipykernel=' + ipykernel.__version__, 'ipywidgets=' + ipywidgets.__version__)\n"
    'login = PlexPinLogin(product="Classic notebook test")\n'
    "login",
    "try:\n"
    "    login.wait(timeout=120)\n"
    "except Exception as exc:\n"
    "    print('wait raised', type(exc).__name__)",
]


@pytest.fixture
def plex(tmp_path: Path):
    from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator

    emu = PlexTvEmulator(username=HOSTILE_USERNAME)
    with EmulatorServer(emu, host="127.0.0.1", port=0) as server:
        yield emu, server


@pytest.mark.parametrize("frontend", ["nb6"], indirect=True)
def test_classic_notebook_cancel_while_a_cell_blocks_then_sign_in(frontend, page_watch: PageWatch, plex, tmp_path):
    emu, server = plex
    fe = frontend
    client_id = f"nb6-test-{uuid.uuid4().hex[:12]}"
    kernel = fe.install_kernelspec({
        "PLEXPIN_BASE_URL": server.url.rstrip("/"),
        "PLEXPIN_CLIENT_IDENTIFIER": client_id,
        "PLEXPIN_CONFIG_DIR": str(tmp_path / "config"),
        "PLEXPIN_KEYRING": "0",
        "PLEX_TOKEN": "",
    })
    name = f"classic-{uuid.uuid4().hex[:8]}.ipynb"
    write_notebook(fe.root / name, CELLS, kernel_name=kernel)
    page = page_watch.page
    fe.open_and_run(page, name)
    root = page.locator(".plexpin-login")
    outputs = page.locator(".output_area")
    wait_until(lambda: "host=" in outputs.first.inner_text(), timeout=60, interval=0.1,
               message="the first cell's output", page=page)
    first_output = outputs.first.inner_text()
    assert "host=jupyter_frontend" in first_output and "ipykernel=6." in first_output
    assert "ipywidgets=7.8" in first_output

    def shown_code_matching_its_qr() -> str:
        # The code may still change under us (the blocking wait() of the next cell can take
        # the login over with a code of its own), so the code and the image are read together.
        from playwright.sync_api import Error as PlaywrightError

        try:
            shown = root.locator(".plexpin-code").inner_text(timeout=1000).strip()
        except PlaywrightError:  # the view is being redrawn; ask again
            return ""
        return shown if shown and f"{server.url.rstrip('/')}/link/?pin={shown}" in _decoded_qr(root) else ""

    # The image may follow the code by one round of the kernel's loop; it must come while
    # the next cell blocks in wait(), so it is awaited, not assumed.
    code = wait_until(shown_code_matching_its_qr, timeout=30, interval=0.2,
                      message="a link code and a QR image that decodes to its link", page=page)
    # The second cell now blocks in login.wait(); the page's Cancel must reach it.
    # The running cell's prompt, not kernel_busy: jupyter-ui-poll handles widget messages
    # inside the cell, and each of them ends with a status "idle" the page takes at its word.
    wait_until(
        lambda: "*" in page.evaluate("() => Jupyter.notebook.get_cell(1).element.find('.input_prompt').text()"),
        timeout=10, interval=0.05, message="the blocking cell to run", page=page,
    )
    root.locator(".plexpin-cancel button, button.plexpin-cancel").first.click()
    wait_until(lambda: "wait raised LoginCancelledError" in page.locator(".output_area").last.inner_text(),
               timeout=10, interval=0.05, message="the wait to end with LoginCancelledError", page=page)
    # A new code, approved: signed in, the hostile name shown as text.
    root.locator(".plexpin-restart button, button.plexpin-restart").first.click()
    new_code = wait_until(
        lambda: (c if (c := root.locator(".plexpin-code").inner_text().strip()) and c != code else ""),
        timeout=30, interval=0.1, message="a new code", page=page,
    )
    emu.claim(code=new_code)
    # "Signed in as your Plex account" shows first; the name follows once the account is read.
    wait_until(lambda: f"Signed in as {HOSTILE_USERNAME}" in root.locator(".plexpin-signed-in").inner_text(),
               timeout=15, interval=0.1, message="Signed in as <the hostile name, as text>", page=page)
    assert page.locator(".plexpin-signed-in img").count() == 0
    assert page_watch.dialogs == [], f"a dialog fired: {page_watch.dialogs}"


def _decoded_qr(root) -> list[str]:
    """The texts the QR image decodes to; none while the image element is being replaced (an
    update of the image swaps the element, and a screenshot of a detached one fails)."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        return decode_qr_png(root.locator("img.plexpin-qr").screenshot(timeout=2000))
    except PlaywrightError:
        return []
