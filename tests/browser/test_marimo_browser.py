"""PlexPinLogin in marimo, in Debian's Chromium via Playwright: ``marimo run`` serves
notebooks/marimo_quickstart.py (the two documented lines, then ``await login.wait_async()``) on
loopback against the plex.tv emulator, and ``marimo edit`` shows that running the login cell
again stops the old login.

Every request the page makes must stay on loopback (anything else is aborted and fails the
test), so marimo must render with no CDN; every WebSocket frame is kept to show that the token
never reaches the page.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
from playwright.sync_api import expect

from .conftest import (
    REPO_ROOT, PageWatch, _tail, approve_on_link_page, decode_qr_png, free_port, port_open, stop_process_group,
    wait_until,
)

pytest.importorskip("marimo", reason="marimo is in the browser extra")

QUICKSTART = REPO_ROOT / "notebooks" / "marimo_quickstart.py"
HOSTILE_USERNAME = "<img src=x onerror=alert(1)>"
README_SCREENSHOT = REPO_ROOT / "docs" / "marimo.png"
SERVER_START_TIMEOUT = 60.0
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@dataclass
class MarimoServer:
    """One ``marimo run`` or ``marimo edit`` process on loopback."""

    mode: str
    notebook: Path
    env: dict[str, str]
    log_path: Path
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MarimoServer":
        self.port = free_port()
        cmd = [sys.executable, "-m", "marimo", self.mode, str(self.notebook), "--headless", "--no-token",
               "--host", "127.0.0.1", "--port", str(self.port)]
        if self.mode == "edit":
            cmd.append("--skip-update-check")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.notebook.parent, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"marimo {self.mode} exited:\n{_tail(self.log_path)}")
            return port_open(self.port)

        wait_until(ready, timeout=SERVER_START_TIMEOUT, interval=0.1, message=f"marimo {self.mode} on {self.port}")
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        stop_process_group(proc)


@dataclass
class Plex:
    emu: Any
    server: Any
    client_id: str

    @property
    def url(self) -> str:
        return self.server.url.rstrip("/")

    def auth_url(self, code: str) -> str:
        return f"{self.url}/link/?pin={code}"

    def pin(self, code: str) -> Any:
        def find() -> Any:
            return next((p for p in self.emu.pins.values() if p.code == code), None)

        return wait_until(find, timeout=5, message=f"the emulator's pin for {code!r}")

    def polls(self, pin_id: int) -> int:
        path = f"/api/v2/pins/{pin_id}"
        return sum(1 for r in self.emu.request_log(self.client_id)
                   if r.method == "GET" and r.path.split("?", 1)[0].rstrip("/") == path)


def marimo_env(base: Path, plex: Plex) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PLEX_TOKEN", None)
    home = base / "home"
    config = home / ".config"
    (config / "marimo").mkdir(parents=True, exist_ok=True)
    # marimo edit runs nothing until asked, by default; run the notebook on open, as `marimo run` does.
    (config / "marimo" / "marimo.toml").write_text("[runtime]\nauto_instantiate = true\n")
    env.update(
        PLEXPIN_BASE_URL=plex.url,
        PLEXPIN_CLIENT_IDENTIFIER=plex.client_id,
        PLEXPIN_CONFIG_DIR=str(base / "plexpin"),
        PLEXPIN_KEYRING="0",
        HOME=str(home),
        XDG_CONFIG_HOME=str(config),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".state"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


@pytest.fixture(scope="module")
def plex() -> Iterator[Plex]:
    from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator

    emu = PlexTvEmulator(username="marimo-tester")
    server = EmulatorServer(emu, host="127.0.0.1", port=0).start()
    yield Plex(emu, server, f"marimo-browser-{uuid.uuid4().hex[:10]}")
    server.stop()


@pytest.fixture(scope="module")
def marimo_run(plex: Plex, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MarimoServer]:
    base = tmp_path_factory.mktemp("marimo-run")
    server = MarimoServer("run", QUICKSTART, marimo_env(base, plex), base / "marimo-run.log").start()
    yield server
    server.stop()


@dataclass
class Traffic:
    """What the page sent and received: off-loopback requests (aborted) and WebSocket frames."""

    external: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.frames)


@pytest.fixture
def traffic(browser_context: Any, page_watch: PageWatch) -> Traffic:
    seen = Traffic()

    def route(r: Any) -> None:
        host = urllib.parse.urlsplit(r.request.url).hostname or ""
        if r.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            r.continue_()
        else:
            seen.external.append(r.request.url)
            r.abort()

    browser_context.route("**/*", route)

    def on_socket(ws: Any) -> None:
        keep = lambda payload: seen.frames.append(payload if isinstance(payload, str) else repr(payload))  # noqa: E731
        ws.on("framereceived", keep)
        ws.on("framesent", keep)

    page_watch.page.on("websocket", on_socket)
    browser_context.on("page", lambda page: page.on("websocket", on_socket))
    return seen


@dataclass
class MarimoLogin:
    watch: PageWatch
    root: Any

    @property
    def page(self) -> Any:
        return self.watch.page

    def part(self, name: str) -> Any:
        return self.root.locator(f".plexpin-{name}")

    def code(self) -> str:
        loc = self.part("code")
        return loc.inner_text().strip() if loc.count() and loc.is_visible() else ""

    def wait_for_code(self, other_than: str = "", timeout: float = 60) -> str:
        return wait_until(lambda: (c if (c := self.code()) and c != other_than else ""), timeout=timeout,
                          interval=0.1, message=f"a code other than {other_than!r}", page=self.page)


def open_login(server: MarimoServer, watch: PageWatch) -> MarimoLogin:
    watch.page.goto(server.url, wait_until="domcontentloaded", timeout=60_000)
    root = watch.page.locator(".plexpin-login")
    expect(root).to_have_count(1, timeout=60_000)
    login = MarimoLogin(watch, root)
    login.wait_for_code()
    return login


def qr_in_page(login: MarimoLogin) -> list[str]:
    qr = login.part("qr")
    expect(qr).to_be_visible()
    login.page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    return decode_qr_png(login.root.screenshot())


def assert_clean(watch: PageWatch, traffic: Traffic, *secrets: str) -> None:
    assert traffic.external == [], f"requests left loopback: {traffic.external}"
    assert watch.dialogs == [], f"a dialog fired: {watch.dialogs}"
    assert traffic.frames, "no WebSocket frame was seen; the check below would prove nothing"
    for secret in secrets:
        assert secret not in traffic.text(), "the token reached the page"
    assert not any("not supported in marimo" in line for line in watch.console)


# --------------------------------------------------------------------------------------------


def test_marimo_run_shows_the_live_login_and_signs_in(marimo_run, plex, page_watch, new_page, traffic):
    login = open_login(marimo_run, page_watch)
    code = login.code()
    assert re.fullmatch(r"[A-Z0-9]{4}", code)
    assert plex.pin(code).auth_token is None
    assert qr_in_page(login) == [plex.auth_url(code)]
    if os.environ.get("PLEXPIN_UPDATE_SCREENSHOT") == "1":  # the README's picture, on request only
        login.root.screenshot(path=str(README_SCREENSHOT))
        assert decode_qr_png(README_SCREENSHOT.read_bytes()) == [plex.auth_url(code)]
    link = login.part("link")
    expect(link).to_have_attribute("href", plex.auth_url(code))
    expect(link).to_have_attribute("target", "_blank")
    expect(login.part("cancel")).to_be_visible()
    expect(login.part("restart")).to_be_hidden()
    expect(login.part("busy")).to_be_hidden()  # no cell waits: the buttons answer
    # An app served to many viewers shares one config folder: no "Remember me" there.
    expect(login.part("remember")).to_be_hidden()
    # The page does not show "Jupyter widgets are not supported": marimo got an anywidget.
    expect(page_watch.page.get_by_text("Jupyter widgets are not supported")).to_have_count(0)

    # The countdown moves on its own, between cells (no cell runs now): the words and the bar.
    expect(login.part("progress")).to_be_visible()  # drawn, with a height (a bare <progress> got none)
    fill = login.part("progress-fill")
    status = login.part("status")
    before = (status.inner_text(), fill.get_attribute("style"))
    wait_until(lambda: status.inner_text() != before[0] and fill.get_attribute("style") != before[1],
               timeout=5, interval=0.1, message=f"the countdown to move from {before!r}", page=login.page)

    approve_on_link_page(new_page().page, plex.url, code)
    signed_in = login.part("signed-in")
    expect(signed_in).to_contain_text("Signed in as", timeout=10_000)
    expect(signed_in).to_contain_text(plex.emu.username)
    expect(login.part("code")).to_be_hidden()
    expect(login.part("qr")).to_be_hidden()
    expect(login.part("signout")).to_be_visible()
    token = plex.pin(code).auth_token
    assert token
    # The cell that reads the token through mo.state ran again, on its own.
    expect(page_watch.page.get_by_text(f"Signed in to Plex as {plex.emu.username}.")).to_be_visible(timeout=10_000)
    assert_clean(page_watch, traffic, token)


def test_cancel_and_get_a_new_code_from_the_page(marimo_run, plex, page_watch, traffic):
    login = open_login(marimo_run, page_watch)
    code = login.code()
    pin = plex.pin(code)
    wait_until(lambda: plex.polls(pin.id) >= 2, timeout=20, interval=0.1, message="2 polls", page=login.page)

    login.part("cancel").click()
    expect(login.part("status")).to_have_text("Sign-in cancelled.", timeout=10_000)
    expect(login.part("cancel")).to_be_hidden()
    baseline = plex.polls(pin.id)

    login.part("restart").click()
    new_code = login.wait_for_code(other_than=code)
    new_pin = plex.pin(new_code)
    assert new_pin.id != pin.id
    assert qr_in_page(login) == [plex.auth_url(new_code)]
    wait_until(lambda: plex.polls(new_pin.id) >= 2, timeout=20, interval=0.1,
               message="2 polls of the new pin", page=login.page)
    assert plex.polls(pin.id) == baseline, "the cancelled pin was polled again"
    assert_clean(page_watch, traffic)


def test_a_hostile_username_stays_inert_text(marimo_run, plex, page_watch, traffic):
    hostile_token = plex.emu.add_account(username=HOSTILE_USERNAME)
    login = open_login(marimo_run, page_watch)
    plex.emu.claim(code=login.code(), token=hostile_token)
    signed_in = login.part("signed-in")
    expect(signed_in).to_contain_text("Signed in as", timeout=10_000)
    expect(login.part("user")).to_have_text(HOSTILE_USERNAME)  # literal text, markup and all
    # The quickstart's next cell shows the name too, as text.
    expect(page_watch.page.get_by_text(f"Signed in to Plex as {HOSTILE_USERNAME}.")).to_be_visible(timeout=10_000)
    assert login.root.locator("img[src='x']").count() == 0
    assert page_watch.page.locator("img[src='x']").count() == 0
    assert_clean(page_watch, traffic, hostile_token)


QUIET_POLLS = 3  # the new login must be polled this often while the old one stays silent


def test_marimo_edit_running_the_cell_again_stops_the_old_login(plex, page_watch, traffic, tmp_path):
    notebook = tmp_path / "marimo_quickstart.py"
    notebook.write_text(QUICKSTART.read_text())  # marimo edit may save; never the repository's file
    server = MarimoServer("edit", notebook, marimo_env(tmp_path, plex), tmp_path / "marimo-edit.log").start()
    try:
        login = open_login(server, page_watch)
        old_code = login.code()
        old_pin = plex.pin(old_code)
        expect(login.part("remember")).to_be_visible()  # a personal notebook may remember
        wait_until(lambda: plex.polls(old_pin.id) >= 2, timeout=20, interval=0.1,
                   message="2 polls of the first pin", page=login.page)

        cell = page_watch.page.locator("[data-cell-id]").filter(has_text="PlexPinLogin(product")
        expect(cell).to_have_count(1)
        cell.hover()
        cell.locator("[data-testid='run-button']:not([disabled])").first.click()

        new_code = login.wait_for_code(other_than=old_code)
        new_pin = plex.pin(new_code)
        assert new_pin.id != old_pin.id
        wait_until(lambda: plex.polls(new_pin.id) >= 1, timeout=20, interval=0.1,
                   message="a poll of the new pin", page=login.page)
        baseline = plex.polls(old_pin.id)
        target = plex.polls(new_pin.id) + QUIET_POLLS

        def new_polled_old_quiet() -> bool:
            assert plex.polls(old_pin.id) == baseline, "the replaced login is still polling"
            return plex.polls(new_pin.id) >= target

        wait_until(new_polled_old_quiet, timeout=30, interval=0.05,
                   message=f"{QUIET_POLLS} more polls of the new pin", page=login.page)
        expect(page_watch.page.locator(".plexpin-login")).to_have_count(1)
        assert qr_in_page(login) == [plex.auth_url(new_code)]
        assert_clean(page_watch, traffic)
    finally:
        server.stop()


WAITING_APP = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo

    from plexpin_widget import PlexPinLogin

    login = PlexPinLogin(product="Waiting cell")
    login
    return login, mo


@app.cell
def _(login, mo):
    token = login.{wait}(timeout=120)
    mo.plain_text(f"WAITED {login.status} {len(token) > 0}")
    return
'''


@pytest.mark.parametrize("wait", ["wait", "await login.wait_async"])
def test_a_cell_that_waits_keeps_the_view_live_and_gets_the_token(plex, page_watch, new_page, traffic, tmp_path, wait):
    notebook = tmp_path / "waiting_app.py"
    call = "wait" if wait == "wait" else "wait_async"
    source = WAITING_APP.replace("{wait}", call)
    if wait != "wait":
        source = source.replace("def _(login, mo):\n    token = login.", "async def _(login, mo):\n    token = await login.")
    notebook.write_text(source)
    server = MarimoServer("run", notebook, marimo_env(tmp_path, plex), tmp_path / "marimo-wait.log").start()
    try:
        login = open_login(server, page_watch)
        status = login.part("status")
        before = status.inner_text()
        wait_until(lambda: status.inner_text() != before, timeout=5, interval=0.1,
                   message="the countdown to move while a cell waits", page=login.page)
        # The buttons say why they will not answer until the waiting cell ends.
        expect(login.part("busy")).to_contain_text("marimo handles clicks only between cells")
        code = login.code()
        approve_on_link_page(new_page().page, plex.url, code)
        expect(login.part("signed-in")).to_contain_text("Signed in as", timeout=10_000)
        expect(page_watch.page.get_by_text("WAITED authorized True").first).to_be_visible(timeout=10_000)
        expect(login.part("busy")).to_be_hidden()
        assert_clean(page_watch, traffic, plex.pin(code).auth_token)
    finally:
        server.stop()
