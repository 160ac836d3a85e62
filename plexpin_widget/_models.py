"""Typed, immutable models of what plex.tv sends: pins, their location, users and resources.

Parsing is tolerant in the ways real plex.tv payloads vary (missing keys, ``"Unknown"``
booleans, numeric postal codes, timestamps with or without milliseconds) and strict about
the few fields without which a value is meaningless (a pin without ``id`` or ``code``).

The wire name of every field is derived in one place, :func:`wire_name`. Tokens are kept out
of ``repr`` so that printing a model never shows a secret.

This module imports nothing from the rest of the package.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

__all__ = [
    "Connection",
    "GeoData",
    "IssuedToken",
    "Pin",
    "PlexResource",
    "PlexUser",
    "Subscription",
    "parse_timestamp",
    "wire_name",
]

_UTC = _dt.timezone.utc
_T = TypeVar("_T")


class ModelError(ValueError):
    """A payload cannot be turned into a model; the message names the model and the field."""


# --------------------------------------------------------------------------- wire names


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@functools.lru_cache(maxsize=256)
def wire_name(model: type, field_name: str) -> str:
    """The key plex.tv uses for ``field_name`` of ``model``.

    plex.tv writes most objects in camelCase, but the pin's ``location`` (GeoData) in
    snake_case, and a few keys break the pattern (``IPv6``); models say so with
    ``_WIRE_CASE`` and ``_WIRE_EXCEPTIONS``. Cached: every pin check parses a pin.
    """
    exceptions: Mapping[str, str] = getattr(model, "_WIRE_EXCEPTIONS", {})
    if field_name in exceptions:
        return exceptions[field_name]
    if getattr(model, "_WIRE_CASE", "camel") == "snake":
        return field_name
    return _camel(field_name)


# --------------------------------------------------------------------------- coercions

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _as_bool(value: Any) -> bool | None:
    """``True``/``False`` for the spellings Plex uses, ``None`` for missing or ``"Unknown"``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value in (0, 1):
            return bool(value)
        return None
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return None


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float, str)):
        return str(value)
    return None


def _as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            return None
        return int(number) if math.isfinite(number) else None
    return None


_TS_PATTERN = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*"
    r"(Z|UTC|GMT|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)


def parse_timestamp(value: Any) -> _dt.datetime | None:
    """A timezone-aware UTC datetime from any timestamp form plex.tv uses.

    Accepts ISO 8601 with or without milliseconds (``2024-07-16T17:03:05Z``,
    ``2019-03-28T00:56:17.247Z``), the XML form ``2024-06-20 06:55:56 UTC``, explicit offsets,
    and epoch seconds. Naive timestamps are taken as UTC. Returns ``None`` for anything else.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, _dt.datetime):
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            return None
        try:
            return _dt.datetime.fromtimestamp(value, _UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    # A waiting login reads the same two timestamps in every pin check; no real one is long.
    return _cached_timestamp(value) if len(value) <= 64 else _parse_timestamp_text(value)


def _parse_timestamp_text(value: str) -> _dt.datetime | None:
    text = value.strip()
    if re.fullmatch(r"\d{9,11}", text):
        return parse_timestamp(int(text))
    match = _TS_PATTERN.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz: _dt.tzinfo = _UTC
    if zone and zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        offset = _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = _dt.timezone(offset if zone[0] == "+" else -offset)
    try:
        stamp = _dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError:
        return None
    return stamp.astimezone(_UTC)


def _format_timestamp(value: _dt.datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(_UTC)
    if value.microsecond:
        # Keep sub-second precision (2019 payloads had milliseconds) so to_json round-trips.
        return value.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _require_mapping(model: str, payload: Any) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise ModelError(f"{model}: expected a JSON object, got {type(payload).__name__}")
    return payload


def _get(model: type, payload: Mapping[str, Any], field_name: str) -> Any:
    return payload.get(wire_name(model, field_name))



_cached_timestamp = functools.lru_cache(maxsize=256)(_parse_timestamp_text)

# --------------------------------------------------------------------------- GeoData


@dataclasses.dataclass(frozen=True)
class GeoData:
    """Where plex.tv thinks the request came from (the pin's ``location``).

    Every key is optional: older payloads lack ``in_privacy_restricted_region``,
    ``european_union_member`` or ``continent_code``, and plex.tv writes ``"Unknown"`` for
    booleans it cannot tell, which becomes ``None`` here.
    """

    _WIRE_CASE: ClassVar[str] = "snake"

    code: str | None = None
    continent_code: str | None = None
    country: str | None = None
    city: str | None = None
    european_union_member: bool | None = None
    time_zone: str | None = None
    postal_code: str | None = None
    in_privacy_restricted_country: bool | None = None
    in_privacy_restricted_region: bool | None = None
    subdivisions: str | None = None
    coordinates: str | None = None

    @classmethod
    def from_json(cls, payload: Any) -> GeoData:
        data = _require_mapping("location", payload)
        values: dict[str, Any] = {}
        for name, key, is_bool in _geo_fields():
            raw = data.get(key)
            values[name] = _as_bool(raw) if is_bool else _as_str(raw)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return {wire_name(type(self), f.name): getattr(self, f.name) for f in dataclasses.fields(self)}

    @property
    def latitude_longitude(self) -> tuple[float, float] | None:
        """``coordinates`` as two floats, or ``None`` when absent or unreadable."""
        if not self.coordinates:
            return None
        parts = [p.strip() for p in self.coordinates.split(",")]
        if len(parts) != 2:
            return None
        try:
            lat, lon = float(parts[0]), float(parts[1])
        except ValueError:
            return None
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return None
        return lat, lon


@functools.lru_cache(maxsize=1)
def _geo_fields() -> tuple[tuple[str, str, bool], ...]:
    """(field, wire key, is a flag) for each GeoData field, worked out once."""
    return tuple((f.name, wire_name(GeoData, f.name), "bool" in str(f.type)) for f in dataclasses.fields(GeoData))


# --------------------------------------------------------------------------- Pin


@dataclasses.dataclass(frozen=True)
class Pin:
    """A plex.tv PIN, as returned by ``POST``/``GET /api/v2/pins``.

    ``auth_token`` is ``None`` until the person approves the code; it never appears in
    ``repr``. ``expires_in`` is the number of seconds that were left when plex.tv answered.
    """

    id: int
    code: str
    product: str = ""
    trusted: bool = False
    qr: str | None = None
    client_identifier: str = ""
    location: GeoData | None = None
    expires_in: int = 0
    created_at: _dt.datetime | None = None
    expires_at: _dt.datetime | None = None
    auth_token: str | None = dataclasses.field(default=None, repr=False)
    new_registration: bool | None = None

    @property
    def is_claimed(self) -> bool:
        """Whether the person has approved the code (the pin carries a token)."""
        return bool(self.auth_token)

    @property
    def is_strong(self) -> bool:
        """Strong pins have long codes meant for a URL; short ones are typed at plex.tv/link."""
        return len(self.code) > 8

    @property
    def lifetime(self) -> _dt.timedelta | None:
        if self.created_at is None or self.expires_at is None:
            return None
        return self.expires_at - self.created_at

    @classmethod
    def from_json(cls, payload: Any) -> Pin:
        """Parse the JSON pin object; raises :class:`ValueError` naming a missing ``id``/``code``."""
        data = _require_mapping("pin", payload)
        pin_id = _as_int(_get(cls, data, "id"))
        if pin_id is None:
            raise ModelError("pin: field 'id' is missing or not an integer")
        code = _get(cls, data, "code")
        if not isinstance(code, str) or not code:
            raise ModelError("pin: field 'code' is missing or not a string")
        location_raw = _get(cls, data, "location")
        created_at = parse_timestamp(_get(cls, data, "created_at"))
        expires_at = parse_timestamp(_get(cls, data, "expires_at"))
        expires_in = _as_int(_get(cls, data, "expires_in"))
        if expires_in is None:
            if expires_at is not None and created_at is not None:
                expires_in = int((expires_at - created_at).total_seconds())
            else:
                expires_in = 0
        token = _get(cls, data, "auth_token")
        return cls(
            id=pin_id,
            code=code,
            product=_as_str(_get(cls, data, "product")) or "",
            trusted=bool(_as_bool(_get(cls, data, "trusted"))),
            qr=_as_str(_get(cls, data, "qr")) or None,
            client_identifier=_as_str(_get(cls, data, "client_identifier")) or "",
            location=GeoData.from_json(location_raw) if isinstance(location_raw, Mapping) else None,
            expires_in=max(0, expires_in),
            created_at=created_at,
            expires_at=expires_at,
            auth_token=token if isinstance(token, str) and token else None,
            new_registration=_as_bool(_get(cls, data, "new_registration")),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object plex.tv would send for this pin (used by the emulator)."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, GeoData):
                value = value.to_json()
            elif isinstance(value, _dt.datetime):
                value = _format_timestamp(value)
            out[wire_name(type(self), field.name)] = value
        return out


# --------------------------------------------------------------------------- PlexUser


@dataclasses.dataclass(frozen=True)
class Subscription:
    """The Plex Pass subscription block of a user."""

    active: bool | None = None
    status: str | None = None
    plan: str | None = None
    payment_service: str | None = None
    subscribed_at: _dt.datetime | None = None
    features: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, payload: Any) -> Subscription:
        if not isinstance(payload, Mapping):
            return cls()
        features = payload.get("features")
        return cls(
            active=_as_bool(_get(cls, payload, "active")),
            status=_as_str(_get(cls, payload, "status")),
            plan=_as_str(_get(cls, payload, "plan")),
            payment_service=_as_str(_get(cls, payload, "payment_service")),
            subscribed_at=parse_timestamp(_get(cls, payload, "subscribed_at")),
            features=_str_tuple(features),
        )


def _str_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    if isinstance(value, Sequence):
        out = []
        for item in value:
            if isinstance(item, Mapping):
                item = item.get("id")
            text = _as_str(item)
            if text:
                out.append(text)
        return tuple(out)
    return ()


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    """A Plex JWT that passed the check against plex.tv's keys, with the times it carries.

    ``issued_at`` and ``expires_at`` are timezone-aware UTC datetimes read from the token's
    ``iat`` and ``exp`` claims. The token is kept out of ``repr``.
    """

    token: str = dataclasses.field(repr=False)
    issued_at: _dt.datetime
    expires_at: _dt.datetime

    @property
    def lifetime(self) -> float:
        """Seconds from issue to expiry (the plex.tv default is 7 days)."""
        return max(0.0, (self.expires_at - self.issued_at).total_seconds())


@dataclasses.dataclass(frozen=True)
class PlexUser:
    """The account behind a token, from ``GET /api/v2/user``. ``auth_token`` is not in ``repr``."""

    id: int
    uuid: str = ""
    username: str = ""
    title: str = ""
    email: str | None = None
    friendly_name: str | None = None
    thumb: str | None = None
    locale: str | None = None
    country: str | None = None
    confirmed: bool | None = None
    email_only_auth: bool | None = None
    has_password: bool | None = None
    protected: bool | None = None
    restricted: bool | None = None
    anonymous: bool | None = None
    home: bool | None = None
    guest: bool | None = None
    home_admin: bool | None = None
    home_size: int | None = None
    max_home_size: int | None = None
    two_factor_enabled: bool | None = None
    mailing_list_status: str | None = None
    scrobble_types: tuple[str, ...] = ()
    subscription: Subscription = dataclasses.field(default_factory=Subscription)
    roles: tuple[str, ...] = ()
    entitlements: tuple[str, ...] = ()
    joined_at: _dt.datetime | None = None
    remember_expires_at: _dt.datetime | None = None
    auth_token: str | None = dataclasses.field(default=None, repr=False)

    @property
    def display_name(self) -> str:
        """What a person would call this account: username, else title, else e-mail."""
        return self.username or self.title or self.friendly_name or self.email or f"user {self.id}"

    @classmethod
    def from_json(cls, payload: Any) -> PlexUser:
        data = _require_mapping("user", payload)
        user_id = _as_int(_get(cls, data, "id"))
        if user_id is None:
            raise ModelError("user: field 'id' is missing or not an integer")
        token = _get(cls, data, "auth_token")
        return cls(
            id=user_id,
            uuid=_as_str(_get(cls, data, "uuid")) or "",
            username=_as_str(_get(cls, data, "username")) or "",
            title=_as_str(_get(cls, data, "title")) or "",
            email=_as_str(_get(cls, data, "email")),
            friendly_name=_as_str(_get(cls, data, "friendly_name")),
            thumb=_as_str(_get(cls, data, "thumb")),
            locale=_as_str(_get(cls, data, "locale")),
            country=_as_str(_get(cls, data, "country")),
            confirmed=_as_bool(_get(cls, data, "confirmed")),
            email_only_auth=_as_bool(_get(cls, data, "email_only_auth")),
            has_password=_as_bool(_get(cls, data, "has_password")),
            protected=_as_bool(_get(cls, data, "protected")),
            restricted=_as_bool(_get(cls, data, "restricted")),
            anonymous=_as_bool(_get(cls, data, "anonymous")),
            home=_as_bool(_get(cls, data, "home")),
            guest=_as_bool(_get(cls, data, "guest")),
            home_admin=_as_bool(_get(cls, data, "home_admin")),
            home_size=_as_int(_get(cls, data, "home_size")),
            max_home_size=_as_int(_get(cls, data, "max_home_size")),
            two_factor_enabled=_as_bool(_get(cls, data, "two_factor_enabled")),
            mailing_list_status=_as_str(_get(cls, data, "mailing_list_status")),
            scrobble_types=_str_tuple(_get(cls, data, "scrobble_types")),
            subscription=Subscription.from_json(_get(cls, data, "subscription")),
            roles=_str_tuple(_get(cls, data, "roles")),
            entitlements=_str_tuple(_get(cls, data, "entitlements")),
            joined_at=parse_timestamp(_get(cls, data, "joined_at")),
            remember_expires_at=parse_timestamp(_get(cls, data, "remember_expires_at")),
            auth_token=token if isinstance(token, str) and token else None,
        )


# --------------------------------------------------------------------------- resources


@dataclasses.dataclass(frozen=True)
class Connection:
    """One way to reach a Plex Media Server."""

    _WIRE_EXCEPTIONS: ClassVar[Mapping[str, str]] = {"ipv6": "IPv6"}

    uri: str
    protocol: str = "https"
    address: str = ""
    port: int | None = None
    local: bool = False
    relay: bool = False
    ipv6: bool = False

    @classmethod
    def from_json(cls, payload: Any) -> Connection:
        data = _require_mapping("connection", payload)
        uri = _as_str(_get(cls, data, "uri"))
        if not uri:
            raise ModelError("connection: field 'uri' is missing")
        return cls(
            uri=uri,
            protocol=_as_str(_get(cls, data, "protocol")) or "https",
            address=_as_str(_get(cls, data, "address")) or "",
            port=_as_int(_get(cls, data, "port")),
            local=bool(_as_bool(_get(cls, data, "local"))),
            relay=bool(_as_bool(_get(cls, data, "relay"))),
            ipv6=bool(_as_bool(_get(cls, data, "ipv6"))),
        )

    def to_json(self) -> dict[str, Any]:
        return {wire_name(type(self), f.name): getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True)
class PlexResource:
    """A device on the account (a server, a player…), from ``GET /api/v2/resources``.

    ``access_token`` is the token for talking to that device; it is not in ``repr``.
    """

    name: str
    client_identifier: str
    product: str = ""
    product_version: str | None = None
    platform: str | None = None
    platform_version: str | None = None
    device: str | None = None
    created_at: _dt.datetime | None = None
    last_seen_at: _dt.datetime | None = None
    provides: tuple[str, ...] = ()
    owner_id: int | None = None
    source_title: str | None = None
    public_address: str | None = None
    owned: bool | None = None
    home: bool | None = None
    synced: bool | None = None
    relay: bool | None = None
    presence: bool | None = None
    https_required: bool | None = None
    public_address_matches: bool | None = None
    dns_rebinding_protection: bool | None = None
    nat_loopback_supported: bool | None = None
    connections: tuple[Connection, ...] = ()
    access_token: str | None = dataclasses.field(default=None, repr=False)

    @property
    def is_server(self) -> bool:
        return "server" in self.provides

    @classmethod
    def from_json(cls, payload: Any) -> PlexResource:
        data = _require_mapping("resource", payload)
        name = _as_str(_get(cls, data, "name"))
        if name is None:
            raise ModelError("resource: field 'name' is missing")
        connections_raw = _get(cls, data, "connections")
        connections: list[Connection] = []
        if isinstance(connections_raw, Sequence) and not isinstance(connections_raw, str):
            connections = [Connection.from_json(item) for item in connections_raw]
        token = _get(cls, data, "access_token")
        bools = {
            name_: _as_bool(_get(cls, data, name_))
            for name_ in (
                "owned", "home", "synced", "relay", "presence", "https_required",
                "public_address_matches", "dns_rebinding_protection", "nat_loopback_supported",
            )
        }
        return cls(
            name=name,
            client_identifier=_as_str(_get(cls, data, "client_identifier")) or "",
            product=_as_str(_get(cls, data, "product")) or "",
            product_version=_as_str(_get(cls, data, "product_version")),
            platform=_as_str(_get(cls, data, "platform")),
            platform_version=_as_str(_get(cls, data, "platform_version")),
            device=_as_str(_get(cls, data, "device")),
            created_at=parse_timestamp(_get(cls, data, "created_at")),
            last_seen_at=parse_timestamp(_get(cls, data, "last_seen_at")),
            provides=_str_tuple(_get(cls, data, "provides")),
            owner_id=_as_int(_get(cls, data, "owner_id")),
            source_title=_as_str(_get(cls, data, "source_title")),
            public_address=_as_str(_get(cls, data, "public_address")),
            connections=tuple(connections),
            access_token=token if isinstance(token, str) and token else None,
            **bools,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "connections":
                value = [c.to_json() for c in value]
            elif field.name == "provides":
                value = ",".join(value)
            elif isinstance(value, _dt.datetime):
                value = _format_timestamp(value)
            out[wire_name(type(self), field.name)] = value
        return out
