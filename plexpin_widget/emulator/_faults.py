"""Injected failures: a first-come queue of rules, each firing on matching requests.

Kinds (what the client sees):

``"status"``     the given HTTP status with a plex.tv-style error body; the request is not processed.
``"rate_limit"`` 429 with ``Retry-After`` and ``{"errors":[{"code":1200,"message":"Too Many
                 Requests","status":429}]}``; not processed. (Code 1200 is an assumption: no public
                 capture of plex.tv's 429 body exists.)
``"latency"``    the normal answer, ``delay`` seconds late.
``"malformed"``  200 whose body is not JSON (nor XML); not processed.
``"truncated"``  200 with the first half of the normal body (the request *is* processed).
``"drop"``       the connection closes without any response; not processed.
``"pass"``       the normal answer (a placeholder in :meth:`Faults.sequence`).

Any kind may carry a ``delay``. Rules are tried in the order they were added; the first one
that matches the method and path and wins its probability roll fires and uses up one of its
``count``.
"""

from __future__ import annotations

import dataclasses
import random as _random
import threading
from collections.abc import Iterable, Sequence

__all__ = ["FAULT_KINDS", "Fault", "FaultRule", "Faults", "RATE_LIMIT_CODE"]

FAULT_KINDS = ("status", "rate_limit", "latency", "malformed", "truncated", "drop", "pass")
RATE_LIMIT_CODE = 1200
DEFAULT_PREFIX = "/api/v2/pins"


@dataclasses.dataclass(frozen=True)
class Fault:
    """One firing of a rule: what to do to this request."""

    kind: str
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    code: int | None = None
    message: str | None = None


@dataclasses.dataclass
class FaultRule:
    """A rule in :class:`Faults`. ``remaining`` is ``None`` for a rule that never runs out."""

    kind: str
    path_prefix: str = DEFAULT_PREFIX
    method: str | None = None
    remaining: int | None = 1
    status: int | tuple[int, ...] = 503
    retry_after: float | None = None
    delay: float = 0.0
    probability: float = 1.0
    code: int | None = None
    message: str | None = None
    rng: _random.Random = dataclasses.field(default_factory=_random.Random, repr=False)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return path.startswith(self.path_prefix)

    def fire(self) -> Fault:
        status = self.status if isinstance(self.status, int) else self.rng.choice(self.status)
        if self.kind == "rate_limit":
            status = 429
        return Fault(self.kind, status, self.retry_after, self.delay, self.code, self.message)


def _validate(kind: str, count: int | None, probability: float, delay: float) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
    if count is not None and count < 1:
        raise ValueError("count must be at least 1 (or None for no limit)")
    if not 0.0 <= probability <= 1.0:
        raise ValueError("probability must be between 0 and 1")
    if delay < 0:
        raise ValueError("delay must not be negative")


class Faults:
    """The emulator's fault rules (``emu.faults``); safe to change from any thread."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(
        self,
        kind: str,
        *,
        path_prefix: str = DEFAULT_PREFIX,
        method: str | None = None,
        count: int | None = 1,
        status: int | Sequence[int] = 503,
        retry_after: float | None = None,
        delay: float = 0.0,
        probability: float = 1.0,
        seed: int | None = None,
        code: int | None = None,
        message: str | None = None,
    ) -> FaultRule:
        """Queue a fault for the next ``count`` requests (``None``: all) whose path starts with
        ``path_prefix`` (and whose method is ``method``, if given).

        ``status`` is the answer of a ``"status"`` fault (a sequence picks one at random per
        firing); ``retry_after`` is sent as ``Retry-After`` (a ``"rate_limit"`` fault always
        sends one, default 1 s); ``delay`` holds the answer back; ``probability`` lets each
        matching request escape the fault, rolled with a ``random.Random(seed)``; ``code`` and
        ``message`` override the error body's Plex code and text.
        """
        _validate(kind, count, probability, delay)
        if kind == "rate_limit" and retry_after is None:
            retry_after = 1
        rule = FaultRule(
            kind=kind,
            path_prefix=path_prefix,
            method=method,
            remaining=count,
            status=status if isinstance(status, int) else tuple(status),
            retry_after=retry_after,
            delay=float(delay),
            probability=float(probability),
            code=code,
            message=message,
            rng=_random.Random(seed),
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def sequence(
        self,
        steps: Iterable[int | str | None],
        *,
        path_prefix: str = DEFAULT_PREFIX,
        method: str | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> list[FaultRule]:
        """One fault per coming request, in order: ``sequence([503, 503, 429, None, "drop"])``.

        An int is a status (429 becomes a ``"rate_limit"`` fault, 200 or ``None`` lets that
        request through untouched); a string is a fault kind (``"latency"`` uses ``delay``).
        """
        rules: list[FaultRule] = []
        for step in steps:
            if step is None or step == 200:
                rules.append(self.add("pass", path_prefix=path_prefix, method=method))
            elif isinstance(step, str):
                rules.append(
                    self.add(step, path_prefix=path_prefix, method=method, retry_after=retry_after, delay=delay)
                )
            elif step == 429:
                rules.append(self.add("rate_limit", path_prefix=path_prefix, method=method, retry_after=retry_after))
            else:
                rules.append(self.add("status", path_prefix=path_prefix, method=method, status=int(step)))
        return rules

    def random(
        self,
        kind: str = "status",
        *,
        rate: float,
        seed: int | None = None,
        path_prefix: str = DEFAULT_PREFIX,
        method: str | None = None,
        status: int | Sequence[int] = (500, 502, 503, 504),
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> FaultRule:
        """A standing fault hitting a ``rate`` share of matching requests, reproducibly with ``seed``.

        ``faults.random("status", rate=0.3, seed=7)`` answers about 30 % of pin requests with a
        5xx status picked from ``status``, for as long as the rule stays (until :meth:`clear`).
        """
        return self.add(
            kind,
            path_prefix=path_prefix,
            method=method,
            count=None,
            status=status,
            retry_after=retry_after,
            delay=delay,
            probability=rate,
            seed=seed,
        )

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        """The rules still waiting, in the order they are tried (a copy)."""
        with self._lock:
            return list(self._rules)

    def __len__(self) -> int:
        with self._lock:
            return len(self._rules)

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any, using up one firing of its rule."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.probability < 1.0 and rule.rng.random() >= rule.probability:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                return rule.fire()
        return None
