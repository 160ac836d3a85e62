"""``plexpin demo``: the quickstart notebook in a local JupyterLab, signed in against the emulator.

Starts two child processes, both listening on 127.0.0.1 only: the plex.tv emulator
(``python -m plexpin_widget.emulator``) and JupyterLab with a random access token, whose kernels
see ``PLEXPIN_BASE_URL`` pointing at the emulator (unless ``--real``). The notebook is a copy in
a temporary folder, so running it never changes the repository's file. Ctrl-C (or SIGTERM)
stops both children: terminate, wait, kill after a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import webbrowser
from pathlib import Path
from typing import IO, Any

import httpx

from ._exit_codes import EXIT_FAILED, EXIT_OK

__all__ = ["find_quickstart", "run_demo"]

NOTEBOOK = "quickstart.ipynb"
_STARTUP_TIMEOUT = 90.0
_STOP_TIMEOUT = 10.0

_MINIMAL_NOTEBOOK: dict[str, Any] = {
    "cells": [
        {
            "cell_type": "markdown", "id": "intro", "metadata": {},
            "source": ["# Sign in to Plex\n", "Run the cells below and approve the code."],
        },
        {
            "cell_type": "code", "execution_count": None, "id": "login", "metadata": {}, "outputs": [],
            "source": [
                "from plexpin_widget import PlexPinLogin\n",
                "\n",
                'login = PlexPinLogin(product="plexpin demo")\n',
                "login",
            ],
        },
        {
            "cell_type": "code", "execution_count": None, "id": "wait", "metadata": {}, "outputs": [],
            "source": [
                "token = await login.wait_async(timeout=900)\n",
                'print("Signed in as", login.user.display_name if login.user else "(not verified yet)")',
            ],
        },
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def find_quickstart() -> Path | None:
    """``notebooks/quickstart.ipynb`` from the current folder or the checkout the package is in."""
    candidates = [
        Path.cwd() / "notebooks" / NOTEBOOK,
        Path(__file__).resolve().parent.parent / "notebooks" / NOTEBOOK,
    ]
    for path in candidates:
        if path.is_file():
            return path
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, processes: list[subprocess.Popen[bytes]], deadline: float) -> bool:
    """Poll ``url`` until it answers below 500; False if a child exits or time runs out."""
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            return False
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # a readiness poll with a deadline, not a timing guess
    return False


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(_STOP_TIMEOUT)


def _spawn(command: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    # A new session: the terminal's Ctrl-C reaches only us, and we stop the children in order
    # (JupyterLab would otherwise ask "Shutdown this Jupyter server?" on its own).
    return subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def run_demo(args: argparse.Namespace) -> int:
    """Carry out ``plexpin demo``; returns the exit status (0 after Ctrl-C)."""
    err = sys.stderr
    workdir = Path(tempfile.mkdtemp(prefix="plexpin-demo-"))
    source = find_quickstart()
    if source is not None:
        shutil.copyfile(source, workdir / NOTEBOOK)
    else:
        (workdir / NOTEBOOK).write_text(json.dumps(_MINIMAL_NOTEBOOK, indent=1), encoding="utf-8")
    log_path = workdir / "demo.log"
    log = open(log_path, "ab")  # noqa: SIM115 (closed in finally)
    env = dict(os.environ)
    lab_port = args.port or _free_port()
    token = secrets.token_urlsafe(24)
    emulator: subprocess.Popen[bytes] | None = None
    lab: subprocess.Popen[bytes] | None = None
    status = EXIT_FAILED  # the temporary folder (and its log) is kept after a failure

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        emulator_url = None
        if not args.real:
            emulator_port = args.emulator_port or _free_port()
            emulator_url = f"http://127.0.0.1:{emulator_port}"
            command = [sys.executable, "-m", "plexpin_widget.emulator", "--port", str(emulator_port)]
            if args.auto_claim is not None:
                command += ["--auto-claim", str(args.auto_claim)]
            emulator = _spawn(command, env, log)
            env["PLEXPIN_BASE_URL"] = emulator_url
        lab_command = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip", "127.0.0.1",
            "--port", str(lab_port), "--ServerApp.port_retries=0", f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={workdir}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            lab_command.append("--allow-root")
        lab = _spawn(lab_command, env, log)
        children = [p for p in (emulator, lab) if p is not None]
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        ready = (emulator_url is None or _wait_ready(f"{emulator_url}/link", children, deadline)) and _wait_ready(
            f"http://127.0.0.1:{lab_port}/api/status?token={token}", children, deadline
        )
        if not ready:
            err.write(f"plexpin demo: could not start; see the log at {log_path}\n")
            return status
        url = f"http://127.0.0.1:{lab_port}/lab/tree/{NOTEBOOK}?token={token}"
        lines = ["", "plexpin demo is running.", "", f"  Open:  {url}"]
        if emulator_url is not None:
            lines.append(f"  Approve codes at:  {emulator_url}/link   (the plex.tv emulator)")
        else:
            lines.append("  Approve codes at https://plex.tv/link (the real plex.tv).")
        lines += ["", f"Logs: {log_path}", "Press Ctrl-C to stop.", ""]
        err.write("\n".join(lines) + "\n")
        err.flush()
        if not args.no_browser:
            webbrowser.open(url)
        while not stop.is_set():
            if any(p.poll() is not None for p in children):
                err.write(f"plexpin demo: a process stopped unexpectedly; see {log_path}\n")
                return status
            stop.wait(0.5)
        status = EXIT_OK
    except KeyboardInterrupt:
        status = EXIT_OK
    finally:
        signal.signal(signal.SIGTERM, previous)
        err.write("Stopping…\n")
        _stop(lab)
        _stop(emulator)
        log.close()
        if status == EXIT_OK:
            shutil.rmtree(workdir, ignore_errors=True)
        err.write("Stopped.\n")
    return status
