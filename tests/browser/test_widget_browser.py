"""PlexPinLogin in a real browser (Debian Chromium via Playwright) in JupyterLab 4, Notebook 7 and
Voilà, against the plex.tv emulator on loopback.

Each test gets its own emulator (so it can pick the account's username), its own client
identifier and config dir, passed to the kernel through a per-test kernelspec's ``env``, and its
own notebook holding exactly the documented cell.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.sync_api import expect

from .conftest import REPO_ROOT, FrontEnd, PageWatch, decode_qr_png, screenshot_qr, wait_until, write_notebook

LOGIN_CELL = 'from plexpin_widget import PlexPinLogin\nlogin = PlexPinLogin(product="Browser test")\nlogin'
HOSTILE_USERNAME = "<img src=x onerror=alert(1)>"
README_SCREENSHOT = REPO_ROOT / "docs" / "widget.png"

SIGN_IN_BUDGET_MS = 2_000  # "Signed in as" must show within this long after Approve is clicked
CANCEL_QUIET_POLLS = 3  # after Cancel, no poll for at least this many poll intervals


# --------------------------------------------------------------------------------------------
# the emulator side


@dataclass
class PlexEnv:
    emu: Any
    server: Any
    client_id: str
    config_dir: Path

    @property
    def url(self) -> str:
        return self.server.url.rstrip("/")

    def kernel_env(self) -> dict[str, str]:
        return {
            "PLEXPIN_BASE_URL": self.url,
            "PLEXPIN_CLIENT_IDENTIFIER": self.client_id,
            "PLEXPIN_CONFIG_DIR": str(self.config_dir),
        }

    def auth_url(self, code: str) -> str:
        return f"{self.url}/link/?pin={code}"

    def pin_with_code(self, code: str):
        """The emulator's pin for ``code`` created by this test's client (waits for it)."""

        def find():
            for pin in self.emu.pins.values():
                if pin.code == code and pin.client_identifier == self.client_id:
                    return pin
            return None

        return wait_until(find, timeout=5, message=lambda: f"a pin with code {code!r} for {self.client_id}")

    def polls(self, pin_id: int) -> list:
        """Logged GET /api/v2/pins/{pin_id} requests from this test's client."""
        path = f"/api/v2/pins/{pin_id}"
        return [
            r
            for r in self.emu.request_log(client_identifier=self.client_id)
            if r.method == "GET" and r.path.split("?", 1)[0].rstrip("/") == path
        ]


@pytest.fixture
def plex_factory(tmp_path) -> Callable[..., PlexEnv]:
    from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator

    started: list[PlexEnv] = []

    def start(username: str = "browser-tester") -> PlexEnv:
        emu = PlexTvEmulator(username=username)
        server = EmulatorServer(emu, host="127.0.0.1", port=0)
        server.start()
        config_dir = tmp_path / f"plexpin-config-{len(started)}"
        config_dir.mkdir()
        env = PlexEnv(emu, server, f"browser-test-{uuid.uuid4().hex[:12]}", config_dir)
        started.append(env)
        return env

    yield start
    for env in started:
        env.server.stop()


@pytest.fixture
def plex(plex_factory) -> PlexEnv:
    return plex_factory()


# --------------------------------------------------------------------------------------------
# the notebook side


@dataclass
class LoginPage:
    frontend: FrontEnd
    watch: PageWatch
    notebook: str
    root: Any  # Locator of .plexpin-login
    plex: PlexEnv
    first_code: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def page(self):
        return self.watch.page

    def part(self, name: str):
        return self.root.locator(f".plexpin-{name}")

    def code_text(self) -> str:
        loc = self.part("code")
        if not loc.count() or not loc.first.is_visible():
            return ""
        return loc.first.inner_text().strip()

    def wait_for_code(self, *, other_than: str = "", timeout: float = 30) -> str:
        return wait_until(
            lambda: (c if (c := self.code_text()) and c != other_than else ""),
            timeout=timeout,
            interval=0.1,
            message=f"a link code{f' other than {other_than!r}' if other_than else ''} in .plexpin-code",
            page=self.page,
        )


def open_login(frontend: FrontEnd, watch: PageWatch, plex: PlexEnv) -> LoginPage:
    """Write the documented cell into a fresh notebook, open it with a fresh kernel whose
    environment points at ``plex``, run it, and wait until a link code shows."""
    kernel = frontend.install_kernelspec(plex.kernel_env())
    name = f"login-{uuid.uuid4().hex[:8]}.ipynb"
    write_notebook(frontend.root / name, [LOGIN_CELL], kernel_name=kernel)
    frontend.open_and_run(watch.page, name)
    root = frontend.locator(watch.page, ".plexpin-login")
    expect(root).to_have_count(1, timeout=60_000)
    expect(root).to_be_visible()
    login = LoginPage(frontend, watch, name, root, plex)
    login.first_code = login.wait_for_code()
    return login


def wait_qr_loaded(login: LoginPage) -> None:
    qr = login.part("qr")
    expect(qr).to_be_visible()
    login.page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=qr.element_handle())


def countdown_snapshot(login: LoginPage) -> tuple[str, str]:
    bar = login.part("progress").locator(".progress-bar")
    style = bar.first.get_attribute("style") if bar.count() else ""
    return (style or "", login.part("status").inner_text())


# --------------------------------------------------------------------------------------------
# tests


def test_waiting_state_shows_code_qr_and_countdown(frontend, page_watch, plex, tmp_path):
    login = open_login(frontend, page_watch, plex)
    code = login.first_code
    pin = plex.pin_with_code(code)
    assert pin.auth_token is None

    wait_qr_loaded(login)
    expect(login.part("progress")).to_be_visible()
    expect(login.part("status")).to_be_visible()
    expect(login.part("cancel")).to_be_visible()
    expect(login.part("cancel")).to_have_text("Cancel")
    expect(login.part("restart")).to_be_hidden()

    # the link opens the approval page in a new tab
    link = login.part("link").locator("a")
    expect(link).to_have_attribute("href", plex.auth_url(code))
    expect(link).to_have_attribute("target", "_blank")

    # the QR image, as rendered, carries the approval URL
    shot = tmp_path / f"widget-{frontend.kind}.png"
    assert screenshot_qr(login.root, shot) == [plex.auth_url(code)]

    # the countdown is live: the progress bar or the status text moves on its own
    before = countdown_snapshot(login)
    wait_until(
        lambda: countdown_snapshot(login) != before,
        timeout=5,
        interval=0.1,
        message=f"the countdown to change from {before!r}",
        page=login.page,
    )

    if frontend.kind == "lab":
        # README screenshot: waiting state, code and QR visible, in JupyterLab
        assert login.code_text() == code, "the code changed while taking the README screenshot"
        # Every run takes the picture and checks it; only PLEXPIN_UPDATE_SCREENSHOT=1 replaces
        # the committed one, so a test run does not leave the work tree changed.
        target = README_SCREENSHOT if os.environ.get("PLEXPIN_UPDATE_SCREENSHOT") == "1" else (
            Path(tempfile.mkdtemp(prefix="plexpin-shot-")) / "widget.png"
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        login.root.screenshot(path=str(target))
        assert decode_qr_png(target.read_bytes()) == [plex.auth_url(code)]

    assert page_watch.dialogs == []


def test_approve_in_second_tab_signs_in(frontend, page_watch, new_page, plex):
    login = open_login(frontend, page_watch, plex)
    code = login.first_code

    # a person opens plex.tv/link in another tab, types the code and approves
    tab = new_page().page
    tab.goto(f"{plex.url}/link")
    tab.locator("#code").click()
    tab.locator("#code").press_sequentially(code, delay=40)
    tab.locator("#approve").click()
    clicked = time.monotonic()
    signed_in = login.part("signed-in")
    expect(signed_in).to_contain_text("Signed in as", timeout=SIGN_IN_BUDGET_MS)
    elapsed = time.monotonic() - clicked
    expect(tab.locator("#result")).to_contain_text("linked")

    expect(signed_in).to_contain_text(plex.emu.username)
    assert plex.pin_with_code(code).auth_token, "the emulator should hold the approved pin's token"
    # once signed in, nothing reusable is left on screen
    expect(login.part("code")).to_be_hidden()
    expect(login.part("qr")).to_be_hidden()
    expect(login.part("cancel")).to_be_hidden()
    print(f"{frontend.kind}: 'Signed in as' {elapsed:.2f} s after Approve")
    assert page_watch.dialogs == []


def test_cancel_stops_polling_and_restart_gives_new_code(frontend, page_watch, plex):
    login = open_login(frontend, page_watch, plex)
    code = login.first_code
    pin = plex.pin_with_code(code)

    # measure the poll interval from the emulator's log (at least two polls of this pin)
    wait_until(lambda: len(plex.polls(pin.id)) >= 3, timeout=20, interval=0.1,
               message=f"3 polls of pin {pin.id}", page=login.page)
    times = [r.at for r in plex.polls(pin.id)]
    interval = max(statistics.median(b - a for a, b in zip(times, times[1:])), 0.2)

    login.part("cancel").click()
    expect(login.part("status")).to_contain_text(re.compile("cancel", re.I), timeout=10_000)
    expect(login.part("restart")).to_be_visible()
    expect(login.part("restart")).to_have_text("Get a new code")
    expect(login.part("cancel")).to_be_hidden()

    # no further poll for CANCEL_QUIET_POLLS intervals (checked continuously, fails at once)
    baseline = len(plex.polls(pin.id))
    quiet_until = time.monotonic() + CANCEL_QUIET_POLLS * interval

    def quiet_period_over() -> bool:
        count = len(plex.polls(pin.id))
        assert count == baseline, (
            f"pin {pin.id} was polled {count - baseline} more time(s) after the status showed "
            f"cancelled (poll interval {interval:.2f} s)"
        )
        return time.monotonic() >= quiet_until

    wait_until(quiet_period_over, timeout=CANCEL_QUIET_POLLS * interval + 5, interval=0.05,
               message="the post-cancel quiet period", page=login.page)
    assert len(plex.polls(pin.id)) == baseline

    # "Get a new code" starts over with a different code, and polling resumes for it
    login.part("restart").click()
    new_code = login.wait_for_code(other_than=code)
    assert new_code != code
    new_pin = plex.pin_with_code(new_code)
    assert new_pin.id != pin.id
    wait_qr_loaded(login)
    expect(login.part("restart")).to_be_hidden()
    wait_until(lambda: plex.polls(new_pin.id), timeout=10, interval=0.1,
               message=f"a poll of the new pin {new_pin.id}", page=login.page)
    assert len(plex.polls(pin.id)) == baseline, "the cancelled pin must stay unpolled"
    assert page_watch.dialogs == []


def test_hostile_username_is_shown_as_text(frontend, page_watch, plex_factory):
    plex = plex_factory(username=HOSTILE_USERNAME)
    login = open_login(frontend, page_watch, plex)
    plex.emu.claim(code=login.first_code)

    signed_in = login.part("signed-in")
    expect(signed_in).to_contain_text("Signed in as", timeout=10_000)
    expect(signed_in).to_contain_text(HOSTILE_USERNAME)  # literal text, markup and all
    assert login.root.locator("img[src='x']").count() == 0
    assert login.page.locator("img[src='x']").count() == 0
    assert page_watch.dialogs == [], f"a dialog fired: {page_watch.dialogs}"


@pytest.mark.parametrize("frontend", ["lab", "notebook"], indirect=True)
def test_saved_notebook_keeps_widget_state_but_not_the_token(frontend, page_watch, plex):
    """Voilà cannot save notebooks, so it is not part of this test."""
    login = open_login(frontend, page_watch, plex)
    code = login.first_code
    token = plex.emu.claim(code=code)
    assert token
    expect(login.part("signed-in")).to_contain_text("Signed in as", timeout=10_000)

    saved = frontend.save(login.page, login.notebook)
    text = (frontend.root / login.notebook).read_text()

    state_doc = saved.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    assert state_doc and state_doc.get("state"), "saveState is on: metadata.widgets must hold widget state"
    state_text = json.dumps(state_doc["state"])
    assert "Signed in as" in state_text, "the saved widget state must be the signed-in one"
    assert token not in text, "the Plex token leaked into the saved notebook"
    assert plex.emu.demo_token not in text
    assert plex.auth_url(code) not in text, "the finished pin's link should not be kept in saved state"
    # the token is not synced, so the browser never had it either
    assert token not in login.page.content()
    assert page_watch.dialogs == []
