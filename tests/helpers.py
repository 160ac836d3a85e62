"""Shared test helpers: polling with a deadline (never a bare sleep), and the identity header names."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any

#: The identity headers every request to plex.tv must carry (reference §3).
IDENTITY_HEADERS = (
    "X-Plex-Client-Identifier",
    "X-Plex-Product",
    "X-Plex-Version",
    "X-Plex-Platform",
    "X-Plex-Platform-Version",
    "X-Plex-Device",
    "X-Plex-Device-Name",
)


def poll_until(condition: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Return as soon as ``condition()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.005)


async def apoll_until(condition: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Like :func:`poll_until`, yielding to the event loop between checks."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.005)


def point_plexapi_at(monkeypatch: Any, base_url: str) -> None:
    """Point python-plexapi's hard-coded plex.tv URLs (``plexapi_urls``) at ``base_url``."""
    from plexapi import myplex

    from plexpin_widget.emulator import plexapi_urls

    for name, url in plexapi_urls(base_url).items():
        class_name, attribute = name.split(".")
        if class_name == "MyPlexJWTLogin" and not hasattr(myplex, class_name):
            continue  # python-plexapi 4.18 brought MyPlexJWTLogin; older versions have nothing to point
        # CHECKPINS exists only in some python-plexapi versions; newer ones derive it from PINS.
        monkeypatch.setattr(getattr(myplex, class_name), attribute, url, raising=attribute != "CHECKPINS")


def forbid_httpx_client_layer(monkeypatch: object) -> None:
    """Make ``httpx.Client.send`` / ``AsyncClient.send`` fail for plex.tv requests of ours.

    The clients send each request straight to their transport (the lean path, see
    ``_client._ClientBase``); a test module that uses this proves its requests took that path.
    Requests of anyone else (a test's own httpx calls) pass through.
    """
    import httpx

    def guard(original: Callable[..., object]) -> Callable[..., object]:
        def send(self: object, request: httpx.Request, *args: object, **kwargs: object) -> object:
            if "X-Plex-Product" in request.headers:
                raise AssertionError("a plex.tv request went through httpx's client layer")
            return original(self, request, *args, **kwargs)

        return send

    for cls in (httpx.Client, httpx.AsyncClient):
        monkeypatch.setattr(cls, "send", guard(cls.send))  # type: ignore[attr-defined]


def widgets_below(*roots: Any, layouts: bool = False) -> Iterator[Any]:
    """Every widget in the trees under ``roots`` (the roots included), each once; with
    ``layouts``, each widget's Layout too."""
    import ipywidgets

    seen: set[int] = set()
    todo = list(roots)
    while todo:
        widget = todo.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        yield widget
        todo.extend(getattr(widget, "children", ()))
        layout = getattr(widget, "layout", None)
        if layouts and isinstance(layout, ipywidgets.Widget):
            yield layout


def checks(emu: Any, client: str | None = None) -> list[Any]:
    """The pin checks (``GET /api/v2/pins/{id}``) ``emu`` received, from ``client`` or anyone."""
    return [r for r in emu.request_log(client) if r.method == "GET" and r.path.startswith("/api/v2/pins/")]


def creations(emu: Any, client: str | None = None) -> list[Any]:
    """The pin creations (``POST /api/v2/pins``) ``emu`` received, from ``client`` or anyone."""
    return [r for r in emu.request_log(client) if r.method == "POST" and r.path == "/api/v2/pins"]


@contextlib.contextmanager
def emulator_process(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m plexpin_widget.emulator --port 0 --auto-claim 0 ARGS`` with its stdout piped
    (it prints where it listens); killed at the end if it is still running."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "plexpin_widget.emulator", "--port", "0", "--auto-claim", "0", *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
