"""Browser test harness: Debian Chromium driven by Playwright (sync API), plus JupyterLab 4,
Notebook 7 and Voilà servers on loopback with isolated Jupyter directories.

Design notes (see /work/shared/reference/browser-testing.md for the pitfalls behind them):

* Chromium is Debian's ``chromium`` on PATH, always passed as ``executable_path``; Playwright's own
  browser cannot be downloaded on this project's machines. Missing Chromium skips every browser test
  with one reason line, except under ``CI=true`` where it is an error.
* One server per front end per session, started lazily on first use. Every test gets its own
  notebook file and its own kernelspec whose ``env`` carries the per-test environment (emulator URL,
  client identifier, config dir): the kernel process really gets those variables, while the server
  stays shared. The server-level environment points ``PLEXPIN_BASE_URL`` at a closed loopback port,
  so a kernel started without a per-test kernelspec can never reach anything.
* JupyterLab/Notebook 7 tests start from a fresh kernel: sessions are deleted over REST (with the
  XSRF header) before and after each test. Voilà starts a kernel per page load and shuts it down on
  ``beforeunload``; the harness navigates away and then waits for the server's kernel processes to go.
* Every wait polls a condition against a deadline on the monotonic clock; nothing sleeps for a
  guessed duration.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

BROWSER_DIR = Path(__file__).resolve().parent
REPO_ROOT = BROWSER_DIR.parents[1]

CHROMIUM_MISSING = "Chromium not found; install Debian's chromium to run browser tests"

CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

FRONT_ENDS = ("lab", "notebook", "voila")

SERVER_START_TIMEOUT = 90.0  # first start on a cold 2-core CI machine can be slow
KERNEL_READY_TIMEOUT = 60.0
WIDGET_TIMEOUT_MS = 30_000

# Pointed at by the server-level environment: the discard port on loopback, so that a kernel that
# did not get a per-test kernelspec fails fast instead of talking to anything real.
UNREACHABLE_BASE_URL = "http://127.0.0.1:9"

# Polled in the page: the notebook at `path` is the current widget and its kernel is connected and
# idle. The toolbar's data-status="idle" alone shows up ~0.4 s before the kernel is really
# connected; a run-all issued in that window is silently lost.
KERNEL_READY_JS = """
(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return false;
  const w = app.shell.currentWidget;
  if (!w || !w.context || w.context.path !== path) return false;
  const k = w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!(k && k.connectionStatus === 'connected' && k.status === 'idle');
}
"""


# The classic notebook (6.5): its kernel is connected and idle.
NB6_KERNEL_READY_JS = """
() => {
  const nb = window.Jupyter && window.Jupyter.notebook;
  const k = nb && nb.kernel;
  return !!(k && k.is_connected() && !nb.kernel_busy);
}
"""

# widgetsnbextension 3's console line when a fresh kernel refuses its control comm (see
# FrontEnd._open_and_run_classic), and a comm_info request answered in order after its own.
NB6_WIDGET_LOAD_FALLBACK = 'Failed to fetch ipywidgets through the "jupyter.widget.control" comm channel'
NB6_COMM_INFO_ROUND_TRIP_JS = """
() => new Promise((resolve) => window.Jupyter.notebook.kernel.comm_info("jupyter.widget", () => resolve(true)))
"""


# --------------------------------------------------------------------------------------------
# small utilities


def is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def stop_process_group(proc: subprocess.Popen) -> None:
    """SIGTERM a server's process group, then SIGKILL it if it has not gone in 15 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition",
    page: Any = None,
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds
    (monotonic clock). Returns the truthy value.

    Pass ``page`` whenever a browser is involved: the pause between polls is then
    ``page.wait_for_timeout``, which lets Playwright's sync API dispatch events (dialogs, console)
    meanwhile. A ``time.sleep`` would hold them back, and an undismissed ``alert`` freezes the page.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {text}")
        if page is not None:
            page.wait_for_timeout(interval * 1000)
        else:
            time.sleep(interval)


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry.name))
    return kids


def _tail(path: Path, lines: int = 120) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# notebooks and QR decoding helpers (imported by the test modules)


def write_notebook(path: Path, cells: list[str], *, kernel_name: str = "python3") -> Path:
    """Write a notebook of code cells whose kernelspec is ``kernel_name`` (no kernel picker)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": kernel_name, "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def png_to_gray(data: bytes):
    """PNG bytes -> 2-D uint8 numpy array (luma), alpha composited onto white. Uses pypng, no Pillow."""
    import numpy as np
    import png

    width, height, rows, _info = png.Reader(bytes=data).asRGBA8()
    rgba = np.array([np.frombuffer(bytes(row), dtype=np.uint8) for row in rows], dtype=np.uint8)
    rgba = rgba.reshape(height, width, 4).astype(np.float32)
    alpha = rgba[..., 3:4] / 255.0
    rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
    gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.ascontiguousarray(np.clip(gray + 0.5, 0, 255).astype(np.uint8))


def decode_qr_png(data: bytes) -> list[str]:
    """Texts of all QR codes zxing-cpp finds in a PNG."""
    import zxingcpp

    results = zxingcpp.read_barcodes(png_to_gray(data))
    return [r.text for r in results if r.format == zxingcpp.BarcodeFormat.QRCode]


def approve_on_link_page(tab, base_url: str, code: str) -> None:
    """A person opens the emulator's /link page in ``tab``, types ``code`` and approves."""
    from playwright.sync_api import expect

    tab.goto(f"{base_url}/link")
    tab.locator("#code").click()
    tab.locator("#code").press_sequentially(code, delay=40)
    tab.locator("#approve").click()
    expect(tab.locator("#result")).to_contain_text("linked")


def screenshot_qr(locator, path: Path | None = None) -> list[str]:
    """Screenshot ``locator`` to PNG (saved at ``path`` if given) and decode the QR codes in it."""
    data = locator.screenshot(path=str(path) if path else None)
    return decode_qr_png(data)


# --------------------------------------------------------------------------------------------
# servers


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))


@dataclass
class JupyterDirs:
    base: Path

    @property
    def config(self) -> Path:
        return self.base / "jupyter_config"

    @property
    def data(self) -> Path:
        return self.base / "jupyter_data"

    @property
    def runtime(self) -> Path:
        return self.base / "jupyter_runtime"

    @property
    def ipython(self) -> Path:
        return self.base / "ipython"

    def create(self) -> "JupyterDirs":
        for d in (self.config, self.data, self.runtime, self.ipython):
            d.mkdir(parents=True, exist_ok=True)
        settings = self.config / "lab" / "user-settings"
        # No "get notified about Jupyter news?" toast over the screenshots.
        _write_json(
            settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
            {"fetchNews": "false", "checkForUpdates": False},
        )
        # Save widget state into the notebook on save (default false): the leak test needs it on.
        _write_json(
            settings / "@jupyter-widgets" / "jupyterlab-manager" / "plugin.jupyterlab-settings",
            {"saveState": True},
        )
        return self

    def env(self) -> dict[str, str]:
        return {
            "JUPYTER_CONFIG_DIR": str(self.config),
            "JUPYTER_DATA_DIR": str(self.data),
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
            "IPYTHONDIR": str(self.ipython),
            "JUPYTER_PLATFORM_DIRS": "1",
        }


def _server_command(kind: str, port: int, root: Path) -> list[str]:
    py = sys.executable
    common_server = [
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=False",
    ]
    if kind == "lab":
        return [py, "-m", "jupyterlab", *common_server, "--LabApp.expose_app_in_browser=True"]
    if kind == "notebook":
        # Notebook 7's switch is JupyterNotebookApp.expose_app_in_browser (notebook/app.py);
        # NotebookApp.* belongs to the classic notebook and is ignored here.
        return [py, "-m", "notebook", *common_server, "--JupyterNotebookApp.expose_app_in_browser=True"]
    if kind == "nb6":
        # Classic Notebook 6.5 (only in dev.py's .venv-nb6): its own NotebookApp options.
        return [
            py, "-m", "notebook", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
            "--NotebookApp.port_retries=0", "--NotebookApp.token=", "--NotebookApp.password=",
            f"--NotebookApp.notebook_dir={root}", "--NotebookApp.open_browser=False",
        ]
    if kind == "voila":
        # Directory mode so that each test can render its own notebook from one server:
        # /voila/render/<name>.ipynb. (Single-notebook mode would fix the notebook at startup.)
        return [
            py,
            "-m",
            "voila",
            str(root),
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            "--Voila.port_retries=0",
            "--show_tracebacks=True",
        ]
    raise ValueError(kind)


@dataclass
class FrontEnd:
    """One running server (JupyterLab 4, Notebook 7 or Voilà) and what tests do with it."""

    kind: str
    base: Path
    root: Path
    dirs: JupyterDirs
    port: int = 0
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    started_at: float = 0.0
    start_seconds: float = 0.0
    _kernel_names: list[str] = field(default_factory=list)

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: dict[str, str]) -> "FrontEnd":
        full_env = dict(os.environ)
        full_env.update(self.dirs.env())
        full_env.update(env)
        full_env["PYTHONDONTWRITEBYTECODE"] = "1"
        last_error = ""
        for attempt in range(3):
            self.port = free_port()
            self.log_path = self.base / f"{self.kind}-{attempt}.log"
            cmd = _server_command(self.kind, self.port, self.root)
            t0 = time.monotonic()
            with open(self.log_path, "wb") as log:
                log.write(("$ " + " ".join(cmd) + "\n").encode())
                log.flush()
                self.proc = subprocess.Popen(
                    cmd,
                    cwd=self.root,
                    env=full_env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: kernels are stopped with it
                )
            try:
                wait_until(
                    self._ready_or_dead,
                    timeout=SERVER_START_TIMEOUT,
                    interval=0.1,
                    message=f"{self.kind} server on port {self.port}",
                )
            except TimeoutError as exc:
                self.stop()
                raise RuntimeError(f"{exc}\n--- {self.log_path} ---\n{_tail(self.log_path)}") from None
            if self.proc.poll() is None:
                self.started_at = time.monotonic()
                self.start_seconds = self.started_at - t0
                return self
            # exited: most likely the port was taken between free_port() and bind; try another
            last_error = _tail(self.log_path)
            self.proc = None
        raise RuntimeError(f"{self.kind} server did not start (3 attempts); last log:\n{last_error}")

    def _ready_or_dead(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            return True  # caller checks poll() to tell the two apart
        # The log line comes after the bind, so a foreign process that grabbed the port in the
        # free_port() race cannot pass for our server.
        if "is running at" not in _tail(self.log_path, 400):
            return False
        if self.kind == "voila":
            # GET / would render a notebook and start a kernel: probe the TCP port only.
            return port_open(self.port)
        import httpx

        try:
            return httpx.get(self.url + "/api/status", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        stop_process_group(proc)
        # kernels are in the same process group; make sure none survives the server
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 150) -> str:
        return _tail(self.log_path, lines) if self.log_path else "<no log>"

    # ---- kernels ---------------------------------------------------------------------------

    def install_kernelspec(self, env: dict[str, str], name: str | None = None) -> str:
        """A kernelspec in this server's isolated data dir whose kernel gets ``env``."""
        name = name or f"plexpin-test-{uuid.uuid4().hex[:10]}"
        spec_dir = self.dirs.data / "kernels" / name
        _write_json(
            spec_dir / "kernel.json",
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": f"Python 3 ({name})",
                "language": "python",
                "env": dict(env),
                "metadata": {"debugger": False},
            },
        )
        self._kernel_names.append(name)
        return name

    def remove_kernelspecs(self) -> None:
        while self._kernel_names:
            shutil.rmtree(self.dirs.data / "kernels" / self._kernel_names.pop(), ignore_errors=True)

    def kernel_pids(self) -> list[int]:
        return _children(self.proc.pid) if self.proc else []

    def _http(self):
        """An httpx client holding the _xsrf cookie (non-GET calls need the header even with no token)."""
        import httpx

        client = httpx.Client(base_url=self.url, timeout=10.0)
        client.get("/lab" if self.kind == "lab" else "/tree")
        return client

    def delete_sessions(self) -> None:
        if self.kind == "voila":
            return
        client = self._http()
        try:
            headers = {"X-XSRFToken": client.cookies.get("_xsrf", "")}
            for s in client.get("/api/sessions").json():
                r = client.delete(f"/api/sessions/{s['id']}", headers=headers)
                assert r.status_code in (204, 404), f"DELETE session: {r.status_code} {r.text}"
            for k in client.get("/api/kernels").json():
                client.delete(f"/api/kernels/{k['id']}", headers=headers)
        finally:
            client.close()

    def wait_kernels_gone(self, timeout: float = 20.0) -> None:
        wait_until(
            lambda: not self.kernel_pids(),
            timeout=timeout,
            interval=0.1,
            message=lambda: f"{self.kind} kernels to exit (pids {self.kernel_pids()})",
        )

    # ---- pages -----------------------------------------------------------------------------

    def notebook_url(self, name: str) -> str:
        if self.kind == "lab":
            return f"{self.url}/lab/tree/{name}?reset"  # ?reset: no restored tabs
        if self.kind in ("notebook", "nb6"):
            return f"{self.url}/notebooks/{name}"
        return f"{self.url}/voila/render/{name}"

    def scope(self) -> str:
        """CSS prefix for the visible notebook's content."""
        if self.kind == "lab":
            return ".jp-NotebookPanel:not(.lm-mod-hidden) "
        if self.kind == "notebook":
            return ".jp-NotebookPanel "
        return ""

    def locator(self, page, css: str):
        return page.locator(self.scope() + css)

    def open_and_run(self, page, name: str) -> None:
        """Open notebook ``name`` (relative to the server root) with a fresh kernel and run it all.
        Voilà runs the notebook itself while the page loads."""
        if self.kind == "voila":
            # Voilà's render page does not set the _xsrf cookie, so its beforeunload kernel
            # shutdown (a sendBeacon POST) is refused with 403 and the kernel lives on. Arriving
            # from the tree page, as a person in directory mode does, sets the cookie.
            page.request.get(self.url + "/voila/tree")
            page.goto(self.notebook_url(name), wait_until="domcontentloaded", timeout=60_000)
            return
        self.delete_sessions()
        if self.kind == "nb6":
            self._open_and_run_classic(page, name)
            return
        page.goto(self.notebook_url(name), wait_until="domcontentloaded", timeout=60_000)
        self.wait_kernel_ready(page, name)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def _open_and_run_classic(self, page, name: str) -> None:
        """Classic Notebook: open ``name``, wait until its widget manager has loaded the kernel's
        widgets, then run it all.

        widgetsnbextension 3 ends that first load by re-rendering every output showing a widget,
        and a view re-rendered so is lost for good (its removal blanks the output's model id): a
        Run All before the load ends leaves an empty output where the login was. With a fresh
        kernel (ipywidgets not yet imported) the load asks the kernel's control comm, is refused,
        says so on the console and falls back to a comm_info request; a comm_info of our own,
        sent after that, is answered after it, by which time the load's last step has run.
        """
        lines: list[str] = []

        def on_console(message) -> None:
            lines.append(message.text)

        page.on("console", on_console)
        try:
            page.goto(self.notebook_url(name), wait_until="domcontentloaded", timeout=60_000)
            wait_until(
                lambda: page.evaluate(NB6_KERNEL_READY_JS), timeout=KERNEL_READY_TIMEOUT, interval=0.1,
                message=f"classic notebook: kernel of {name} connected+idle", page=page,
            )
            wait_until(lambda: any(NB6_WIDGET_LOAD_FALLBACK in line for line in lines), timeout=30, interval=0.05,
                       message="the widget manager's first load of the kernel's widgets (its fallback)", page=page)
        finally:
            page.remove_listener("console", on_console)
        page.evaluate(NB6_COMM_INFO_ROUND_TRIP_JS)
        page.evaluate("() => window.Jupyter.notebook.execute_all_cells()")

    def wait_kernel_ready(self, page, path: str, timeout: float = KERNEL_READY_TIMEOUT) -> None:
        dialog = page.locator(".jp-Dialog")

        def ready() -> bool:
            if dialog.count() and dialog.first.is_visible():
                raise AssertionError(f"unexpected dialog in {self.kind}: {dialog.first.inner_text()!r}")
            return bool(page.evaluate(KERNEL_READY_JS, path))

        wait_until(ready, timeout=timeout, interval=0.1, message=f"{self.kind}: kernel of {path} connected+idle", page=page)

    def save(self, page, name: str, timeout: float = 20.0) -> dict:
        """Save the notebook from the browser (docmanager:save) and return it as read from disk
        once the file on disk has changed."""
        assert self.kind in ("lab", "notebook"), "only JupyterLab and Notebook 7 can save"
        path = self.root / name
        before = path.stat().st_mtime_ns
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")

        def saved():
            if path.stat().st_mtime_ns == before:
                return None
            try:
                return json.loads(path.read_text())
            except ValueError:
                return None  # caught mid-write

        return wait_until(saved, timeout=timeout, interval=0.1, message=f"{name} to be saved to disk", page=page)

    def leave_page(self, page) -> None:
        """Navigate away (fires beforeunload: Voilà shuts its kernel down via sendBeacon)."""
        with contextlib.suppress(Exception):
            page.goto("about:blank", timeout=10_000)

    def cleanup(self) -> None:
        """After a test: no kernel of this server may live on (a leftover kernel would keep
        polling and skew the next test). Lab/Notebook: delete the sessions. Voilà: its page
        already asked for the shutdown on beforeunload; if a kernel still lingers, say so with a
        warning and stop it."""
        if self.kind != "voila":
            self.delete_sessions()
        try:
            self.wait_kernels_gone(timeout=15.0)
        except TimeoutError as exc:
            warnings.warn(f"{exc}; stopping them", RuntimeWarning, stacklevel=1)
            for pid in self.kernel_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            self.wait_kernels_gone(timeout=15.0)


class ServerPool:
    """Starts each front end's server on first use; stops all at session end."""

    def __init__(self, base: Path, env: dict[str, str]):
        self.base = base
        self.env = env
        self.servers: dict[str, FrontEnd] = {}
        self.failures: dict[str, str] = {}

    def get(self, kind: str) -> FrontEnd:
        if kind in self.failures:
            pytest.fail(f"{kind} server failed to start earlier in this session:\n{self.failures[kind]}", pytrace=False)
        if kind not in self.servers:
            base = self.base / kind
            root = base / "notebooks"
            root.mkdir(parents=True, exist_ok=True)
            fe = FrontEnd(kind=kind, base=base, root=root, dirs=JupyterDirs(base / "dirs").create())
            try:
                fe.start(self.env)
            except Exception as exc:  # noqa: BLE001 - reported as a test failure with the log
                self.failures[kind] = str(exc)
                pytest.fail(f"{kind} server failed to start:\n{exc}", pytrace=False)
            self.servers[kind] = fe
        return self.servers[kind]

    def stop_all(self) -> None:
        for fe in self.servers.values():
            fe.stop()


# --------------------------------------------------------------------------------------------
# pytest wiring

_FRONTEND_KEY = pytest.StashKey["FrontEnd"]()
_WATCHES_KEY = pytest.StashKey[list]()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if BROWSER_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when not in ("setup", "call") or not report.failed:
        return
    fe = item.stash.get(_FRONTEND_KEY, None)
    if fe is not None:
        report.sections.append((f"{fe.kind} server log (tail of {fe.log_path})", fe.log_tail()))
    for watch in item.stash.get(_WATCHES_KEY, []):
        if watch.console:
            report.sections.append(("browser console", "\n".join(watch.console[-80:])))


def _require_chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if is_ci():
            pytest.fail(
                f"{CHROMIUM_MISSING} (CI=true: browser tests must run in CI; "
                "`.ci/run` installs it with apt-get)",
                pytrace=False,
            )
        # Raised here (a hook), not in a fixture: pytest then reports the skip at this line for
        # every test, so `-ra` folds them into ONE line. Fixture skips are reported per test.
        pytest.skip(CHROMIUM_MISSING)
    return path


def pytest_runtest_setup(item):
    _require_chromium()


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    return _require_chromium()


# Package scope, not session: while sync_playwright() is open, the main thread counts as running
# an asyncio loop, and every pytest-asyncio test collected after tests/browser fails with
# "Runner.run() cannot be called from a running event loop". Leaving the package closes it.
@pytest.fixture(scope="package")
def playwright_sync(chromium_executable):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright_sync, chromium_executable):
    b = playwright_sync.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


@dataclass
class PageWatch:
    """A page plus what it reported: JS dialogs (dismissed and counted) and console lines."""

    page: Any
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def attach(self) -> "PageWatch":
        def on_dialog(dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            with contextlib.suppress(Exception):
                dialog.dismiss()

        self.page.on("dialog", on_dialog)
        self.page.on("console", lambda m: self.console.append(f"[{m.type}] {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"[pageerror] {e}"))
        return self


@pytest.fixture
def browser_context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    ctx.set_default_timeout(WIDGET_TIMEOUT_MS)
    yield ctx
    # Navigate away first so that beforeunload handlers run (Voilà shuts its kernel down there);
    # closing the context alone does not fire them.
    for pg in list(ctx.pages):
        with contextlib.suppress(Exception):
            pg.goto("about:blank", timeout=10_000)
    ctx.close()


@pytest.fixture
def new_page(browser_context, request) -> Callable[[], PageWatch]:
    """Factory: open another tab in this test's browser context, watched for dialogs/console."""
    watches = request.node.stash.setdefault(_WATCHES_KEY, [])

    def make() -> PageWatch:
        watch = PageWatch(browser_context.new_page()).attach()
        watches.append(watch)
        return watch

    return make


@pytest.fixture
def page_watch(new_page) -> PageWatch:
    return new_page()


@pytest.fixture(scope="package")
def jupyter_server_env(tmp_path_factory) -> dict[str, str]:
    """Environment every server (and so every kernel) inherits. Test modules may override this
    fixture; per-test values belong in a kernelspec (``FrontEnd.install_kernelspec``)."""
    return {
        "PLEXPIN_BASE_URL": UNREACHABLE_BASE_URL,
        "PLEXPIN_CONFIG_DIR": str(tmp_path_factory.mktemp("plexpin-config")),
    }


@pytest.fixture(scope="package")
def server_pool(tmp_path_factory, jupyter_server_env, chromium_executable) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory.mktemp("servers"), jupyter_server_env)
    yield pool
    pool.stop_all()


@pytest.fixture(params=FRONT_ENDS)
def frontend(request, server_pool) -> Iterator[FrontEnd]:
    """The front end under test (parametrized: lab, notebook, voila; narrow it with
    ``@pytest.mark.parametrize("frontend", [...], indirect=True)``). Kernels are gone after the test."""
    fe = server_pool.get(request.param)
    request.node.stash[_FRONTEND_KEY] = fe
    if fe.kind != "voila":
        fe.delete_sessions()
    yield fe
    # leave the pages first (Voilà shuts its kernel down on beforeunload), then make sure no
    # kernel outlives the test
    for watch in request.node.stash.get(_WATCHES_KEY, []):
        fe.leave_page(watch.page)
    try:
        fe.cleanup()
    finally:
        fe.remove_kernelspecs()
