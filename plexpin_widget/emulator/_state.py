"""The emulator's clock and its pins: creation, lookup, expiry and scheduled auto-claims.

Nothing here is thread-safe on its own; :class:`PlexTvEmulator` holds one lock around it.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import heapq
import math
import secrets
import string
import threading
import time
from typing import Any

from plexpin_widget._models import GeoData, Pin

__all__ = ["Clock", "PinRecord", "PinStore", "new_token"]

_SHORT_ALPHABET = string.ascii_uppercase + string.digits
_STRONG_ALPHABET = string.ascii_lowercase + string.digits
_TOKEN_ALPHABET = string.ascii_letters + string.digits + "_-"
_UTC = _dt.timezone.utc

# Where plex.tv says every pin came from (the SPEC example, all 11 keys).
LOCATION = GeoData(
    code="NL",
    continent_code="EU",
    country="The Netherlands",
    city="Breda",
    european_union_member=True,
    time_zone="Europe/Amsterdam",
    postal_code="4814",
    in_privacy_restricted_country=True,
    in_privacy_restricted_region=True,
    subdivisions="North Brabant",
    coordinates="51.5869, 4.7471",
)


def new_token() -> str:
    """A classic plex.tv token: 20 characters of ``[A-Za-z0-9_-]``."""
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(20))


class Clock:
    """The emulator's "now": real wall-clock time plus an offset that tests move forward.

    Pin expiry, auto-claims and the rate-limit window all follow this clock, so a test can
    expire a pin with ``clock.advance(901)`` instead of waiting fifteen minutes.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, as the emulator sees it."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward (never back) and return the new now."""
        seconds = float(seconds)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"the clock only moves forward by a finite amount, not {seconds!r}")
        with self._lock:
            self._offset += seconds
        return self.now()

    @property
    def offset(self) -> float:
        """How far ahead of real time the clock runs, in seconds."""
        return self._offset

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._offset = 0.0


@dataclasses.dataclass
class PinRecord:
    """A pin as the emulator stores it (mutable; :meth:`to_model` gives the wire view)."""

    id: int
    code: str
    strong: bool
    product: str
    client_identifier: str
    qr: str
    created: float
    lifetime: int
    auth_token: str | None = None
    claim_at: float | None = None
    # Set when the pin was created with a device key: it then hands out a Plex JWT (``jwt``,
    # after the deviceJWT exchange), never the approving account's classic ``auth_token``.
    jwk: dict[str, Any] | None = None
    jwt: str | None = None

    @property
    def expires(self) -> float:
        return self.created + self.lifetime

    def expired(self, now: float) -> bool:
        return now >= self.expires

    @property
    def handed_out_token(self) -> str | None:
        """What ``authToken`` carries once exchanged: the classic token, or a JWK pin's Plex JWT."""
        return self.jwt if self.jwk is not None else self.auth_token

    def to_model(self, now: float) -> Pin:
        """The :class:`Pin` plex.tv would send at ``now`` (``expiresIn``: seconds left, rounded up)."""
        created = _dt.datetime.fromtimestamp(math.floor(self.created), _UTC)
        return Pin(
            id=self.id,
            code=self.code,
            product=self.product,
            trusted=False,
            qr=self.qr,
            client_identifier=self.client_identifier,
            location=LOCATION,
            expires_in=max(0, math.ceil(self.expires - now)),
            created_at=created,
            expires_at=created + _dt.timedelta(seconds=self.lifetime),
            auth_token=self.handed_out_token,
            # plex.tv says null until the pin is claimed, then false (an existing account).
            new_registration=False if self.auth_token else None,
        )


class PinStore:
    """All pins ever created (until reset), indexed by id and by code."""

    def __init__(self) -> None:
        self._by_id: dict[int, PinRecord] = {}
        self._by_code: dict[str, int] = {}
        self._schedule: list[tuple[float, int]] = []

    def __len__(self) -> int:
        return len(self._by_id)

    def records(self) -> list[PinRecord]:
        return list(self._by_id.values())

    def create(
        self,
        *,
        strong: bool,
        lifetime: int,
        client_identifier: str,
        product: str,
        qr_base: str,
        now: float,
        claim_delay: float | None,
        jwk: dict[str, Any] | None = None,
    ) -> PinRecord:
        pin_id = secrets.randbelow(2**31 - 100_000_000) + 100_000_000
        while pin_id in self._by_id:
            pin_id = secrets.randbelow(2**31 - 100_000_000) + 100_000_000
        code = self._free_code(strong, now)
        record = PinRecord(
            id=pin_id,
            code=code,
            strong=strong,
            product=product,
            client_identifier=client_identifier,
            qr=f"{qr_base}/api/v2/pins/qr/{code}",
            created=now,
            lifetime=lifetime,
            jwk=jwk,
        )
        if claim_delay is not None:
            record.claim_at = now + claim_delay
            heapq.heappush(self._schedule, (record.claim_at, pin_id))
        self._by_id[pin_id] = record
        self._by_code[code] = pin_id
        return record

    def _free_code(self, strong: bool, now: float) -> str:
        alphabet, length = (_STRONG_ALPHABET, 25) if strong else (_SHORT_ALPHABET, 4)
        while True:
            code = "".join(secrets.choice(alphabet) for _ in range(length))
            # A code may be reused once its old pin has expired, as on plex.tv.
            holder = self.by_code(code)
            if holder is None or holder.expired(now):
                return code

    def get(self, pin_id: int) -> PinRecord | None:
        return self._by_id.get(pin_id)

    def by_code(self, code: str) -> PinRecord | None:
        """The pin with ``code``; short codes match whatever case the person typed."""
        for candidate in (code, code.upper(), code.lower()):
            pin_id = self._by_code.get(candidate)
            if pin_id is not None:
                return self._by_id.get(pin_id)
        return None

    def due_auto_claims(self, now: float) -> list[PinRecord]:
        """Pins whose scheduled auto-claim time has come (each returned once)."""
        due: list[PinRecord] = []
        while self._schedule and self._schedule[0][0] <= now:
            claim_at, pin_id = heapq.heappop(self._schedule)
            record = self._by_id.get(pin_id)
            if record is not None and record.claim_at == claim_at:
                due.append(record)
        return due

    def cancel_auto_claims(self) -> None:
        for record in self._by_id.values():
            record.claim_at = None
        self._schedule.clear()

    def clear(self) -> None:
        self._by_id.clear()
        self._by_code.clear()
        self._schedule.clear()
