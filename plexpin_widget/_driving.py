"""What the asyncio driver and the blocking driver share: the action table, the flow they
drive together, and the inbox through which other threads hand them work.

Adding an action
----------------
:data:`ROUTES` is the one place that says how a :class:`~plexpin_widget._flow.PinFlow` action is
carried out. A new action (say a ``RefreshToken`` that needs a nonce and then a token) takes:

1. the action and its answer event in ``_flow.py``, where the flow decides when it is due and
   what follows it;
2. the client method(s) in ``_client.py``, sync and async with the same name and arguments;
3. one :class:`Route` here: ``request`` calls the client method (the same lambda serves both
   drivers: the blocking client returns the result, the asyncio client an awaitable), and
   ``answer`` turns the result into the event the flow expects.

Neither driver changes. An action that needs two requests (a nonce, then a token) is best two
actions, so that the flow sees, schedules and retries each step; otherwise one client method
that makes both requests. An action with no request (a timer, like :class:`Expire`) has
``request=None``, and its ``answer`` is fed when it falls due.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable
from typing import Any

from ._flow import (
    CheckPin,
    CreatePin,
    Expire,
    FetchUser,
    FlowAction,
    FlowEvent,
    PinFlow,
    PinReceived,
    RefreshToken,
    RequestFailed,
    Status,
    TimerFired,
    TokenIssued,
    UserReceived,
)

__all__ = ["ROUTES", "Inbox", "Route", "SharedFlow", "Step", "resolve", "route_for"]

# The longest a driver sleeps without waking to refresh the countdown.
TICK = 1.0
# With no countdown (signed in, a JWT refresh days away) a driver still wakes this often, so a
# long sleep never outlives a change it was not told about; but observers are not woken each second.
IDLE_TICK = 30.0
# A check due less than this before the countdown's second-next step shows the next step
# itself (see SharedFlow.next_tick); its answer must arrive before the step after.
ANSWER_MARGIN = 0.15


# --------------------------------------------------------------------------- the action table


@dataclasses.dataclass(frozen=True)
class Route:
    """How a driver carries out one kind of action.

    ``request(client, action)`` makes the request (``None``: the action is only a timer);
    ``answer(action, result, sent_at)`` is the event to feed the flow when it succeeded.
    """

    request: Callable[[Any, Any], Any] | None
    answer: Callable[[Any, Any, float], FlowEvent]

    def event(self, action: FlowAction, result: Any, sent_at: float) -> FlowEvent:
        """The event for ``result``: the answer, or :class:`RequestFailed` if it is an exception."""
        if isinstance(result, BaseException):
            return RequestFailed(action.seq, result)
        return self.answer(action, result, sent_at)


def _pin_received(action: CreatePin | CheckPin, pin: Any, sent_at: float) -> FlowEvent:
    # A JWT login's client answers a check with a JwtPin: the pin and its verified Plex JWT.
    jwt_pin = getattr(pin, "pin", None)
    if jwt_pin is not None:
        return PinReceived(action.seq, jwt_pin, sent_at, pin.issued, pin.expires_in)
    return PinReceived(action.seq, pin, sent_at)


def _create_pin(client: Any, action: CreatePin) -> Any:
    if action.fresh_key:  # only a JWT login's flow asks for a new key (see _device_auth)
        return client.create_pin(strong=action.strong, fresh_key=True)
    return client.create_pin(strong=action.strong)


ROUTES: dict[type, Route] = {
    CreatePin: Route(_create_pin, _pin_received),
    CheckPin: Route(lambda client, action: client.check_pin(action.pin_id), _pin_received),
    RefreshToken: Route(
        lambda client, action: client.refresh_token(),
        lambda action, new, sent_at: TokenIssued(action.seq, new.issued, sent_at, new.expires_in),
    ),
    FetchUser: Route(
        lambda client, action: client.get_user(action.token),
        lambda action, user, sent_at: UserReceived(action.seq, user),
    ),
    Expire: Route(None, lambda action, result, sent_at: TimerFired(action.seq)),
}


def route_for(action: FlowAction) -> Route:
    try:
        return ROUTES[type(action)]
    except KeyError:
        raise TypeError(f"cannot perform {type(action).__name__}") from None


@dataclasses.dataclass(frozen=True)
class Step:
    """One action being carried out: its route, and when it began (the request's send time)."""

    action: FlowAction
    route: Route
    sent_at: float

    @property
    def sends(self) -> bool:
        """Whether the action is a request (else it only marks a time)."""
        return self.route.request is not None

    def send(self, client: Any) -> Any:
        """Make the request: the result from a blocking client, an awaitable from an asyncio one."""
        assert self.route.request is not None
        return self.route.request(client, self.action)


# --------------------------------------------------------------------------- the shared flow


class SharedFlow:
    """One flow, the lock that guards it, its clock and who to tell when it changed.

    The session and both drivers hold the same instance; whoever touches ``flow`` holds ``lock``.
    """

    def __init__(
        self, flow: PinFlow, clock: Callable[[], float], notify: Callable[[], None], *, ticks: bool = True
    ) -> None:
        self.flow = flow
        self.clock = clock
        self.notify = notify
        #: Whether anyone shows the countdown; if not, the drivers sleep until the next action.
        self.ticks = ticks
        self.lock = threading.RLock()

    def feed(self, event: FlowEvent) -> None:
        with self.lock:
            self.flow.receive(event, self.clock())
        self.notify()

    def begin(self, action: FlowAction) -> Step:
        """Start carrying out ``action`` (it is due): the step to :meth:`finish` with its result."""
        return Step(action, route_for(action), self.clock())

    def finish(self, step: Step, result: Any) -> None:
        """Feed the flow what ``step`` came to: its answer, or the exception it raised."""
        self.feed(step.route.event(step.action, result, step.sent_at))

    def is_settled(self) -> bool:
        flow = self.flow
        # A sign-in counts once the account has been read (or that read failed once), so that
        # whoever waited sees "Signed in as ..." with the name filled in.
        return flow.status in (Status.EXPIRED, Status.CANCELLED, Status.ERROR) or (
            flow.status is Status.AUTHORIZED
            and flow.token is not None
            and (flow.account_checked or flow.pending is None)
        )

    def next_tick(self, now: float, due_in: float = math.inf) -> float:
        """Seconds until the driver must wake to refresh the countdown (never, for nobody).

        ``due_in`` is how soon the pending action is due. When it falls after the countdown's
        next step but before the one after (less a margin for the answer to arrive), there is
        no separate tick: the action's outcome, fed back, shows that step, and no second is
        skipped. A login checked each second so wakes once a second, not twice."""
        if not self.ticks:
            return math.inf
        tick = self._countdown_step(now)
        if due_in < tick + TICK - ANSWER_MARGIN:
            return math.inf
        return tick

    def _countdown_step(self, now: float) -> float:
        deadline = self.flow.deadline
        if self.flow.status is Status.AUTHORIZED:
            return IDLE_TICK
        if deadline is None or self.flow.status is not Status.WAITING:
            return TICK
        fraction = (deadline - now) % 1.0
        return fraction if fraction > 0.01 else TICK


# --------------------------------------------------------------------------- work from other threads


class Inbox:
    """Work posted from other threads, run by whichever driver gets to it first."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._items: list[Callable[[], None]] = []
        self._wakeup = threading.Event()

    def put(self, work: Callable[[], None], *, wake: bool) -> None:
        """Queue ``work``; ``wake`` interrupts a blocking driver's sleep to run it now."""
        with self._lock:
            self._items.append(work)
            if wake:
                self._wakeup.set()

    def claim(self, work: Callable[[], None]) -> bool:
        """Take ``work`` out if no one ran it yet; True if the caller should run it."""
        with self._lock:
            if work not in self._items:
                return False
            self._items.remove(work)
            return True

    def drain(self) -> None:
        """Run everything queued, in order."""
        with self._lock:
            work, self._items = self._items, []
            self._wakeup.clear()
        for item in work:
            item()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; True if work was posted meanwhile."""
        return self._wakeup.wait(timeout)


def resolve(future: Any) -> None:
    """Complete an asyncio future with ``None`` unless it is done (a waiter, a driver's nap)."""
    if not future.done():
        future.set_result(None)
