"""Shared pytest configuration for all test directories. Keep this small: fixtures belong next to
the tests that use them (the browser harness lives in tests/browser/conftest.py)."""

from __future__ import annotations

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is in the `test` extra; tolerate running without it
    pass
else:
    # Shared 2-core CI machines stall now and then; per-example deadlines would turn that into
    # flaky failures. Locally the defaults stay.
    settings.register_profile(
        "ci", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
    )
    if os.environ.get("CI", "").strip().lower() == "true":
        settings.load_profile("ci")


# --------------------------------------------------------------------------- shared fixtures

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

#: The poll interval of in-process logins: short, so that tests of whole logins stay fast.
FAST_POLL = 0.05


@pytest.fixture
def private_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config folder of the test's own, the file store, and no token or URL from outside.

    Modules use it with ``pytestmark = pytest.mark.usefixtures("private_config")``, or ask for it
    by name to get the folder."""
    folder = tmp_path / "config"
    monkeypatch.setenv("PLEXPIN_CONFIG_DIR", str(folder))
    # No token from the environment or the OS keyring may sign these logins in.
    monkeypatch.setenv("PLEXPIN_KEYRING", "0")
    for name in ("PLEX_TOKEN", "PLEXPIN_BASE_URL", "PLEXPIN_CLIENT_IDENTIFIER"):
        monkeypatch.delenv(name, raising=False)
    return folder


@pytest.fixture
def emu() -> Any:
    """A fresh in-process plex.tv emulator (a module may override this fixture)."""
    from plexpin_widget.emulator import PlexTvEmulator

    return PlexTvEmulator()


@pytest.fixture
def served(emu: Any) -> Iterator[Any]:
    """``emu`` served on loopback (an ``EmulatorServer``), for code that needs a real URL."""
    from plexpin_widget.emulator import EmulatorServer

    with EmulatorServer(emu) as server:
        yield server


@pytest.fixture
def make_login(emu: Any, private_config: Path) -> Iterator[Callable[..., Any]]:
    """Build PlexPinLogin widgets talking to ``emu`` in-process; all are closed afterwards.

    Where no event loop runs (a plain test function), the constructor sends nothing, as in a
    script; ``first_request=True`` (the default) then sends the first request before returning,
    so the login shows a code (or whatever the answer brought) as it would between cells."""
    from plexpin_widget import PlexPinLogin
    from plexpin_widget._session import running_loop

    made: list[Any] = []

    def make(*, first_request: bool = True, **kwargs: Any) -> Any:
        kwargs.setdefault("product", "Test login")
        kwargs.setdefault("poll_interval", FAST_POLL)
        kwargs.setdefault("transport", emu.transport())
        login = PlexPinLogin(**kwargs)
        made.append(login)
        if first_request and running_loop() is None and login.status == "requesting":
            login._session.drive_first_request()
        return login

    yield make
    for login in made:
        login.close()


@pytest.fixture
def new_process() -> Iterator[Callable[[], None]]:
    """JWT tests: start (and end) as a new process would, with no device key in memory and
    plex.tv's signing keys not cached; call the fixture's value to "restart" mid-test."""
    from plexpin_widget._device_auth import _forget_process_state

    _forget_process_state()
    yield _forget_process_state
    _forget_process_state()
