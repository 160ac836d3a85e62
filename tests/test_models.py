"""The floor-1 models parse every real plex.tv payload shape and never show a token in repr.

Payloads are the published captures quoted in docs/reference (plex-pin-api.md §2.1, §5):
the SPEC ``AuthPinContainer`` example (identical to plexcsharp's ``GetPinAuthPinContainer``),
the plex-api.rs ``pins_new``/``pins_linked``/``resources``/``user_info_free`` fixtures and the
dashotv strong pin.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from plexpin_widget._models import (
    Connection,
    GeoData,
    Pin,
    PlexResource,
    PlexUser,
    Subscription,
    parse_timestamp,
    wire_name,
)

UTC = dt.timezone.utc

SPEC_PIN: dict[str, Any] = {
    "id": 373040866,
    "code": "7RQZ",
    "product": "0",
    "trusted": False,
    "qr": "https://plex.tv/api/v2/pins/qr/7RQZ",
    "clientIdentifier": "9klpwueublnfbvlx95w83ah9",
    "location": {
        "code": "NL",
        "european_union_member": True,
        "continent_code": "EU",
        "country": "The Netherlands",
        "city": "Breda",
        "time_zone": "Europe/Amsterdam",
        "postal_code": "4814",
        "in_privacy_restricted_country": True,
        "in_privacy_restricted_region": True,
        "subdivisions": "North Brabant",
        "coordinates": "51.5869, 4.7471",
    },
    "expiresIn": 876,
    "createdAt": "2024-07-16T17:03:05Z",
    "expiresAt": "2024-07-16T17:18:05Z",
    "authToken": None,
    "newRegistration": None,
}

RS_PIN_NEW: dict[str, Any] = {
    "id": 111222333,
    "code": "CODE",
    "product": "0",
    "trusted": False,
    "clientIdentifier": "ClientId",
    "location": {
        "code": "GB",
        "european_union_member": False,
        "continent_code": "EU",
        "country": "United Kingdom",
        "city": "London",
        "time_zone": "Europe/London",
        "postal_code": "N19",
        "in_privacy_restricted_country": True,
        "subdivisions": "England, Windsor and Maidenhead",
        "coordinates": "51.000, -1",
    },
    "expiresIn": 900,
    "createdAt": "2022-02-01T00:00:00Z",
    "expiresAt": "2022-02-01T00:15:00Z",
    "authToken": None,
    "newRegistration": None,
}

RS_PIN_LINKED: dict[str, Any] = {**RS_PIN_NEW, "authToken": "auth_token", "newRegistration": False}

DASHOTV_STRONG_PIN: dict[str, Any] = {
    "id": 1234567890,
    "code": "adladoqienbfquboqoqiobeoi",
    "product": "DashoTV",
    "trusted": False,
    "qr": "https://plex.tv/api/v2/pins/qr/adladoqienbfquboqoqiobeoi",
    "clientIdentifier": "dashotv-web",
    "expiresIn": 1800,
    "createdAt": "2023-10-14T23:53:35Z",
    "expiresAt": "2023-10-15T00:23:35Z",
    "authToken": None,
}

# plex-api.rs user_info_free.json, trimmed of the blocks the model does not read.
RS_USER: dict[str, Any] = {
    "id": 12345,
    "uuid": "212acf24b07315e5",
    "username": "user@example.com",
    "title": "user@example.com",
    "email": "user@example.com",
    "friendlyName": "",
    "locale": None,
    "confirmed": True,
    "emailOnlyAuth": False,
    "hasPassword": True,
    "protected": False,
    "thumb": "https://plex.tv/users/212acf24b07315e5/avatar?c=123456",
    "authToken": "user-secret-token-xyz",
    "mailingListStatus": "unsubscribed",
    "mailingListActive": False,
    "scrobbleTypes": "",
    "country": "GB",
    "subscription": {
        "active": False,
        "subscribedAt": None,
        "status": "Inactive",
        "paymentService": None,
        "plan": None,
        "features": ["home", "adaptive_bitrate", "Android - PiP"],
    },
    "restricted": False,
    "anonymous": None,
    "home": False,
    "guest": False,
    "homeSize": 1,
    "homeAdmin": False,
    "maxHomeSize": 15,
    "rememberExpiresAt": 1642415212,
    "entitlements": [],
    "roles": [],
    "twoFactorEnabled": False,
    "joinedAt": 1339124759,
}

RS_RESOURCE: dict[str, Any] = {
    "name": "Box",
    "product": "Plex Media Server",
    "productVersion": "1.25.5.5492-12f6b8c83",
    "platform": "Linux",
    "platformVersion": "5.4.0-88-generic",
    "device": "Docker Container",
    "clientIdentifier": "client_id2",
    "createdAt": "2021-01-01T12:12:24Z",
    "lastSeenAt": "2022-01-01T13:43:34Z",
    "provides": "server",
    "ownerId": None,
    "sourceTitle": None,
    "publicAddress": "2.2.2.2",
    "accessToken": "resource-secret-token-abc",
    "owned": True,
    "home": False,
    "synced": False,
    "relay": True,
    "presence": True,
    "httpsRequired": False,
    "publicAddressMatches": False,
    "dnsRebindingProtection": False,
    "natLoopbackSupported": False,
    "connections": [
        {
            "protocol": "https",
            "address": "172.18.0.3",
            "port": 32400,
            "uri": "https://172-18-0-3.client-id2.plex.direct:32400",
            "local": True,
            "relay": False,
            "IPv6": False,
        },
        {
            "protocol": "https",
            "address": "2001:db8::1",
            "port": 32400,
            "uri": "https://2001-db8--1.client-id2.plex.direct:32400",
            "local": False,
            "relay": False,
            "IPv6": True,
        },
    ],
}

GEO_KEYS = (
    "code",
    "continent_code",
    "country",
    "city",
    "european_union_member",
    "time_zone",
    "postal_code",
    "in_privacy_restricted_country",
    "in_privacy_restricted_region",
    "subdivisions",
    "coordinates",
)


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _assert_utc(value: dt.datetime | None) -> None:
    assert isinstance(value, dt.datetime)
    assert value.tzinfo is not None
    assert value.utcoffset() == dt.timedelta(0)


# ----------------------------------------------------------------------------- Pin


def test_spec_pin_every_field() -> None:
    pin = Pin.from_json(SPEC_PIN)
    assert pin.id == 373040866 and type(pin.id) is int
    assert pin.code == "7RQZ" and type(pin.code) is str
    assert pin.product == "0" and type(pin.product) is str
    assert pin.trusted is False
    assert pin.qr == "https://plex.tv/api/v2/pins/qr/7RQZ"
    assert pin.client_identifier == "9klpwueublnfbvlx95w83ah9"
    assert isinstance(pin.location, GeoData)
    assert pin.expires_in == 876 and type(pin.expires_in) is int
    assert pin.created_at == _utc(2024, 7, 16, 17, 3, 5)
    assert pin.expires_at == _utc(2024, 7, 16, 17, 18, 5)
    _assert_utc(pin.created_at)
    _assert_utc(pin.expires_at)
    assert pin.auth_token is None
    assert pin.new_registration is None
    assert pin.is_claimed is False
    assert pin.is_strong is False
    assert pin.lifetime == dt.timedelta(seconds=900)
    # Every dataclass field was checked above; a new field must be added to this test.
    assert {f.name for f in dataclasses.fields(Pin)} == {
        "id", "code", "product", "trusted", "qr", "client_identifier", "location",
        "expires_in", "created_at", "expires_at", "auth_token", "new_registration",
    }


def test_spec_location_all_eleven_keys() -> None:
    geo = Pin.from_json(SPEC_PIN).location
    assert geo is not None
    assert {f.name for f in dataclasses.fields(GeoData)} == set(GEO_KEYS)
    assert geo.code == "NL"
    assert geo.continent_code == "EU"
    assert geo.country == "The Netherlands"
    assert geo.city == "Breda"
    assert geo.european_union_member is True
    assert geo.time_zone == "Europe/Amsterdam"
    assert geo.postal_code == "4814"
    assert geo.in_privacy_restricted_country is True
    assert geo.in_privacy_restricted_region is True
    assert geo.subdivisions == "North Brabant"
    assert geo.coordinates == "51.5869, 4.7471"
    assert geo.latitude_longitude == (51.5869, 4.7471)
    for key in GEO_KEYS:
        value = getattr(geo, key)
        expected = bool if key in ("european_union_member", "in_privacy_restricted_country",
                                   "in_privacy_restricted_region") else str
        assert type(value) is expected, key


def test_rs_fresh_pin() -> None:
    pin = Pin.from_json(RS_PIN_NEW)
    assert (pin.id, pin.code, pin.product, pin.client_identifier) == (111222333, "CODE", "0", "ClientId")
    assert pin.qr is None  # older captures have no qr
    assert pin.expires_in == 900
    assert pin.auth_token is None and pin.new_registration is None and not pin.is_claimed
    geo = pin.location
    assert geo is not None
    assert geo.european_union_member is False
    assert geo.in_privacy_restricted_region is None  # absent in 2022 captures
    assert geo.subdivisions == "England, Windsor and Maidenhead"
    assert geo.latitude_longitude == (51.0, -1.0)


def test_rs_linked_pin_carries_token() -> None:
    pin = Pin.from_json(RS_PIN_LINKED)
    assert pin.auth_token == "auth_token"
    assert pin.new_registration is False
    assert pin.is_claimed is True


def test_dashotv_strong_pin() -> None:
    pin = Pin.from_json(DASHOTV_STRONG_PIN)
    assert pin.code == "adladoqienbfquboqoqiobeoi" and len(pin.code) == 25
    assert pin.is_strong is True
    assert pin.product == "DashoTV"
    assert pin.client_identifier == "dashotv-web"
    assert pin.expires_in == 1800
    assert pin.lifetime == dt.timedelta(seconds=1800)
    assert pin.location is None
    assert pin.new_registration is None


@pytest.mark.parametrize("field", ["id", "code"])
def test_missing_required_field_names_it(field: str) -> None:
    payload = {k: v for k, v in SPEC_PIN.items() if k != field}
    with pytest.raises(ValueError, match=f"'{field}'"):
        Pin.from_json(payload)


@pytest.mark.parametrize(
    ("field", "value"), [("id", "abc"), ("id", True), ("id", None), ("code", ""), ("code", 1234)]
)
def test_unusable_required_field_names_it(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"'{field}'"):
        Pin.from_json({**SPEC_PIN, field: value})


@pytest.mark.parametrize("payload", [None, [], "pin", 42])
def test_non_object_payload_is_a_value_error(payload: Any) -> None:
    with pytest.raises(ValueError, match="pin"):
        Pin.from_json(payload)


def test_only_id_and_code_is_enough() -> None:
    pin = Pin.from_json({"id": "42", "code": "AB12"})
    assert pin.id == 42
    assert pin.location is None and pin.created_at is None and pin.expires_at is None
    assert pin.expires_in == 0 and pin.auth_token is None and pin.lifetime is None


def test_expires_in_derived_from_timestamps_when_missing() -> None:
    payload = {k: v for k, v in RS_PIN_NEW.items() if k != "expiresIn"}
    assert Pin.from_json(payload).expires_in == 900


def test_empty_token_is_no_token() -> None:
    # The XML form says authToken="" while unclaimed.
    assert Pin.from_json({**SPEC_PIN, "authToken": ""}).auth_token is None


# ----------------------------------------------------------------------------- GeoData tolerance


def test_partial_geodata() -> None:
    # The 2019 Ombi sample lacks european_union_member and continent_code.
    geo = GeoData.from_json({"code": "US", "country": "United States", "coordinates": "nonsense"})
    assert geo.code == "US" and geo.country == "United States"
    assert geo.european_union_member is None and geo.continent_code is None
    assert geo.latitude_longitude is None


@pytest.mark.parametrize("raw", ["Unknown", "unknown", "", "maybe", 2])
def test_unknown_booleans_become_none(raw: Any) -> None:
    geo = GeoData.from_json({"european_union_member": raw, "in_privacy_restricted_country": raw})
    assert geo.european_union_member is None
    assert geo.in_privacy_restricted_country is None


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("0", False), (1, True), ("true", True)])
def test_xml_style_booleans(raw: Any, expected: bool) -> None:
    assert GeoData.from_json({"european_union_member": raw}).european_union_member is expected


def test_numeric_postal_code_becomes_string() -> None:
    geo = GeoData.from_json({"postal_code": 802})
    assert geo.postal_code == "802" and type(geo.postal_code) is str


def test_pin_with_non_object_location_has_none() -> None:
    assert Pin.from_json({**SPEC_PIN, "location": "Breda"}).location is None


# ----------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-07-16T17:03:05Z", _utc(2024, 7, 16, 17, 3, 5)),
        ("2019-03-28T00:56:17.247Z", dt.datetime(2019, 3, 28, 0, 56, 17, 247000, tzinfo=UTC)),
        ("2024-06-20 06:55:56 UTC", _utc(2024, 6, 20, 6, 55, 56)),
        ("2024-07-16T19:03:05+02:00", _utc(2024, 7, 16, 17, 3, 5)),
        ("2024-07-16T17:03:05", _utc(2024, 7, 16, 17, 3, 5)),
        (1339124759, _utc(2012, 6, 8, 3, 5, 59)),
        ("1339124759", _utc(2012, 6, 8, 3, 5, 59)),
        (1339124759.5, dt.datetime(2012, 6, 8, 3, 5, 59, 500000, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_forms(raw: Any, expected: dt.datetime) -> None:
    parsed = parse_timestamp(raw)
    assert parsed == expected
    _assert_utc(parsed)


@pytest.mark.parametrize("raw", [None, True, "", "yesterday", "2024-13-45T00:00:00Z", float("nan"), [1]])
def test_parse_timestamp_rejects_to_none(raw: Any) -> None:
    assert parse_timestamp(raw) is None


@pytest.mark.parametrize(
    "stamp", ["2024-07-16T17:03:05Z", "2024-07-16T17:03:05.000Z", "2024-07-16 17:03:05 UTC", 1721149385]
)
def test_pin_timestamps_in_every_form_are_utc(stamp: Any) -> None:
    pin = Pin.from_json({**SPEC_PIN, "createdAt": stamp})
    assert pin.created_at == _utc(2024, 7, 16, 17, 3, 5)
    _assert_utc(pin.created_at)


# ----------------------------------------------------------------------------- wire names


@pytest.mark.parametrize(
    ("model", "field", "wire"),
    [
        (Pin, "client_identifier", "clientIdentifier"),
        (Pin, "expires_in", "expiresIn"),
        (Pin, "auth_token", "authToken"),
        (Pin, "new_registration", "newRegistration"),
        (Pin, "id", "id"),
        (GeoData, "european_union_member", "european_union_member"),
        (GeoData, "in_privacy_restricted_region", "in_privacy_restricted_region"),
        (Connection, "ipv6", "IPv6"),
        (PlexResource, "dns_rebinding_protection", "dnsRebindingProtection"),
        (PlexResource, "access_token", "accessToken"),
        (PlexUser, "two_factor_enabled", "twoFactorEnabled"),
        (PlexUser, "remember_expires_at", "rememberExpiresAt"),
        (Subscription, "payment_service", "paymentService"),
    ],
)
def test_wire_name(model: type, field: str, wire: str) -> None:
    assert wire_name(model, field) == wire


# ----------------------------------------------------------------------------- to_json


@pytest.mark.parametrize("payload", [SPEC_PIN, RS_PIN_NEW, RS_PIN_LINKED, DASHOTV_STRONG_PIN])
def test_pin_to_json_round_trip(payload: dict[str, Any]) -> None:
    pin = Pin.from_json(payload)
    wire = pin.to_json()
    assert json.loads(json.dumps(wire)) == wire  # plain JSON types only
    assert Pin.from_json(wire) == pin


def test_spec_pin_to_json_is_the_spec_example() -> None:
    wire = Pin.from_json(SPEC_PIN).to_json()
    assert wire == SPEC_PIN


def test_round_trip_keeps_milliseconds() -> None:
    pin = Pin.from_json({**SPEC_PIN, "createdAt": "2019-03-28T00:56:17.247Z"})
    assert Pin.from_json(pin.to_json()) == pin


def test_resource_to_json_round_trip() -> None:
    resource = PlexResource.from_json(RS_RESOURCE)
    assert PlexResource.from_json(resource.to_json()) == resource
    assert resource.to_json()["connections"][1]["IPv6"] is True


# ----------------------------------------------------------------------------- user, resources


def test_rs_user() -> None:
    user = PlexUser.from_json(RS_USER)
    assert user.id == 12345 and user.uuid == "212acf24b07315e5"
    assert user.username == user.title == user.email == "user@example.com"
    assert user.friendly_name == "" and user.locale is None
    assert user.confirmed is True and user.email_only_auth is False and user.has_password is True
    assert user.protected is False and user.restricted is False and user.anonymous is None
    assert user.home is False and user.guest is False and user.home_admin is False
    assert user.home_size == 1 and user.max_home_size == 15
    assert user.two_factor_enabled is False
    assert user.mailing_list_status == "unsubscribed"
    assert user.scrobble_types == ()
    assert user.country == "GB"
    assert user.thumb == "https://plex.tv/users/212acf24b07315e5/avatar?c=123456"
    assert user.joined_at == _utc(2012, 6, 8, 3, 5, 59)
    _assert_utc(user.remember_expires_at)
    assert user.auth_token == "user-secret-token-xyz"
    assert user.display_name == "user@example.com"
    sub = user.subscription
    assert isinstance(sub, Subscription)
    assert sub.active is False and sub.status == "Inactive" and sub.plan is None
    assert sub.subscribed_at is None
    assert sub.features == ("home", "adaptive_bitrate", "Android - PiP")


def test_user_xml_style_values() -> None:
    user = PlexUser.from_json(
        {
            "id": "7",
            "username": "kim",
            "scrobbleTypes": "1,2, 3",
            "roles": [{"id": "plexpass"}],
            "subscription": {"active": "1", "subscribedAt": "2023-03-24 00:00:00 UTC",
                             "features": [{"id": "all"}]},
        }
    )
    assert user.id == 7 and user.scrobble_types == ("1", "2", "3") and user.roles == ("plexpass",)
    assert user.subscription.active is True
    assert user.subscription.subscribed_at == _utc(2023, 3, 24)
    assert user.subscription.features == ("all",)


def test_user_without_id_names_it() -> None:
    with pytest.raises(ValueError, match="'id'"):
        PlexUser.from_json({"username": "kim"})


def test_rs_resource_and_connections() -> None:
    res = PlexResource.from_json(RS_RESOURCE)
    assert res.name == "Box" and res.client_identifier == "client_id2"
    assert res.product == "Plex Media Server" and res.product_version == "1.25.5.5492-12f6b8c83"
    assert res.platform == "Linux" and res.platform_version == "5.4.0-88-generic"
    assert res.device == "Docker Container"
    assert res.created_at == _utc(2021, 1, 1, 12, 12, 24)
    assert res.last_seen_at == _utc(2022, 1, 1, 13, 43, 34)
    assert res.provides == ("server",) and res.is_server
    assert res.owner_id is None and res.source_title is None
    assert res.public_address == "2.2.2.2"
    assert res.owned is True and res.home is False and res.synced is False
    assert res.relay is True and res.presence is True and res.https_required is False
    assert res.public_address_matches is False and res.dns_rebinding_protection is False
    assert res.nat_loopback_supported is False
    assert res.access_token == "resource-secret-token-abc"
    first, second = res.connections
    assert first == Connection(
        uri="https://172-18-0-3.client-id2.plex.direct:32400",
        protocol="https",
        address="172.18.0.3",
        port=32400,
        local=True,
        relay=False,
        ipv6=False,
    )
    assert second.ipv6 is True and second.local is False and second.address == "2001:db8::1"


def test_connection_without_uri_names_it() -> None:
    with pytest.raises(ValueError, match="'uri'"):
        Connection.from_json({"protocol": "https"})


def test_resource_provides_list() -> None:
    res = PlexResource.from_json({"name": "TV", "provides": "client,player,pubsub-player"})
    assert res.provides == ("client", "player", "pubsub-player") and not res.is_server


# ----------------------------------------------------------------------------- redaction


def test_repr_never_shows_a_token() -> None:
    pin = Pin.from_json(RS_PIN_LINKED)
    user = PlexUser.from_json(RS_USER)
    res = PlexResource.from_json(RS_RESOURCE)
    for model, secret in ((pin, "auth_token"), (user, "user-secret-token-xyz"),
                          (res, "resource-secret-token-abc")):
        assert secret not in repr(model)
        assert secret not in str(model)
    # The check above would pass vacuously if repr were empty: make sure it says something.
    assert "373040866" in repr(Pin.from_json(SPEC_PIN)) and "12345" in repr(user)


def test_models_are_frozen() -> None:
    pin = Pin.from_json(SPEC_PIN)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pin.auth_token = "x"  # type: ignore[misc]


def test_payload_is_not_mutated() -> None:
    payload = copy.deepcopy(SPEC_PIN)
    Pin.from_json(payload)
    assert payload == SPEC_PIN
