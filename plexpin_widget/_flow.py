"""The PIN login as a pure state machine: results go in, the next thing to do comes out.

In the style of h11, :class:`PinFlow` does no I/O and knows no clock of its own. A driver asks
it what to do (:attr:`PinFlow.pending`), carries that out at the time it names, and feeds back
what happened with :meth:`PinFlow.receive`. Every schedule lives here and only here: the poll
interval, exponential backoff with jitter on transient faults, ``Retry-After`` on 429, the
stop at the pin's expiry, renewal on :meth:`PinFlow.restart`, giving up when plex.tv never
answered (``give_up_unreachable_after``), and an early retry on :meth:`PinFlow.retry_now`.

Times are seconds on a monotonic clock the driver chooses (``time.monotonic`` in practice).
The pin's expiry is turned into a local deadline at the moment the request that reported it was
*sent*, which is never later than the moment plex.tv computed ``expiresIn``, and the earliest
deadline any answer gives is kept (``expiresIn`` is rounded to whole seconds, in a direction
plex.tv does not document); so no check is ever scheduled after the pin has expired on the server.

With ``jwt=True`` the same machine runs Plex's JWT sign-in: the pin answer carries a verified
Plex JWT (an :class:`~plexpin_widget._models.IssuedToken`), and the flow schedules a
:class:`RefreshToken` before it expires: when a fifth of its lifetime is left (plex.tv's 7 days
give a refresh with 1.4 days to spare), and never later than a tenth. Faults during a refresh
are retried with the same backoff and ``Retry-After`` rules while the old token stays in place;
a refused device key ends the sign-in and asks for a new code (with a new key).

Each action carries a sequence number. A result for any action but the pending one is stale
(a cancelled request that answered late, or an action a second driver took over) and is ignored.
"""

from __future__ import annotations

import dataclasses
import enum
import datetime
import math
import random
from typing import Union

from ._errors import (
    ConfigurationError,
    InvalidTokenError,
    PinNotFoundError,
    PlexPinError,
    PlexTvUnreachableError,
    RateLimitedError,
    TokenExpiredError,
    TransportError,
)
from ._models import IssuedToken, Pin, PlexUser

__all__ = [
    "CheckPin",
    "CreatePin",
    "Expire",
    "FetchUser",
    "FlowAction",
    "FlowEvent",
    "PinFlow",
    "PinReceived",
    "RefreshToken",
    "RequestFailed",
    "Status",
    "TimerFired",
    "TokenIssued",
    "UserReceived",
]

DEFAULT_POLL_INTERVAL = 1.0
MAX_BACKOFF = 30.0
MAX_POLL_INTERVAL = 60.0
#: Attempts at reading the account after sign-in before the flow settles without it.
USER_FETCH_ATTEMPTS = 6
#: A JWT is refreshed when this share of its lifetime is left (the brief's ceiling is a tenth).
REFRESH_SHARE = 0.2


class Status(str, enum.Enum):
    """Where the login stands. The values are the strings the widget's ``status`` trait shows."""

    IDLE = "idle"
    REQUESTING = "requesting"
    WAITING = "waiting"
    AUTHORIZED = "authorized"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    ERROR = "error"

    @property
    def is_final(self) -> bool:
        """No more pin requests will be made (a sign-in may still read the account)."""
        return self in (Status.AUTHORIZED, Status.EXPIRED, Status.CANCELLED, Status.ERROR)


# --------------------------------------------------------------------------- actions (out)


@dataclasses.dataclass(frozen=True)
class CreatePin:
    """Ask plex.tv for a new pin at ``due``."""

    seq: int
    due: float
    strong: bool
    #: JWT sign-in only: plex.tv refused the device key, so make a new one for this pin.
    fresh_key: bool = False


@dataclasses.dataclass(frozen=True)
class CheckPin:
    """Read pin ``pin_id`` at ``due``."""

    seq: int
    due: float
    pin_id: int


@dataclasses.dataclass(frozen=True)
class FetchUser:
    """Read the account for ``token`` at ``due`` (after sign-in, or to validate a known token)."""

    seq: int
    due: float
    token: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class Expire:
    """Nothing to send: at ``due`` the pin is past its deadline; feed :class:`TimerFired`."""

    seq: int
    due: float


@dataclasses.dataclass(frozen=True)
class RefreshToken:
    """JWT sign-in: at ``due``, get a new Plex JWT with the device key (nonce, then
    ``POST /api/v2/auth/token``), verify it, and feed :class:`TokenIssued`."""

    seq: int
    due: float


FlowAction = Union[CreatePin, CheckPin, FetchUser, Expire, RefreshToken]


# --------------------------------------------------------------------------- events (in)


@dataclasses.dataclass(frozen=True)
class PinReceived:
    """plex.tv answered a :class:`CreatePin` or :class:`CheckPin` with a pin.

    ``sent_at`` is when the request left, on the flow's clock.
    """

    seq: int
    pin: Pin
    sent_at: float
    #: JWT sign-in: the verified Plex JWT the approved pin carried, and the seconds it had left
    #: by the driver's wall clock (``None`` to go by its own lifetime).
    issued: IssuedToken | None = None
    expires_in: float | None = None


@dataclasses.dataclass(frozen=True)
class TokenIssued:
    """A :class:`RefreshToken` got a new, verified Plex JWT.

    ``sent_at`` is when the refresh began; ``expires_in`` the seconds the token had left by the
    driver's wall clock when it arrived (``None`` to go by the token's own lifetime)."""

    seq: int
    issued: IssuedToken
    sent_at: float
    expires_in: float | None = None


@dataclasses.dataclass(frozen=True)
class UserReceived:
    """plex.tv answered a :class:`FetchUser` with the account."""

    seq: int
    user: PlexUser


@dataclasses.dataclass(frozen=True)
class RequestFailed:
    """The pending action's request failed with ``error``."""

    seq: int
    error: BaseException


@dataclasses.dataclass(frozen=True)
class TimerFired:
    """The time of an :class:`Expire` has come."""

    seq: int


FlowEvent = Union[PinReceived, TokenIssued, UserReceived, RequestFailed, TimerFired]


def validate_poll_interval(value: object, name: str = "poll_interval") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(name, f"must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(name, f"must be a positive number of seconds, not {value!r}")
    if seconds > MAX_POLL_INTERVAL:
        raise ConfigurationError(name, f"must be at most {MAX_POLL_INTERVAL:g} seconds, not {value!r}")
    return seconds


def _check_give_up(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(
            "give_up_unreachable_after", f"must be a positive number of seconds or None, not {value!r}"
        )
    return float(value)


# --------------------------------------------------------------------------- the machine


class PinFlow:
    """One PIN login, from requesting a code to holding a token.

    >>> flow = PinFlow()
    >>> flow.start(now=0.0)
    CreatePin(seq=1, due=0.0, strong=False)
    """

    def __init__(
        self,
        *,
        strong: bool = False,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_backoff: float = MAX_BACKOFF,
        rng: random.Random | None = None,
        jwt: bool = False,
        give_up_unreachable_after: float | None = None,
    ) -> None:
        self.strong = bool(strong)
        #: Seconds after which a login gives up (:class:`PlexTvUnreachableError`) while plex.tv
        #: has never answered it; ``None``: never give up (the widget's choice: it keeps retrying).
        self.give_up_unreachable_after = _check_give_up(give_up_unreachable_after)
        #: Plex's JWT sign-in: the token is a Plex JWT, refreshed with the device key.
        self.jwt = bool(jwt)
        self.poll_interval = validate_poll_interval(poll_interval)
        self.max_backoff = max(self.poll_interval, float(max_backoff))
        self._rng = rng or random.Random()
        self._seq = 0
        self.status = Status.IDLE
        self.pending: FlowAction | None = None
        self.pin: Pin | None = None
        self.token: str | None = None
        self.user: PlexUser | None = None
        #: The last error: the one that ended the flow, or the transient one being retried.
        self.error: BaseException | None = None
        #: True while transient faults are being retried; the status stays ``waiting``.
        self.reconnecting = False
        #: Set when a token handed to :meth:`start` turned out to be invalid and was dropped.
        self.token_rejected = False
        #: False when a sign-in happened but the account could not be read (yet).
        self.verified = False
        #: True once a read of the account has answered (successfully or not) since sign-in.
        self.account_checked = False
        self.deadline: float | None = None
        #: JWT sign-in: when the token expires (UTC), ``None`` for a classic token.
        self.token_expires_at: datetime.datetime | None = None
        #: JWT sign-in: plex.tv refused the device key (a removed device); a new code is asked for.
        self.key_rejected = False
        #: JWT sign-in: how many times the token was refreshed since sign-in.
        self.refreshes = 0
        self._refresh_at: float | None = None
        self._by_key = False
        self._failures = 0
        self._validating = False
        #: Whether any answer (a pin, an account, even an error status) came from plex.tv
        #: since :meth:`start`; a refused connection, a DNS failure or a timeout is no answer.
        self.plex_tv_answered = False
        #: Since when (the first unanswered request's due time) requests have got no answer;
        #: ``None`` once one is answered.
        self.unreachable_since: float | None = None

    # ----------------------------------------------------------------- inputs from the user

    def start(self, now: float, *, token: str | None = None, by_key: bool = False) -> FlowAction | None:
        """Begin (or begin again). With ``token``, validate it first instead of asking for a pin.

        With ``by_key`` (JWT sign-in with a remembered device key) sign in by refreshing: no
        code is asked for unless plex.tv refuses the key."""
        self._reset_login()
        self.token_rejected = False
        self.key_rejected = False
        if by_key:
            if not self.jwt:
                raise ConfigurationError("by_key", "signing in with a device key needs jwt=True")
            self._by_key = True
            self.status = Status.REQUESTING
            return self._issue(RefreshToken, now)
        if token:
            self._validating = True
            self.status = Status.REQUESTING
            return self._issue(FetchUser, now, token=token)
        self.status = Status.REQUESTING
        return self._issue(CreatePin, now, strong=self.strong)

    def restart(self, now: float) -> FlowAction | None:
        """Drop the current code and ask for a new one, whatever the state."""
        return self.start(now)

    def cancel(self, now: float) -> None:
        """Stop asking plex.tv. A completed sign-in stays signed in."""
        del now
        if self.status is Status.AUTHORIZED:
            self.pending = None
            return
        if self.status.is_final:
            return
        self.pending = None
        self.reconnecting = False
        self.deadline = None
        self.status = Status.CANCELLED

    def retry_now(self, now: float) -> FlowAction | None:
        """Send the request being retried at once ("Try again now") instead of after its backoff.

        Only a request waiting out a fault's backoff moves. A wait plex.tv asked for with
        ``Retry-After`` (429) is kept: plex.tv said when to come back, and asking sooner would
        only earn another 429 and risk a longer lock-out. Returns the pending action."""
        action = self.pending
        if (
            action is None
            or not self.reconnecting
            or isinstance(action, Expire)
            or action.due <= now
            or isinstance(self.error, RateLimitedError)
        ):
            return action
        self._seq += 1
        self.pending = dataclasses.replace(action, seq=self._seq, due=now)
        return self.pending

    def take_over(self, now: float) -> FlowAction | None:
        """Reissue the pending action under a new number, so that a result still owed to
        another driver (one that cannot run right now) is ignored when it arrives."""
        del now
        action = self.pending
        if action is None:
            return None
        self._seq += 1
        self.pending = dataclasses.replace(action, seq=self._seq)
        return self.pending

    # ----------------------------------------------------------------- inputs from the network

    def receive(self, event: FlowEvent, now: float) -> FlowAction | None:
        """Feed what happened to the pending action; returns the next action (or ``None``)."""
        if self.pending is None or event.seq != self.pending.seq:
            return self.pending
        action = self.pending
        self._note_answer(action, event)
        if isinstance(event, PinReceived) and isinstance(action, (CreatePin, CheckPin)):
            return self._on_pin(event, now)
        if isinstance(event, UserReceived) and isinstance(action, FetchUser):
            return self._on_user(event.user, action)
        if isinstance(event, TokenIssued) and isinstance(action, RefreshToken):
            return self._on_refreshed(event, now)
        if isinstance(event, RequestFailed):
            return self._on_failure(action, event.error, now)
        if isinstance(event, TimerFired) and isinstance(action, Expire):
            return self._finish(Status.EXPIRED)
        raise TypeError(f"{type(event).__name__} does not answer {type(action).__name__}")

    # ----------------------------------------------------------------- reading

    def seconds_left(self, now: float) -> int:
        """Whole seconds until the code expires (0 when there is no live code)."""
        if self.deadline is None or self.status is not Status.WAITING:
            return 0
        return max(0, math.ceil(self.deadline - now - 1e-9))

    @property
    def unreachable(self) -> bool:
        """Requests to plex.tv are being retried after getting no answer at all."""
        return self.reconnecting and self.unreachable_since is not None

    def seconds_until_retry(self, now: float) -> int:
        """Whole seconds until the next try while retrying after a fault (0 otherwise)."""
        if not self.reconnecting or self.pending is None:
            return 0
        return max(0, math.ceil(self.pending.due - now - 1e-9))

    @property
    def is_done(self) -> bool:
        """Nothing more will happen until :meth:`start` or :meth:`restart`."""
        return self.pending is None

    # ----------------------------------------------------------------- internals

    def _reset_login(self) -> None:
        self.pending = None
        self.pin = None
        self.token = None
        self.user = None
        self.error = None
        self.reconnecting = False
        self.verified = False
        self.account_checked = False
        self.deadline = None
        self.token_expires_at = None
        self.refreshes = 0
        self._refresh_at = None
        self._by_key = False
        self._failures = 0
        self._validating = False
        self.plex_tv_answered = False
        self.unreachable_since = None

    def _note_answer(self, action: FlowAction, event: FlowEvent) -> None:
        if isinstance(event, TimerFired):
            return
        if isinstance(event, RequestFailed):
            if isinstance(event.error, TransportError):
                if self.unreachable_since is None:
                    self.unreachable_since = action.due
                return
            if not isinstance(event.error, PlexPinError):
                return  # a bug of ours says nothing about plex.tv
        self.plex_tv_answered = True
        self.unreachable_since = None

    def _latest_unreachable_try(self, failed: FlowAction, now: float) -> float | None:
        """While plex.tv has never answered: the latest time a new try may start and still end
        by the give-up time, if it takes as long as ``failed`` did. ``None``: no give-up applies."""
        limit = self.give_up_unreachable_after
        if limit is None or self.plex_tv_answered or self.unreachable_since is None:
            return None
        took = max(0.0, now - failed.due)
        return self.unreachable_since + limit - took

    def _issue(self, kind: type, due: float, **fields: object) -> FlowAction:
        self._seq += 1
        self.pending = kind(seq=self._seq, due=due, **fields)
        return self.pending

    def _finish(self, status: Status) -> None:
        self.status = status
        self.pending = None
        self.reconnecting = False
        if status is not Status.WAITING:
            self.deadline = None
        return None

    def _on_pin(self, event: PinReceived, now: float) -> FlowAction | None:
        pin = event.pin
        self.pin = pin
        self._failures = 0
        self.reconnecting = False
        self.error = None
        # A JWT sign-in trusts only a token the driver has verified against plex.tv's keys.
        approved = pin.auth_token if not self.jwt else (event.issued.token if event.issued else None)
        if approved:
            self.token = approved
            self.key_rejected = False  # signed in again (with the new key)
            if event.issued is not None and self.jwt:
                self._set_expiry(event.issued, event.sent_at, event.expires_in, now)
            self.status = Status.AUTHORIZED
            self.deadline = None
            return self._issue(FetchUser, now, token=approved)
        self.status = Status.WAITING
        # expiresIn is whole seconds and plex.tv does not say which way it rounds (the emulator
        # rounds up), so a later answer can put the deadline up to a second past the real
        # expiry. Keep the earliest: the creation answer is exact, and a deadline that only
        # moves earlier never schedules a check after the pin has expired.
        deadline = event.sent_at + max(0, pin.expires_in)
        if self.deadline is None or deadline < self.deadline:
            self.deadline = deadline
        return self._schedule_check(now, now + self.poll_interval)

    def _on_user(self, user: PlexUser, action: FetchUser) -> FlowAction | None:
        self.user = user
        self.verified = True
        self.account_checked = True
        self.error = None
        self.reconnecting = False
        self._failures = 0
        if self._validating:
            self.token = action.token
            self._validating = False
        self.status = Status.AUTHORIZED
        return self._schedule_refresh()

    # ----------------------------------------------------------------- JWT refresh

    def _set_expiry(self, issued: IssuedToken, sent_at: float, expires_in: float | None, now: float) -> None:
        """Note when ``issued`` expires and when to refresh it.

        The refresh time is counted from when the request was sent, by the shorter of the
        token's own lifetime and what the wall clock says is left: a server clock ahead of ours
        then cannot push the refresh past the expiry, and one behind only makes it earlier."""
        lifetime = issued.lifetime
        left = lifetime if expires_in is None else min(lifetime, expires_in)
        self.token_expires_at = issued.expires_at
        # Never sooner than this: a token that arrives (nearly) expired must not start a storm.
        floor = max(self.poll_interval, min(60.0, lifetime * 0.1))
        self._refresh_at = max(sent_at + left - lifetime * REFRESH_SHARE, now + floor)

    def _schedule_refresh(self) -> FlowAction | None:
        if not self.jwt or self.token is None or self._refresh_at is None:
            self.pending = None
            return None
        return self._issue(RefreshToken, self._refresh_at)

    def _on_refreshed(self, event: TokenIssued, now: float) -> FlowAction | None:
        self.token = event.issued.token
        self._set_expiry(event.issued, event.sent_at, event.expires_in, now)
        self.refreshes += 1
        self._failures = 0
        self.reconnecting = False
        self.error = None
        self.status = Status.AUTHORIZED
        if self._by_key or not self.verified:
            # Signed in with a remembered key (or the account was never read): read it now.
            self._by_key = False
            return self._issue(FetchUser, now, token=self.token)
        return self._schedule_refresh()

    def _on_refresh_failure(self, error: BaseException, retryable: bool, now: float) -> FlowAction | None:
        if isinstance(error, InvalidTokenError):
            # 1097, 422, 401 or 498 from the refresh: plex.tv no longer takes this device's key
            # (usually the device was removed). The token goes; a new code, with a new key, comes.
            self._reset_login()
            self.key_rejected = True
            self.error = error
            self.status = Status.REQUESTING
            return self._issue(CreatePin, now, strong=self.strong, fresh_key=True)
        if self._by_key and not retryable:
            return self._finish(Status.ERROR)
        # Anything else may pass (the old token stays in place meanwhile): try again later.
        self.reconnecting = True
        return self._issue(RefreshToken, now + self._retry_delay(error))

    def _final_check_margin(self) -> float:
        return min(0.25, self.poll_interval / 2)

    def _schedule_check(self, now: float, wanted: float) -> FlowAction | None:
        """A check at ``wanted``, or, if that is too late, one last check just before the
        deadline (so an approval in the final second is still seen), then the expiry."""
        assert self.pin is not None and self.deadline is not None
        last_safe = self.deadline - self._final_check_margin()
        if wanted < last_safe:
            return self._issue(CheckPin, wanted, pin_id=self.pin.id)
        if isinstance(self.pending, CheckPin) and self.pending.due >= last_safe:
            # The check that just answered was already the last one.
            return self._issue(Expire, max(now, self.deadline))
        if now < last_safe:
            return self._issue(CheckPin, last_safe, pin_id=self.pin.id)
        return self._issue(Expire, max(now, self.deadline))

    def _backoff(self) -> float:
        self._failures += 1
        ceiling = min(self.max_backoff, self.poll_interval * 2 ** (self._failures - 1))
        return max(self.poll_interval, ceiling * (0.5 + 0.5 * self._rng.random()))

    def _retry_delay(self, error: BaseException) -> float:
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            self._failures += 1
            # Never earlier than the server asked; a little jitter spreads a crowd of clients.
            return max(self.poll_interval, error.retry_after) * (1 + 0.1 * self._rng.random())
        return self._backoff()

    def _on_failure(self, action: FlowAction, error: BaseException, now: float) -> FlowAction | None:
        self.error = error
        retryable = isinstance(error, PlexPinError) and error.retryable
        if isinstance(action, RefreshToken):
            return self._on_refresh_failure(error, retryable, now)
        if isinstance(action, FetchUser):
            return self._on_user_failure(action, error, retryable, now)
        if isinstance(action, CreatePin):
            if not retryable:
                return self._finish(Status.ERROR)
            self.reconnecting = True
            retry_at = now + self._retry_delay(error)
            latest = self._latest_unreachable_try(action, now)
            if latest is not None:
                if now >= latest:
                    assert self.unreachable_since is not None
                    self.error = PlexTvUnreachableError(now - self.unreachable_since, error)
                    return self._finish(Status.ERROR)
                retry_at = min(retry_at, latest)
            return self._issue(CreatePin, retry_at, strong=action.strong)
        # CheckPin (an Expire never fails)
        if isinstance(error, PinNotFoundError):
            return self._finish(Status.EXPIRED)
        if not retryable:
            return self._finish(Status.ERROR)
        self.reconnecting = True
        wanted = now + self._retry_delay(error)
        if isinstance(error, RateLimitedError):
            # Retry-After is a floor: check no earlier, and if that leaves no time, expire.
            assert self.pin is not None and self.deadline is not None
            if wanted < self.deadline - self._final_check_margin():
                return self._issue(CheckPin, wanted, pin_id=self.pin.id)
            return self._issue(Expire, max(now, self.deadline))
        self.pending = None  # a failed check never counts as the last one
        return self._schedule_check(now, wanted)

    def _on_user_failure(
        self, action: FetchUser, error: BaseException, retryable: bool, now: float
    ) -> FlowAction | None:
        self.account_checked = True
        if self.jwt and isinstance(error, TokenExpiredError):
            # 498: the Plex JWT expired before it could be refreshed; refresh it now.
            self.account_checked = False
            return self._issue(RefreshToken, now)
        if self._validating:
            if isinstance(error, InvalidTokenError):
                # A stale remembered or supplied token: drop it and sign in with a code instead.
                self._validating = False
                self.token_rejected = True
                # An earlier transient failure may have kept it as "unverified"; it is known bad now.
                self.token = None
                self.error = None
                self.account_checked = False
                self.status = Status.REQUESTING
                return self._issue(CreatePin, now, strong=self.strong)
            # Cannot tell: keep the token, say it is unverified, and keep trying quietly.
            self.token = action.token
            self.status = Status.AUTHORIZED
            self.verified = False
        if not retryable or self._failures + 1 >= USER_FETCH_ATTEMPTS:
            self.reconnecting = False
            self._failures = 0
            return self._schedule_refresh()
        self.reconnecting = True
        return self._issue(FetchUser, now + self._retry_delay(error), token=action.token)
