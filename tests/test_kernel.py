"""The widget in a real ipykernel: cells return at once, updates flow between and during cells.

One kernel for the module (``ipykernel_launcher`` run by this interpreter), talking to an
emulator served on loopback from this process (``PLEXPIN_BASE_URL``). What a front end would
see is followed through the IOPub ``comm_open``/``comm_msg`` messages (see ``kernel_helpers``).
IOPub is one ordered stream, so "this update came before the cell's ``idle``" is a structural
fact, not a timing guess. Cells never print the token; they print comparisons.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel_helpers import KernelSession
from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]

POLL = 0.2
PIN_DELAY = 2.0


@pytest.fixture(scope="module")
def emu() -> PlexTvEmulator:
    return PlexTvEmulator()


@pytest.fixture(scope="module")
def server(emu: PlexTvEmulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emu, host="127.0.0.1", port=0) as running:
        yield running


@pytest.fixture(scope="module")
def kernel(server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelSession]:
    work: Path = tmp_path_factory.mktemp("kernel")
    env = {
        "PLEXPIN_BASE_URL": server.url,
        "PLEXPIN_CONFIG_DIR": str(work / "config"),
        "PLEXPIN_KEYRING": "0",
        "PLEX_TOKEN": "",
    }
    session = KernelSession(work, env)
    try:
        warm = session.execute(
            "import asyncio, hashlib, sys, threading\n"
            "from IPython.display import display\n"
            "from plexpin_widget import PlexPinLogin\n"
            "def part_of(widget, css):\n"
            "    todo = [widget]\n"
            "    while todo:\n"
            "        w = todo.pop()\n"
            "        if css in getattr(w, '_dom_classes', ()):\n"
            "            return w\n"
            "        todo.extend(getattr(w, 'children', ()))\n"
            "print(sys.executable)"
        )
        assert warm.stdout.strip() == sys.executable, "the kernel runs this venv's interpreter"
        yield session
    finally:
        session.shutdown()


@pytest.fixture(scope="module")
def kernel_major(kernel: KernelSession) -> int:
    """The kernel's ipykernel major version (6 in dev.py's step 3 venv, 7 in the main venv)."""
    return int(kernel.execute("import ipykernel\nprint(ipykernel.version_info[0])").stdout.strip())


@pytest.fixture
def subshells(kernel_major: int) -> None:
    if kernel_major < 7:
        pytest.skip("kernel subshells (JEP 91) exist from ipykernel 7 on; this kernel is ipykernel 6")


@pytest.fixture(autouse=True)
def _clean_emulator(emu: PlexTvEmulator) -> None:
    emu.faults.clear()
    emu.auto_claim(None)


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_login(kernel: KernelSession, name: str) -> str:
    """Build and display a login called ``name`` in the kernel; returns its model id."""
    cell = kernel.execute(f"{name} = PlexPinLogin(product='Kernel test', poll_interval={POLL})\ndisplay({name})")
    (model_id,) = cell.widget_model_ids
    return model_id


def close_login(kernel: KernelSession, name: str) -> None:
    cell = kernel.execute(
        f"{name}.close()\n"
        "await asyncio.sleep(0.1)\n"
        "print(sum(t.get_name() == 'plexpin_widget poller' and not t.done() for t in asyncio.all_tasks()))"
    )
    assert cell.stdout.strip() == "0", "no poll task is left after close()"


def assert_token_never_sent(kernel: KernelSession, token: str) -> None:
    assert token not in json.dumps(kernel.iopub, default=str), "the token reached IOPub"


# --------------------------------------------------------------------------- the tests


def test_display_cell_returns_before_the_pin_is_answered(kernel: KernelSession, emu: PlexTvEmulator) -> None:
    emu.faults.add("latency", method="POST", path_prefix="/api/v2/pins", delay=PIN_DELAY)
    posts_before = len([r for r in emu.request_log() if r.method == "POST"])
    started = time.monotonic()
    msg_id = kernel.submit(f"login_a = PlexPinLogin(product='Kernel test', poll_interval={POLL})\ndisplay(login_a)")
    reply = kernel.wait_reply(msg_id)
    replied = time.monotonic()
    posts = [r for r in emu.request_log() if r.method == "POST"][posts_before:]
    # The pin request had not been answered: either it had not arrived, or its answer was still
    # being held back by the latency fault.
    assert not posts or replied < posts[0].at + PIN_DELAY
    cell = kernel.finish(msg_id, reply, replied - started)
    (model_id,) = cell.widget_model_ids
    assert kernel.models[model_id]["status"] == "requesting" and kernel.models[model_id]["code"] == ""
    kernel.wait_model(model_id, lambda s: s.get("status") == "waiting" and s.get("code"), timeout=10)
    # IOPub is ordered: the cell's idle came before the update made from the pin's answer.
    assert kernel.idle_index(msg_id) < kernel.update_index(model_id, "status", "waiting")
    print(f"\ndisplay cell: execute_reply after {cell.reply_after * 1000:.0f} ms (pin answer held {PIN_DELAY} s)")
    close_login(kernel, "login_a")


def test_status_code_and_countdown_change_between_cells(kernel: KernelSession) -> None:
    model_id = new_login(kernel, "login_b")
    # No cell is running from here on.
    kernel.wait_model(model_id, lambda s: s.get("status") == "waiting" and len(s.get("code", "")) == 4, timeout=10)
    first = kernel.models[model_id]["seconds_left"]
    assert first > 0
    kernel.wait_model(model_id, lambda s: 0 < s.get("seconds_left", 0) < first, timeout=5)
    # Showing it again (a second output) adds a view, not a poller.
    again = kernel.execute(
        "display(login_b)\n"
        "print(sum(t.get_name() == 'plexpin_widget poller' and not t.done() for t in asyncio.all_tasks()))"
    )
    assert again.widget_model_ids == [model_id] and again.stdout.strip() == "1"
    close_login(kernel, "login_b")


def test_token_observer_fires_after_approval(kernel: KernelSession, emu: PlexTvEmulator) -> None:
    model_id = new_login(kernel, "login_c")
    kernel.execute(
        "seen_c = []\n"
        "login_c.observe(lambda change: seen_c.append("
        "(change['new'], threading.current_thread() is threading.main_thread())), names='token')"
    )
    kernel.wait_model(model_id, lambda s: s.get("status") == "waiting", timeout=10)
    token = emu.claim(code=kernel.models[model_id]["code"])
    kernel.wait_model(model_id, lambda s: s.get("status") == "authorized", timeout=10)
    check = kernel.execute(
        f"print(len(seen_c), hashlib.sha256(seen_c[0][0].encode()).hexdigest() == {sha(token)!r}, seen_c[0][1])"
    )
    assert check.stdout.split() == ["1", "True", "True"], "fired once, with the token, on the kernel's thread"
    assert kernel.models[model_id]["code"] == "" and "token" not in kernel.models[model_id]
    assert_token_never_sent(kernel, token)
    close_login(kernel, "login_c")


def test_blocking_wait_in_a_cell_returns_and_updates_stream(kernel: KernelSession, emu: PlexTvEmulator) -> None:
    token = emu.add_account(username="kernel-d")
    model_id = new_login(kernel, "login_d")
    kernel.wait_model(model_id, lambda s: s.get("status") == "waiting", timeout=10)
    code = kernel.models[model_id]["code"]
    msg_id = kernel.submit(
        "print('entering wait', flush=True)\n"
        f"print('match', hashlib.sha256(login_d.wait(timeout=30).encode()).hexdigest() == {sha(token)!r})"
    )
    kernel.read_until(
        lambda m: m["msg_type"] == "stream"
        and m["parent_header"].get("msg_id") == msg_id
        and "entering wait" in m["content"]["text"],
        timeout=10,
    )
    # The cell is inside wait() now (nothing between the print and the call yields to the loop).
    emu.claim(code=code, token=token)
    kernel.wait_model(model_id, lambda s: s.get("status") == "authorized", timeout=10)
    cell = kernel.finish(msg_id, kernel.wait_reply(msg_id), 0.0)
    assert kernel.update_index(model_id, "status", "authorized") < kernel.idle_index(msg_id), (
        "the status update arrived while the cell was still running"
    )
    assert "match True" in cell.stdout
    assert_token_never_sent(kernel, token)
    close_login(kernel, "login_d")



@pytest.mark.usefixtures("subshells")
def test_a_click_on_a_subshell_thread_ends_a_blocking_wait(kernel: KernelSession) -> None:
    """With subshells a callback can run on another thread while a cell blocks in wait()
    (a subshell console, or comms routed to a subshell): the click must reach the blocked driver."""
    model_id = new_login(kernel, "login_e")
    kernel.wait_model(model_id, lambda s: s.get("status") == "waiting", timeout=10)
    subshell = kernel.create_subshell()
    msg_id = kernel.submit(
        "print('entering wait', flush=True)\n"
        "try:\n"
        "    login_e.wait(timeout=30)\n"
        "except Exception as exc:\n"
        "    print('raised', type(exc).__name__, threading.current_thread() is threading.main_thread())"
    )
    kernel.read_until(
        lambda m: m["msg_type"] == "stream"
        and m["parent_header"].get("msg_id") == msg_id
        and "entering wait" in m["content"]["text"],
        timeout=10,
    )
    clicked = kernel.execute(
        "part_of(login_e, 'plexpin-cancel').click()\n"
        "print(threading.current_thread() is threading.main_thread())",
        subshell_id=subshell,
    )
    assert clicked.stdout.strip() == "False", "the click ran on the subshell's thread"
    kernel.wait_model(model_id, lambda s: s.get("status") == "cancelled", timeout=10)
    cell = kernel.finish(msg_id, kernel.wait_reply(msg_id), 0.0)
    assert kernel.update_index(model_id, "status", "cancelled") < kernel.idle_index(msg_id), (
        "the blocked cell saw the click while still running"
    )
    assert cell.stdout.split()[-3:] == ["raised", "LoginCancelledError", "True"]
    close_login(kernel, "login_e")


@pytest.mark.usefixtures("subshells")
def test_clicks_are_applied_on_the_main_thread(kernel: KernelSession) -> None:
    model_id = new_login(kernel, "login_f")
    kernel.wait_model(model_id, lambda s: s.get("status") == "waiting", timeout=10)
    kernel.execute(
        "changes_f = []\n"
        "login_f.observe(lambda change: changes_f.append("
        "(change['new'], threading.current_thread() is threading.main_thread())), names='status')"
    )
    first_code = kernel.models[model_id]["code"]
    # Cancel from a subshell's thread while no cell runs: queued onto the kernel's loop.
    subshell = kernel.create_subshell()
    kernel.execute("part_of(login_f, 'plexpin-cancel').click()", subshell_id=subshell)
    kernel.wait_model(model_id, lambda s: s.get("status") == "cancelled", timeout=10)
    # "Get a new code" clicked the way a front end clicks: a comm message.
    kernel.click(kernel.find_part(model_id, "plexpin-restart"))
    kernel.wait_model(model_id, lambda s: s.get("status") == "waiting" and s.get("code") != first_code, timeout=10)
    check = kernel.execute("print(changes_f)")
    assert check.stdout.strip() == str(
        [("cancelled", True), ("requesting", True), ("waiting", True)]
    ), "every change happened on the kernel's main thread"
    close_login(kernel, "login_f")


def test_interrupting_a_blocking_wait_leaves_the_widget_polling(kernel: KernelSession, emu: PlexTvEmulator) -> None:
    """The README's advice: interrupting the kernel stops the wait, not the login."""
    model_id = new_login(kernel, "login_i")
    kernel.wait_model(model_id, lambda s: s.get("status") == "waiting", timeout=10)
    code = kernel.models[model_id]["code"]
    msg_id = kernel.submit("print('entering wait', flush=True)\nlogin_i.wait()")
    kernel.read_until(
        lambda m: m["msg_type"] == "stream"
        and m["parent_header"].get("msg_id") == msg_id
        and "entering wait" in m["content"]["text"],
        timeout=10,
    )
    kernel.km.interrupt_kernel()
    reply = kernel.wait_reply(msg_id)
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
    # No cell runs now; the poll task must carry on and see the approval by itself.
    token = emu.claim(code=code)
    kernel.wait_model(model_id, lambda s: s.get("status") == "authorized", timeout=10)
    assert_token_never_sent(kernel, token)
    close_login(kernel, "login_i")


# --------------------------------------------------------------------------- clicks while a cell waits
#
# The cells below are sent as a browser sends them (a plain-UUID message id), so the kernel
# takes its client for a widget front end and shows no terminal output (see _hosts.py). The
# clicks are the comm messages a front end sends. Under ipykernel 6 (dev.py's step 3 venv) the
# waits take them through jupyter-ui-poll; under ipykernel 7 (the main venv) an awaiting cell
# gets them from the kernel itself, and a blocking one says by the buttons that it is busy.


def start_waiting(kernel: KernelSession, name: str, call: str) -> str:
    """Start a browser-sent cell that waits on login ``name``; returns its msg_id once it waits."""
    msg_id = kernel.submit(
        "print('entering wait', flush=True)\n"
        "try:\n"
        f"    {call}\n"
        "except Exception as exc:\n"
        "    print('raised', type(exc).__name__)\n",
        as_browser=True,
    )
    kernel.read_until(
        lambda m: m["msg_type"] == "stream"
        and m["parent_header"].get("msg_id") == msg_id
        and "entering wait" in m["content"]["text"],
        timeout=10,
    )
    return msg_id


@pytest.mark.parametrize("call", ["await login_w.wait_async(timeout=60)", "login_w.wait(timeout=60)"])
def test_cancel_clicked_through_the_comm_while_a_cell_waits(
    kernel: KernelSession, kernel_major: int, call: str
) -> None:
    model_id = new_login(kernel, "login_w")
    kernel.wait_model(model_id, lambda s: s.get("status") == "waiting", timeout=10)
    msg_id = start_waiting(kernel, "login_w", call)
    busy_id = kernel.find_part(model_id, "plexpin-busy")
    blocking_on_7 = kernel_major >= 7 and "wait_async" not in call
    if blocking_on_7:
        # The kernel holds the click back while the cell blocks; the widget says so meanwhile.
        kernel.wait_model(busy_id, lambda s: "interrupt the kernel" in s.get("value", ""), timeout=10)
    kernel.click(kernel.find_part(model_id, "plexpin-cancel"))
    if blocking_on_7:
        kernel.km.interrupt_kernel()
        reply = kernel.wait_reply(msg_id)
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        kernel.wait_model(model_id, lambda s: s.get("status") == "cancelled", timeout=10)
        assert kernel.update_index(busy_id, "value", "") < kernel.idle_index(msg_id), "the note went with the wait"
        assert kernel.idle_index(msg_id) < kernel.update_index(model_id, "status", "cancelled")
    else:
        kernel.wait_model(model_id, lambda s: s.get("status") == "cancelled", timeout=10)
        cell = kernel.finish(msg_id, kernel.wait_reply(msg_id), 0.0)
        assert kernel.update_index(model_id, "status", "cancelled") < kernel.idle_index(msg_id), (
            "the click was handled while the cell still waited"
        )
        assert cell.stdout.split()[-2:] == ["raised", "LoginCancelledError"]
        assert kernel.models[busy_id].get("value", "") == "", "no busy note where clicks work"
    own = [m for m in kernel.iopub if m["parent_header"].get("msg_id") == msg_id]
    assert "To sign in to Plex" not in json.dumps(own, default=str), "no terminal output under a front end"
    close_login(kernel, "login_w")


def test_remember_and_a_new_code_while_a_cell_awaits(kernel: KernelSession, kernel_major: int) -> None:
    model_id = new_login(kernel, "login_r")
    kernel.wait_model(model_id, lambda s: s.get("status") == "waiting", timeout=10)
    first_code = kernel.models[model_id]["code"]
    msg_id = start_waiting(kernel, "login_r", "await login_r.wait_async(timeout=60)")
    kernel.set_state(kernel.find_part(model_id, "plexpin-remember"), value=True)
    kernel.click(kernel.find_part(model_id, "plexpin-restart"))
    kernel.wait_model(model_id, lambda s: s.get("status") == "waiting" and s.get("code") not in ("", first_code),
                      timeout=10)
    kernel.click(kernel.find_part(model_id, "plexpin-cancel"))
    cell = kernel.finish(msg_id, kernel.wait_reply(msg_id), 0.0)
    assert kernel.update_index(model_id, "status", "cancelled") < kernel.idle_index(msg_id)
    assert cell.stdout.split()[-2:] == ["raised", "LoginCancelledError"]
    check = kernel.execute("print(login_r.remember)")
    assert check.stdout.strip() == "True", "the ticked box reached the login while the cell waited"
    close_login(kernel, "login_r")


def test_a_kernel_nobody_renders_gets_the_login_as_text(kernel: KernelSession, emu: PlexTvEmulator) -> None:
    """Cells sent by jupyter_client (nbclient, papermill): the wait writes the login to stderr,
    which lands in the cell's output."""
    model_id = new_login(kernel, "login_t")
    kernel.wait_model(model_id, lambda s: s.get("status") == "waiting", timeout=10)
    code = kernel.models[model_id]["code"]
    msg_id = kernel.submit("login_t.wait(timeout=30)\nprint('done')")
    kernel.read_until(
        lambda m: m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id
        and code in m["content"]["text"],
        timeout=10,
    )
    emu.claim(code=code)
    cell = kernel.finish(msg_id, kernel.wait_reply(msg_id), 0.0)
    stderr = "".join(
        m["content"]["text"] for m in cell.messages if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"
    )
    assert stderr.count("To sign in to Plex, open this link:") == 1 and stderr.count(f"    {code}\n") == 1
    assert stderr.rstrip().endswith("Signed in as demo."), stderr
    assert cell.stdout.strip() == "done"
    close_login(kernel, "login_t")
