"""The pure state machine in JWT mode: when refreshes are due, how faults and refusals end.

No I/O and no real clock: explicit ``now`` values and a seeded ``random.Random``.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from plexpin_widget._errors import (
    ConfigurationError,
    DeviceKeyRejectedError,
    InvalidTokenError,
    NetworkError,
    RateLimitedError,
    ServerError,
    JwtVerificationError,
    TokenExpiredError,
)
from plexpin_widget._flow import (
    REFRESH_SHARE,
    CheckPin,
    CreatePin,
    FetchUser,
    PinFlow,
    PinReceived,
    RefreshToken,
    RequestFailed,
    Status,
    TokenIssued,
    UserReceived,
)
from plexpin_widget._models import IssuedToken, Pin, PlexUser

WEEK = 7 * 24 * 3600.0
EPOCH = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)


def issued(name: str = "jwt-1", lifetime: float = WEEK, at: dt.datetime = EPOCH) -> IssuedToken:
    return IssuedToken(token=name, issued_at=at, expires_at=at + dt.timedelta(seconds=lifetime))


def signed_in(lifetime: float = WEEK) -> tuple[PinFlow, RefreshToken]:
    """A JWT flow that has signed in at t=10 and read the account; returns the pending refresh."""
    flow = PinFlow(jwt=True, rng=random.Random(1))
    create = flow.start(0.0)
    assert isinstance(create, CreatePin) and not create.fresh_key
    check = flow.receive(PinReceived(create.seq, Pin(id=1, code="AB12", expires_in=900), 0.0), 0.0)
    assert isinstance(check, CheckPin)
    approved = Pin(id=1, code="AB12", expires_in=890, auth_token="jwt-1")
    fetch = flow.receive(PinReceived(check.seq, approved, 10.0, issued("jwt-1", lifetime)), 10.0)
    assert isinstance(fetch, FetchUser) and fetch.token == "jwt-1"
    assert flow.token == "jwt-1" and flow.status is Status.AUTHORIZED
    refresh = flow.receive(UserReceived(fetch.seq, PlexUser(id=1, username="kim")), 10.2)
    assert isinstance(refresh, RefreshToken)
    return flow, refresh


def test_refresh_is_due_when_a_fifth_of_the_lifetime_is_left() -> None:
    flow, refresh = signed_in()
    assert refresh.due == pytest.approx(10.0 + WEEK * (1 - REFRESH_SHARE))
    # The contract's ceiling: at the latest when a tenth of the lifetime is left.
    assert refresh.due <= 10.0 + WEEK * 0.9
    assert flow.token_expires_at == EPOCH + dt.timedelta(seconds=WEEK)
    assert not flow.is_done  # a signed-in JWT login still has work ahead


def test_a_server_clock_ahead_of_ours_cannot_delay_the_refresh() -> None:
    flow = PinFlow(jwt=True)
    create = flow.start(0.0)
    check = flow.receive(PinReceived(create.seq, Pin(id=1, code="AB12", expires_in=900), 0.0), 0.0)
    assert isinstance(check, CheckPin)
    # The wall clock says only 100 s are left of a one-hour token: go by that.
    fetch = flow.receive(PinReceived(check.seq, Pin(id=1, code="AB12", auth_token="j"), 5.0,
                                     issued("j", 3600), expires_in=100.0), 5.0)
    assert isinstance(fetch, FetchUser)
    refresh = flow.receive(UserReceived(fetch.seq, PlexUser(id=1, username="kim")), 5.0)
    assert isinstance(refresh, RefreshToken)
    # 100 s left minus 720 s is in the past: refresh after the floor, never in a tight loop.
    assert refresh.due == pytest.approx(5.0 + 60.0)


def test_an_unverified_token_in_a_jwt_pin_is_not_trusted() -> None:
    flow = PinFlow(jwt=True)
    create = flow.start(0.0)
    check = flow.receive(PinReceived(create.seq, Pin(id=1, code="AB12", expires_in=900), 0.0), 0.0)
    assert isinstance(check, CheckPin)
    nxt = flow.receive(PinReceived(check.seq, Pin(id=1, code="AB12", expires_in=899, auth_token="x"), 1.0), 1.0)
    assert isinstance(nxt, CheckPin) and flow.token is None and flow.status is Status.WAITING


def test_refresh_replaces_the_token_and_schedules_the_next() -> None:
    flow, refresh = signed_in()
    later = refresh.due
    nxt = flow.receive(TokenIssued(refresh.seq, issued("jwt-2", at=EPOCH + dt.timedelta(days=6)), later), later + 0.1)
    assert flow.token == "jwt-2" and flow.refreshes == 1
    assert isinstance(nxt, RefreshToken)  # the account is known: no new read
    assert nxt.due == pytest.approx(later + WEEK * (1 - REFRESH_SHARE))
    assert flow.token_expires_at == EPOCH + dt.timedelta(days=13)


@pytest.mark.parametrize(
    "error",
    [
        NetworkError("GET /api/v2/auth/nonce failed: ConnectError"),
        ServerError("POST /api/v2/auth/token", 503),
        JwtVerificationError("the key is unknown"),
    ],
)
def test_faults_during_refresh_keep_the_old_token_and_back_off(error: Exception) -> None:
    flow, refresh = signed_in()
    now = refresh.due
    delays = []
    action: object = refresh
    for attempt in range(6):
        assert isinstance(action, RefreshToken)
        action = flow.receive(RequestFailed(action.seq, error), now)
        assert isinstance(action, RefreshToken)
        delays.append(action.due - now)
        now = action.due
        assert flow.token == "jwt-1" and flow.status is Status.AUTHORIZED
        assert flow.reconnecting and flow.error is error
    assert delays[-1] > delays[0]  # exponential backoff ...
    assert max(delays) <= flow.max_backoff  # ... with a ceiling
    assert isinstance(action, RefreshToken)
    flow.receive(TokenIssued(action.seq, issued("jwt-2"), now), now)
    assert flow.token == "jwt-2" and not flow.reconnecting and flow.error is None


def test_rate_limited_refresh_waits_at_least_retry_after() -> None:
    flow, refresh = signed_in()
    nxt = flow.receive(RequestFailed(refresh.seq, RateLimitedError("GET /api/v2/auth/nonce", 429, retry_after=42)), 100.0)
    assert isinstance(nxt, RefreshToken) and nxt.due >= 142.0
    assert flow.token == "jwt-1"


@pytest.mark.parametrize(
    "error",
    [
        DeviceKeyRejectedError("POST /api/v2/auth/token", 422, 1097, "jwk missing"),
        TokenExpiredError("POST /api/v2/auth/token", 498),
        InvalidTokenError("POST /api/v2/auth/token", 401),
    ],
)
def test_a_refused_key_ends_the_sign_in_and_asks_for_a_new_code_with_a_new_key(error: Exception) -> None:
    flow, refresh = signed_in()
    nxt = flow.receive(RequestFailed(refresh.seq, error), 200.0)
    assert isinstance(nxt, CreatePin) and nxt.fresh_key
    assert flow.key_rejected and flow.error is error
    assert flow.token is None and flow.token_expires_at is None and flow.user is None
    assert flow.status is Status.REQUESTING
    # A retry of that pin request keeps the new key (it is made once, before the first try).
    again = flow.receive(RequestFailed(nxt.seq, NetworkError("POST /api/v2/pins failed")), 201.0)
    assert isinstance(again, CreatePin) and not again.fresh_key
    assert flow.key_rejected  # still explains why a code is shown


def test_an_expired_jwt_seen_by_the_account_read_is_refreshed_at_once() -> None:
    flow = PinFlow(jwt=True)
    create = flow.start(0.0)
    check = flow.receive(PinReceived(create.seq, Pin(id=1, code="AB12", expires_in=900), 0.0), 0.0)
    assert isinstance(check, CheckPin)
    fetch = flow.receive(PinReceived(check.seq, Pin(id=1, code="AB12", auth_token="j"), 1.0, issued("j")), 1.0)
    assert isinstance(fetch, FetchUser)
    nxt = flow.receive(RequestFailed(fetch.seq, TokenExpiredError("GET /api/v2/user", 498)), 2.0)
    assert isinstance(nxt, RefreshToken) and nxt.due == 2.0
    assert flow.token == "j"  # kept until the new one arrives
    fetch2 = flow.receive(TokenIssued(nxt.seq, issued("k"), 2.0), 2.1)
    assert isinstance(fetch2, FetchUser) and fetch2.token == "k"


def test_signing_in_with_a_remembered_key_refreshes_without_a_code() -> None:
    flow = PinFlow(jwt=True)
    refresh = flow.start(0.0, by_key=True)
    assert isinstance(refresh, RefreshToken) and refresh.due == 0.0
    assert flow.status is Status.REQUESTING and flow.token is None
    fetch = flow.receive(TokenIssued(refresh.seq, issued("j"), 0.0), 0.3)
    assert isinstance(fetch, FetchUser) and flow.status is Status.AUTHORIZED and flow.token == "j"
    assert flow.pin is None  # no code was ever asked for
    nxt = flow.receive(UserReceived(fetch.seq, PlexUser(id=1, username="kim")), 0.4)
    assert isinstance(nxt, RefreshToken)


def test_a_remembered_key_that_plex_refuses_falls_back_to_a_code() -> None:
    flow = PinFlow(jwt=True)
    refresh = flow.start(0.0, by_key=True)
    assert isinstance(refresh, RefreshToken)
    nxt = flow.receive(RequestFailed(refresh.seq, DeviceKeyRejectedError("POST /api/v2/auth/token", 422, 1097)), 0.5)
    assert isinstance(nxt, CreatePin) and nxt.fresh_key and flow.key_rejected


def test_a_remembered_key_and_a_transient_fault_keeps_trying_quietly() -> None:
    flow = PinFlow(jwt=True, rng=random.Random(3))
    refresh = flow.start(0.0, by_key=True)
    assert isinstance(refresh, RefreshToken)
    nxt = flow.receive(RequestFailed(refresh.seq, NetworkError("GET /api/v2/auth/nonce failed")), 0.5)
    assert isinstance(nxt, RefreshToken) and nxt.due > 0.5 and flow.reconnecting
    assert flow.status is Status.REQUESTING


def test_by_key_needs_jwt_mode() -> None:
    with pytest.raises(ConfigurationError, match="jwt=True"):
        PinFlow().start(0.0, by_key=True)


def test_restart_forgets_the_jwt_and_its_expiry() -> None:
    flow, _refresh = signed_in()
    nxt = flow.restart(50.0)
    assert isinstance(nxt, CreatePin) and flow.token is None and flow.token_expires_at is None


def test_a_stale_refresh_answer_is_ignored() -> None:
    flow, refresh = signed_in()
    taken = flow.take_over(5.0)
    assert isinstance(taken, RefreshToken) and taken.seq != refresh.seq
    assert flow.receive(TokenIssued(refresh.seq, issued("late"), 5.0), 5.0) is taken
    assert flow.token == "jwt-1"


def test_classic_flows_never_schedule_a_refresh() -> None:
    flow = PinFlow()
    create = flow.start(0.0)
    check = flow.receive(PinReceived(create.seq, Pin(id=1, code="AB12", expires_in=900), 0.0), 0.0)
    assert isinstance(check, CheckPin)
    fetch = flow.receive(PinReceived(check.seq, Pin(id=1, code="AB12", auth_token="classic"), 1.0), 1.0)
    assert isinstance(fetch, FetchUser)
    assert flow.receive(UserReceived(fetch.seq, PlexUser(id=1, username="kim")), 1.0) is None
    assert flow.token_expires_at is None and flow.is_done
