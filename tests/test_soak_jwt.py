"""The soak's JWT profile: many JWT logins on one loopback emulator with 2-second Plex JWTs,
refreshing again and again while a share of every request fails (5xx, dropped connections,
429 with Retry-After).

Judged: every login signs in and completes its refreshes; once signed in, ``token`` is never
empty and never goes back to an older JWT; every token it held is one the emulator issued to
that client; no error is logged, no loop exception, no task or socket is left behind.

``PLEXPIN_SOAK_JWT_LOGINS`` sets the size (CI: 24 logins x 3 refreshes, about half a minute).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import pytest

from plexpin_widget import ClientIdentity, Status
from plexpin_widget._driver_async import LIVE_TASKS
from plexpin_widget._session import LoginSession
from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator
from soak_profiles import _ErrorLogs

pytestmark = [pytest.mark.soak, pytest.mark.usefixtures("new_process")]

LOGINS = int(os.environ.get("PLEXPIN_SOAK_JWT_LOGINS", "24"))
REFRESHES = 3
LIFETIME = 2  # seconds: a refresh is due every 1.6 s


async def _one(url: str, index: int) -> dict[str, object]:
    cid = f"soak-jwt-{index}"
    held: list[str | None] = []
    session: LoginSession

    def on_change() -> None:
        token = session.flow.token
        if not held or held[-1] != token:
            held.append(token)

    session = LoginSession(
        ClientIdentity(client_identifier=cid, product="plexpin soak"),
        base_url=url, poll_interval=0.2, request_timeout=0.5, on_change=on_change, jwt=True,
    )
    session.flow.max_backoff = 1.0
    session.start()
    outcome = "token"
    try:
        await session.wait_async(timeout=60)
        deadline = time.monotonic() + 60
        while session.flow.refreshes < REFRESHES and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if session.flow.refreshes < REFRESHES:
            outcome = f"only {session.flow.refreshes} refreshes"
    except Exception as exc:  # recorded and judged below
        outcome = type(exc).__name__
    finally:
        await session.aclose()
    return {"cid": cid, "outcome": outcome, "held": held, "status": session.flow.status,
            "key_rejected": session.flow.key_rejected}


async def _run(url: str) -> list[dict[str, object]]:
    return await asyncio.gather(*(_one(url, i) for i in range(LOGINS)))


def test_jwt_refreshes_under_faults_lose_nothing() -> None:
    emu = PlexTvEmulator(jwt_lifetime=LIFETIME, log_limit=200_000)
    emu.auto_claim(0.3)
    emu.faults.random("status", rate=0.2, seed=11, path_prefix="/api/v2/", status=(500, 502, 503))
    emu.faults.random("drop", rate=0.1, seed=12, path_prefix="/api/v2/")
    emu.faults.random("rate_limit", rate=0.05, seed=13, path_prefix="/api/v2/auth/", retry_after=0.3)
    errors = _ErrorLogs()
    package_logger = logging.getLogger("plexpin_widget")
    package_logger.addHandler(errors)
    started = time.monotonic()
    try:
        with EmulatorServer(emu) as server:
            records = asyncio.run(_run(server.url))
    finally:
        package_logger.removeHandler(errors)
    seconds = time.monotonic() - started
    faults = sum(1 for r in emu.request_log() if r.fault is not None)
    refreshes = sum(1 for r in emu.request_log() if r.path == "/api/v2/auth/token" and r.status == 200)
    print(f"\nJWT soak: {LOGINS} logins, {refreshes} refreshes answered, {faults} faults injected, {seconds:.1f} s")

    assert faults > LOGINS, "the faults did not bite, so the soak proves little"
    for record in records:
        assert record["outcome"] == "token", record
        assert not record["key_rejected"], record
        held = [t for t in record["held"] if t is not None]  # type: ignore[union-attr]
        first = record["held"].index(held[0])  # type: ignore[union-attr]
        # Once signed in, never without a token, never an old one again.
        assert None not in record["held"][first:], record["cid"]  # type: ignore[index]
        assert len(held) == len(set(held)) >= REFRESHES + 1, record["cid"]
        issued = emu.issued_jwts(str(record["cid"]))
        assert all(token in issued for token in held), record["cid"]
        assert record["status"] in (Status.AUTHORIZED, Status.CANCELLED)
    assert errors.messages == []
    assert not LIVE_TASKS
