"""The plex.tv emulator: response shapes (reference §1, §2, §5), faults, rate limit, request log,
pages, HTTP hooks, the loopback server and the command line.

Time never passes by sleeping: pin expiry and auto-claims follow ``emu.clock.advance``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import signal
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import png
import pytest

from helpers import emulator_process
from plexpin_widget._models import Connection, Pin, PlexResource, PlexUser
from plexpin_widget.emulator import (
    RATE_LIMIT_CODE,
    EmulatorRequest,
    EmulatorServer,
    EmulatorTransport,
    LoggedRequest,
    PlexTvEmulator,
)

CID = "test-client-1"
JSON = {"Accept": "application/json"}
PIN_HEADERS = {"X-Plex-Client-Identifier": CID, "X-Plex-Product": "Emulator Tests", **JSON}
HOSTILE = "<img src=x onerror=alert(1)>"
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
PIN_KEYS = {
    "id", "code", "product", "trusted", "qr", "clientIdentifier", "location", "expiresIn",
    "createdAt", "expiresAt", "authToken", "newRegistration",
}
LOCATION_KEYS = {
    "code", "european_union_member", "continent_code", "country", "city", "time_zone", "postal_code",
    "in_privacy_restricted_country", "in_privacy_restricted_region", "subdivisions", "coordinates",
}
MISSING_CLIENT = {"errors": [{"code": 1000, "message": "X-Plex-Client-Identifier is missing", "status": 400}]}
NOT_FOUND = {"errors": [{"code": 1020, "message": "Code not found or expired"}]}
UNAUTHENTICATED = {"errors": [{"code": 1001, "message": "User could not be authenticated", "status": 401}]}


@pytest.fixture
def client(emu: PlexTvEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(transport=emu.transport(), base_url="https://plex.tv") as http:
        yield http


@pytest.fixture
def server(emu: PlexTvEmulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emu) as running:
        yield running


def create(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.post("/api/v2/pins", headers=PIN_HEADERS, params=params)
    assert response.status_code == 201, response.text
    return response.json()


def check(client: httpx.Client, pin_id: int, client_id: str = CID) -> httpx.Response:
    return client.get(f"/api/v2/pins/{pin_id}", headers={"X-Plex-Client-Identifier": client_id, **JSON})


def xml_root(response: httpx.Response) -> ET.Element:
    assert response.headers["content-type"].startswith("application/xml")
    return ET.fromstring(response.content)


# --------------------------------------------------------------------------- create a pin


def test_create_short_pin_has_every_field(client: httpx.Client) -> None:
    before = time.time()
    pin = create(client)
    assert set(pin) == PIN_KEYS
    assert re.fullmatch(r"[A-Z0-9]{4}", pin["code"])
    assert 100_000_000 <= pin["id"] < 2**31
    assert pin["product"] == "Emulator Tests"
    assert pin["trusted"] is False
    assert pin["qr"] == f"https://plex.tv/api/v2/pins/qr/{pin['code']}"
    assert pin["clientIdentifier"] == CID
    assert set(pin["location"]) == LOCATION_KEYS
    assert pin["expiresIn"] == 900
    assert ISO.match(pin["createdAt"]) and ISO.match(pin["expiresAt"])
    created = dt.datetime.strptime(pin["createdAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    expires = dt.datetime.strptime(pin["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    assert (expires - created).total_seconds() == 900
    assert abs(created.timestamp() - before) < 5
    assert pin["authToken"] is None and pin["newRegistration"] is None
    parsed = Pin.from_json(pin)
    assert not parsed.is_claimed and not parsed.is_strong


@pytest.mark.parametrize("value", ["true", "True", "TRUE", "1"])
def test_strong_pin_for_every_spelling_of_true(client: httpx.Client, value: str) -> None:
    pin = create(client, strong=value)
    assert re.fullmatch(r"[a-z0-9]{25}", pin["code"])
    assert pin["expiresIn"] == 1800


@pytest.mark.parametrize("value", ["false", "0", ""])
def test_not_strong_values_give_a_short_pin(client: httpx.Client, value: str) -> None:
    assert len(create(client, strong=value)["code"]) == 4


def test_strong_and_plex_values_may_come_in_a_form_body(client: httpx.Client) -> None:
    # python-plexauth style: everything as form fields, ".json" instead of an Accept header.
    response = client.post(
        "/api/v2/pins.json",
        data={"strong": "true", "X-Plex-Client-Identifier": "form-client", "X-Plex-Product": "Formy"},
    )
    assert response.status_code == 201
    pin = response.json()
    assert len(pin["code"]) == 25 and pin["clientIdentifier"] == "form-client" and pin["product"] == "Formy"


def test_plex_values_may_come_in_the_query_string_and_product_defaults_to_zero(client: httpx.Client) -> None:
    response = client.post("/api/v2/pins", params={"X-Plex-Client-Identifier": "q-client"}, headers=JSON)
    assert response.status_code == 201
    assert response.json()["clientIdentifier"] == "q-client"
    assert response.json()["product"] == "0"


def test_header_wins_over_query_string(client: httpx.Client) -> None:
    response = client.post("/api/v2/pins?X-Plex-Client-Identifier=from-query", headers=PIN_HEADERS)
    assert response.json()["clientIdentifier"] == CID


def test_create_pin_xml_by_default(client: httpx.Client) -> None:
    response = client.post("/api/v2/pins", headers={"X-Plex-Client-Identifier": CID})
    assert response.status_code == 201
    root = xml_root(response)
    assert root.tag == "pin"
    assert re.fullmatch(r"[A-Z0-9]{4}", root.attrib["code"])
    assert int(root.attrib["id"]) >= 100_000_000
    assert root.attrib["authToken"] == ""
    assert root.attrib["trusted"] == "0"
    assert root.attrib["clientIdentifier"] == CID
    location = root.find("location")
    assert location is not None and set(location.attrib) == LOCATION_KEYS


def test_suffix_beats_accept_header(client: httpx.Client) -> None:
    as_xml = client.post("/api/v2/pins.xml", headers=PIN_HEADERS)
    assert xml_root(as_xml).tag == "pin"
    as_json = client.post("/api/v2/pins.json", headers={"X-Plex-Client-Identifier": CID})
    assert as_json.json()["clientIdentifier"] == CID


def test_create_without_client_identifier_is_400_code_1000(client: httpx.Client) -> None:
    response = client.post("/api/v2/pins", headers=JSON)
    assert response.status_code == 400
    assert response.json() == MISSING_CLIENT
    as_xml = client.post("/api/v2/pins")
    error = xml_root(as_xml).find("error")
    assert as_xml.status_code == 400 and error is not None
    assert error.attrib == {"code": "1000", "message": "X-Plex-Client-Identifier is missing", "status": "400"}


def test_qr_link_uses_public_url_when_given() -> None:
    emu = PlexTvEmulator(public_url="http://demo.example:9999/")
    with httpx.Client(transport=emu.transport(), base_url="http://127.0.0.1:1") as http:
        pin = create(http)
    assert pin["qr"] == f"http://demo.example:9999/api/v2/pins/qr/{pin['code']}"


def test_qr_link_follows_the_request_host(server: EmulatorServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        pin = create(http)
    assert pin["qr"] == f"{server.url}/api/v2/pins/qr/{pin['code']}"


def test_lifetimes_are_configurable() -> None:
    emu = PlexTvEmulator(short_lifetime=5, strong_lifetime=7)
    with httpx.Client(transport=emu.transport(), base_url="https://plex.tv") as http:
        assert create(http)["expiresIn"] == 5
        assert create(http, strong="true")["expiresIn"] == 7
    with pytest.raises(ValueError):
        PlexTvEmulator(short_lifetime=0)


# --------------------------------------------------------------------------- check a pin


def test_check_counts_down_and_shows_the_token_after_a_claim(emu: PlexTvEmulator, client: httpx.Client) -> None:
    pin = create(client)
    emu.clock.advance(100)
    waiting = check(client, pin["id"])
    assert waiting.status_code == 200
    assert waiting.json()["expiresIn"] == 800
    assert waiting.json()["authToken"] is None
    token = emu.claim(pin_id=pin["id"])
    claimed = check(client, pin["id"]).json()
    assert set(claimed) == PIN_KEYS
    assert claimed["authToken"] == token == emu.demo_token
    assert re.fullmatch(r"[A-Za-z0-9_-]{20}", token)
    assert claimed["newRegistration"] is False
    assert claimed["createdAt"] == pin["createdAt"] and claimed["code"] == pin["code"]


def test_check_xml_carries_the_token_as_an_attribute(emu: PlexTvEmulator, client: httpx.Client) -> None:
    pin = create(client)
    emu.claim(code=pin["code"])
    root = xml_root(client.get(f"/api/v2/pins/{pin['id']}", headers={"X-Plex-Client-Identifier": CID}))
    assert root.attrib["authToken"] == emu.demo_token
    assert root.attrib["newRegistration"] == "0"


def test_check_ignores_a_code_parameter(client: httpx.Client) -> None:
    pin = create(client)
    response = client.get(f"/api/v2/pins/{pin['id']}", params={"code": "WRONG"}, headers=PIN_HEADERS)
    assert response.status_code == 200


@pytest.mark.parametrize("pin_path", ["123456789", "not-a-number"])
def test_unknown_pin_is_404_code_1020_without_status(client: httpx.Client, pin_path: str) -> None:
    response = client.get(f"/api/v2/pins/{pin_path}", headers=PIN_HEADERS)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_expired_pin_is_404(emu: PlexTvEmulator, client: httpx.Client) -> None:
    pin = create(client)
    emu.clock.advance(899)
    assert check(client, pin["id"]).json()["expiresIn"] == 1
    emu.clock.advance(1)
    response = check(client, pin["id"])
    assert response.status_code == 404 and response.json() == NOT_FOUND


def test_other_client_identifier_is_404(client: httpx.Client) -> None:
    pin = create(client)
    response = check(client, pin["id"], client_id="someone-else")
    assert response.status_code == 404 and response.json() == NOT_FOUND


def test_check_without_client_identifier_is_400(client: httpx.Client) -> None:
    pin = create(client)
    response = client.get(f"/api/v2/pins/{pin['id']}", headers=JSON)
    assert response.status_code == 400 and response.json() == MISSING_CLIENT


def test_claim_hook_errors(emu: PlexTvEmulator, client: httpx.Client) -> None:
    with pytest.raises(LookupError):
        emu.claim()
    with pytest.raises(LookupError):
        emu.claim(pin_id=42)
    older, newer = create(client), create(client)
    assert emu.claim() == emu.demo_token  # neither id nor code: the newest waiting pin
    assert emu.pins[newer["id"]].is_claimed and not emu.pins[older["id"]].is_claimed
    with pytest.raises(ValueError):
        emu.claim(pin_id=older["id"], token="not-a-token")
    emu.clock.advance(900)
    with pytest.raises(LookupError):
        emu.claim(pin_id=older["id"])


def test_auto_claim_follows_the_emulator_clock(emu: PlexTvEmulator, client: httpx.Client) -> None:
    emu.auto_claim(30)
    pin = create(client)
    assert check(client, pin["id"]).json()["authToken"] is None
    emu.clock.advance(30)
    assert check(client, pin["id"]).json()["authToken"] == emu.demo_token
    emu.auto_claim(0)
    instant = create(client)
    assert instant["authToken"] is None  # never in the create answer itself
    assert check(client, instant["id"]).json()["authToken"] == emu.demo_token
    emu.auto_claim(5)
    cancelled = create(client)
    emu.auto_claim(None)
    emu.clock.advance(10)
    assert check(client, cancelled["id"]).json()["authToken"] is None
    assert not emu.pins[cancelled["id"]].is_claimed


# --------------------------------------------------------------------------- link


def test_link_claims_the_pin_with_the_linking_token(emu: PlexTvEmulator, client: httpx.Client) -> None:
    other = emu.add_account("second")
    pin = create(client)
    response = client.put("/api/v2/pins/link", data={"code": pin["code"]}, headers={"X-Plex-Token": other})
    assert response.status_code == 204 and response.content == b""
    assert check(client, pin["id"]).json()["authToken"] == other


def test_link_errors(emu: PlexTvEmulator, client: httpx.Client) -> None:
    token = {"X-Plex-Token": emu.demo_token, **JSON}
    unknown = client.put("/api/v2/pins/link.json", data={"code": "ZZZZ"}, headers=token)
    assert unknown.status_code == 404 and unknown.json() == NOT_FOUND
    pin = create(client)
    no_token = client.put("/api/v2/pins/link", data={"code": pin["code"]}, headers=JSON)
    assert no_token.status_code == 401 and no_token.json() == UNAUTHENTICATED
    bad_token = client.put("/api/v2/pins/link", data={"code": pin["code"]}, headers={"X-Plex-Token": "nope", **JSON})
    assert bad_token.status_code == 401
    emu.clock.advance(900)
    expired = client.put("/api/v2/pins/link", data={"code": pin["code"]}, headers=token)
    assert expired.status_code == 404 and expired.json() == NOT_FOUND


# --------------------------------------------------------------------------- user


def test_user_json_has_the_reference_fields(emu: PlexTvEmulator, client: httpx.Client) -> None:
    response = client.get("/api/v2/user", headers={"X-Plex-Token": emu.demo_token, **JSON})
    assert response.status_code == 200
    user = response.json()
    expected = {
        "id", "uuid", "username", "title", "email", "friendlyName", "locale", "confirmed", "emailOnlyAuth",
        "hasPassword", "protected", "thumb", "authToken", "mailingListStatus", "mailingListActive",
        "scrobbleTypes", "country", "subscription", "subscriptionDescription", "restricted", "anonymous",
        "home", "guest", "homeSize", "homeAdmin", "maxHomeSize", "rememberExpiresAt", "profile",
        "entitlements", "roles", "subscriptions", "pastSubscriptions", "trials", "services", "adsConsent",
        "adsConsentSetAt", "adsConsentReminderAt", "experimentalFeatures", "twoFactorEnabled",
        "backupCodesCreated", "joinedAt", "attributionPartner",
    }
    assert expected <= set(user)
    assert user["username"] == "demo" and user["authToken"] == emu.demo_token
    assert re.fullmatch(r"[0-9a-f]{16}", user["uuid"])
    assert isinstance(user["joinedAt"], int) and isinstance(user["rememberExpiresAt"], int)
    assert {"active", "subscribedAt", "status", "paymentService", "plan", "features"} <= set(user["subscription"])
    parsed = PlexUser.from_json(user)
    assert parsed.username == "demo" and parsed.subscription.active is True


def test_user_token_may_come_in_the_query_string(emu: PlexTvEmulator, client: httpx.Client) -> None:
    response = client.get("/api/v2/user.json", params={"X-Plex-Token": emu.demo_token})
    assert response.status_code == 200 and response.json()["username"] == "demo"


def test_user_xml_satisfies_plexapi(emu: PlexTvEmulator, client: httpx.Client) -> None:
    root = xml_root(client.get("/api/v2/user", headers={"X-Plex-Token": emu.demo_token}))
    assert root.tag == "user"
    assert "scrobbleTypes" in root.attrib
    for name in ("confirmed", "home", "restricted", "guest", "twoFactorEnabled"):
        assert root.attrib[name] in ("0", "1")
    assert "" not in {root.attrib.get(name) for name in ("confirmed", "anonymous", "homeAdmin")}
    int(root.attrib["joinedAt"]), int(root.attrib["rememberExpiresAt"])
    subscription = root.find("subscription")
    assert subscription is not None and subscription.attrib["active"] == "1"
    dt.datetime.strptime(subscription.attrib["subscribedAt"], "%Y-%m-%d %H:%M:%S %Z")
    assert [f.attrib["id"] for f in subscription.iterfind("features/feature")]
    assert root.find("profile") is not None
    assert [e.attrib["id"] for e in root.iterfind("entitlements/entitlement")] == ["all"]
    assert [r.attrib["id"] for r in root.iterfind("roles/role")] == ["plexpass"]


def test_user_unknown_and_revoked_tokens(emu: PlexTvEmulator, client: httpx.Client) -> None:
    unknown = client.get("/api/v2/user", headers={"X-Plex-Token": "nope", **JSON})
    assert unknown.status_code == 401 and unknown.json() == UNAUTHENTICATED
    assert client.get("/api/v2/user", headers=JSON).status_code == 401
    token = emu.add_account("leaving")
    emu.revoke(token)
    revoked = client.get("/api/v2/user", headers={"X-Plex-Token": token, **JSON})
    assert revoked.status_code == 422
    assert revoked.json()["errors"][0]["message"] == "Invalid token"
    as_xml = client.get("/api/v2/user", headers={"X-Plex-Token": token})
    assert as_xml.status_code == 422 and "Invalid token" in as_xml.text
    with pytest.raises(KeyError):
        emu.revoke("never-existed")


def test_added_account_returns_its_fields_verbatim(emu: PlexTvEmulator, client: httpx.Client) -> None:
    token = emu.add_account(HOSTILE, email="x@example.invalid", subscription={"active": False}, home_size=3)
    user = client.get("/api/v2/user", headers={"X-Plex-Token": token, **JSON}).json()
    assert user["username"] == HOSTILE and user["email"] == "x@example.invalid"
    assert user["subscription"]["active"] is False and user["subscription"]["plan"] == "lifetime"
    assert user["homeSize"] == 3
    root = xml_root(client.get("/api/v2/user", headers={"X-Plex-Token": token}))
    assert root.attrib["username"] == HOSTILE
    assert emu.add_account("chosen", token="my-own-token-123") == "my-own-token-123"


# --------------------------------------------------------------------------- resources


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, {"http://127.0.0.1:32400"}),
        ({"includeHttps": "1"}, {"http://127.0.0.1:32400", "local-https", "remote"}),
        ({"includeRelay": "1"}, {"http://127.0.0.1:32400"}),
        ({"includeIPv6": "1"}, {"http://127.0.0.1:32400", "http://[::1]:32400"}),
        (
            {"includeHttps": "1", "includeRelay": "1", "includeIPv6": "1"},
            {"http://127.0.0.1:32400", "local-https", "remote", "relay", "http://[::1]:32400"},
        ),
    ],
)
def test_resources_filter_connections(
    emu: PlexTvEmulator, client: httpx.Client, flags: dict[str, str], expected: set[str]
) -> None:
    def kind(connection: dict[str, Any]) -> str:
        if connection["protocol"] == "http":
            return connection["uri"]
        if connection["relay"]:
            return "relay"
        return "local-https" if connection["local"] else "remote"

    response = client.get("/api/v2/resources", params=flags, headers={"X-Plex-Token": emu.demo_token, **JSON})
    assert response.status_code == 200
    devices = response.json()
    assert isinstance(devices, list) and len(devices) == 1
    server = PlexResource.from_json(devices[0])
    assert server.is_server and server.access_token and server.access_token != emu.demo_token
    assert {kind(c) for c in devices[0]["connections"]} == expected
    root = xml_root(client.get("/api/v2/resources", params=flags, headers={"X-Plex-Token": emu.demo_token}))
    assert root.tag == "resources"
    connections = root.findall("resource/connections/connection")
    assert {c.attrib["uri"] for c in connections} == {c["uri"] for c in devices[0]["connections"]}
    assert all(c.attrib["local"] in ("0", "1") and c.attrib["IPv6"] in ("0", "1") for c in connections)


def test_resources_can_be_added_and_need_a_token(emu: PlexTvEmulator, client: httpx.Client) -> None:
    extra = PlexResource(
        name="Laptop",
        client_identifier="laptop-1",
        product="Plex Media Server",
        provides=("server",),
        connections=(Connection(uri="http://10.0.0.5:32400", protocol="http", address="10.0.0.5", port=32400),),
        access_token="laptop-token",
    )
    emu.add_resource(emu.demo_token, extra)
    devices = client.get("/api/v2/resources", headers={"X-Plex-Token": emu.demo_token, **JSON}).json()
    assert [d["name"] for d in devices] == ["Demo Server", "Laptop"]
    assert devices[1]["accessToken"] == "laptop-token"
    assert devices[1]["connections"][0]["uri"] == "http://10.0.0.5:32400"
    assert client.get("/api/v2/resources", headers=JSON).json() == UNAUTHENTICATED


# --------------------------------------------------------------------------- qr, routing, core


@pytest.mark.parametrize("strong", [False, True])
def test_qr_is_a_png_of_the_approval_page(client: httpx.Client, strong: bool) -> None:
    pin = create(client, strong="true") if strong else create(client)
    response = client.get(f"/api/v2/pins/qr/{pin['code']}")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    width, height, _, _ = png.Reader(bytes=response.content).read()
    assert width == height and width > 20
    zxingcpp = pytest.importorskip("zxingcpp")
    numpy = pytest.importorskip("numpy")
    _, _, rows, info = png.Reader(bytes=response.content).asDirect()
    pixels = numpy.array([list(row) for row in rows], dtype=numpy.uint16)[:, :: info["planes"]]
    pixels = (pixels * 255 // (2 ** info["bitdepth"] - 1)).astype(numpy.uint8)
    (decoded,) = zxingcpp.read_barcodes(pixels)
    if strong:
        assert decoded.text.startswith("https://plex.tv/auth#?clientID=test-client-1&code=" + pin["code"])
    else:
        assert decoded.text == f"https://plex.tv/link/?pin={pin['code']}"


def test_unknown_routes_and_methods(client: httpx.Client) -> None:
    missing = client.get("/api/v2/nothing", headers=JSON)
    assert missing.status_code == 404 and missing.json()["errors"][0]["status"] == 404
    wrong = client.get("/api/v2/pins", headers=JSON)
    assert wrong.status_code == 405 and "POST" in wrong.headers["allow"]


def test_core_answers_a_plain_request_object(emu: PlexTvEmulator) -> None:
    request = EmulatorRequest(
        "post", "/api/v2/pins", "strong=1", [("x-plex-client-identifier", "raw"), ("ACCEPT", "application/json")]
    )
    status, headers, body = emu.handle(request)
    assert status == 201
    assert dict(headers)["Content-Type"].startswith("application/json")
    assert json.loads(body)["clientIdentifier"] == "raw"


def test_api_allows_browser_apps(client: httpx.Client) -> None:
    preflight = client.options("/api/v2/pins", headers={"Origin": "http://app.example"})
    assert preflight.status_code == 204 and "POST" in preflight.headers["access-control-allow-methods"]
    created = client.post("/api/v2/pins", headers=PIN_HEADERS)
    assert created.headers["access-control-allow-origin"] == "*"


def test_transport_is_one_object_for_sync_and_async(emu: PlexTvEmulator) -> None:
    transport = emu.transport()
    assert isinstance(transport, EmulatorTransport)
    assert isinstance(transport, httpx.BaseTransport) and isinstance(transport, httpx.AsyncBaseTransport)


def test_clock_only_moves_forward(emu: PlexTvEmulator) -> None:
    start = emu.clock.now()
    assert emu.clock.advance(60) >= start + 60
    with pytest.raises(ValueError):
        emu.clock.advance(-1)


def test_reset_keeps_the_demo_account_only(emu: PlexTvEmulator, client: httpx.Client) -> None:
    other = emu.add_account("other")
    create(client)
    emu.faults.add("status")
    emu.auto_claim(1)
    emu.clock.advance(50)
    emu.reset()
    assert emu.pins == {} and len(emu.faults) == 0 and emu.request_log() == []
    assert emu.clock.offset == 0
    assert client.get("/api/v2/user", headers={"X-Plex-Token": emu.demo_token}).status_code == 200
    assert client.get("/api/v2/user", headers={"X-Plex-Token": other}).status_code == 401
    assert create(client)["authToken"] is None


# --------------------------------------------------------------------------- faults, on every channel


class Channel:
    """Send requests through the sync transport, the async transport or the loopback server."""

    def __init__(self, kind: str, emu: PlexTvEmulator, url: str | None) -> None:
        self.kind = kind
        base = url or "https://plex.tv"
        self._loop = asyncio.new_event_loop()
        self._sync = httpx.Client(transport=emu.transport() if kind == "sync" else None, base_url=base)
        self._async = httpx.AsyncClient(transport=emu.transport(), base_url=base)

    def close(self) -> None:
        self._sync.close()
        self._loop.run_until_complete(self._async.aclose())
        self._loop.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.kind == "async":
            return self._loop.run_until_complete(self._async.request(method, path, **kwargs))
        return self._sync.request(method, path, **kwargs)

    def create(self) -> httpx.Response:
        return self.request("POST", "/api/v2/pins", headers=PIN_HEADERS)


@pytest.fixture(params=["sync", "async", "server"])
def channel(request: pytest.FixtureRequest, emu: PlexTvEmulator) -> Iterator[Channel]:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(EmulatorServer(emu)).url if request.param == "server" else None
        opened = Channel(request.param, emu, url)
        stack.callback(opened.close)
        yield opened


def test_fault_status(emu: PlexTvEmulator, channel: Channel) -> None:
    emu.faults.add("status", status=503, count=2)
    for _ in range(2):
        response = channel.create()
        assert response.status_code == 503
        assert response.json() == {"errors": [{"code": 503, "message": "Service Unavailable", "status": 503}]}
    assert channel.create().status_code == 201
    assert len(emu.pins) == 1  # faulted requests were not processed


def test_fault_rate_limit(emu: PlexTvEmulator, channel: Channel) -> None:
    emu.faults.add("rate_limit", retry_after=7)
    response = channel.create()
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {"errors": [{"code": RATE_LIMIT_CODE, "message": "Too Many Requests", "status": 429}]}
    assert channel.create().status_code == 201


def test_fault_latency(emu: PlexTvEmulator, channel: Channel) -> None:
    emu.faults.add("latency", delay=0.2)
    started = time.monotonic()
    response = channel.create()
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 201 and len(emu.pins) == 1


def test_fault_malformed(emu: PlexTvEmulator, channel: Channel) -> None:
    emu.faults.add("malformed")
    response = channel.create()
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    with pytest.raises(ET.ParseError):
        ET.fromstring(response.content)


def test_fault_truncated(emu: PlexTvEmulator, channel: Channel) -> None:
    emu.faults.add("truncated")
    response = channel.create()
    assert response.status_code == 200
    assert response.content.startswith(b'{"id":')
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert len(emu.pins) == 1  # the request itself went through


def test_fault_drop(emu: PlexTvEmulator, channel: Channel) -> None:
    emu.faults.add("drop")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        channel.create()
    assert channel.create().status_code == 201
    statuses = [entry.status for entry in emu.request_log(CID)]
    assert statuses == [None, 201]


def test_fault_sequence_and_prefix(emu: PlexTvEmulator, channel: Channel) -> None:
    emu.faults.sequence([503, 429, None, "malformed", 500])
    user = channel.request("GET", "/api/v2/user", headers={"X-Plex-Token": emu.demo_token})
    assert user.status_code == 200  # outside the default /api/v2/pins prefix
    assert [channel.create().status_code for _ in range(6)] == [503, 429, 201, 200, 500, 201]


def test_fault_method_filter(emu: PlexTvEmulator, channel: Channel) -> None:
    pin = channel.create().json()
    emu.faults.add("status", method="GET", status=502)
    assert channel.create().status_code == 201
    assert channel.request("GET", f"/api/v2/pins/{pin['id']}", headers=PIN_HEADERS).status_code == 502


def test_latency_longer_than_the_read_timeout_times_out_in_process(emu: PlexTvEmulator) -> None:
    emu.faults.add("latency", delay=0.5)
    with httpx.Client(transport=emu.transport(), base_url="https://plex.tv", timeout=0.05) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.post("/api/v2/pins", headers=PIN_HEADERS)


def test_random_faults_are_reproducible() -> None:
    def pattern(seed: int) -> list[int]:
        emu = PlexTvEmulator()
        emu.faults.random("status", rate=0.3, seed=seed)
        with httpx.Client(transport=emu.transport(), base_url="https://plex.tv") as http:
            return [http.post("/api/v2/pins", headers=PIN_HEADERS).status_code for _ in range(300)]

    first = pattern(11)
    assert first == pattern(11)
    failures = [s for s in first if s != 201]
    assert set(failures) <= {500, 502, 503, 504}
    assert 60 <= len(failures) <= 120  # ~30 % of 300


def test_fault_validation(emu: PlexTvEmulator) -> None:
    with pytest.raises(ValueError):
        emu.faults.add("explode")
    with pytest.raises(ValueError):
        emu.faults.add("status", probability=2)
    emu.faults.add("status")
    emu.faults.clear()
    assert emu.faults.rules == []


# --------------------------------------------------------------------------- rate limit and log


def test_rate_limit_per_client_identifier() -> None:
    emu = PlexTvEmulator(rate_limit=(3, 10))
    with httpx.Client(transport=emu.transport(), base_url="https://plex.tv") as http:
        statuses = [http.post("/api/v2/pins", headers=PIN_HEADERS).status_code for _ in range(4)]
        assert statuses == [201, 201, 201, 429]
        limited = http.post("/api/v2/pins", headers=PIN_HEADERS)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 10
        assert limited.json()["errors"][0] == {"code": RATE_LIMIT_CODE, "message": "Too Many Requests", "status": 429}
        other = {**PIN_HEADERS, "X-Plex-Client-Identifier": "another"}
        assert http.post("/api/v2/pins", headers=other).status_code == 201
        emu.clock.advance(10)
        assert http.post("/api/v2/pins", headers=PIN_HEADERS).status_code == 201
    log = emu.request_log(CID)
    assert [e.status for e in log] == [201, 201, 201, 429, 429, 201]
    assert log[3].retry_after is not None and log[3].retry_after >= 1


def test_rate_limit_over_the_server() -> None:
    emu = PlexTvEmulator(rate_limit=(1, 60))
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.url) as http:
        assert http.post("/api/v2/pins", headers=PIN_HEADERS).status_code == 201
        limited = http.post("/api/v2/pins", headers=PIN_HEADERS)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_request_log(emu: PlexTvEmulator, client: httpx.Client) -> None:
    emu.faults.add("rate_limit", retry_after=2)
    started = time.monotonic()
    client.post("/api/v2/pins", headers=PIN_HEADERS)
    pin = create(client)
    check(client, pin["id"], client_id="other")
    client.get("/__emulator__/pins")  # hooks are not logged
    mine = emu.request_log(CID)
    assert [(e.method, e.path, e.status) for e in mine] == [
        ("POST", "/api/v2/pins", 429), ("POST", "/api/v2/pins", 201),
    ]
    assert all(isinstance(e, LoggedRequest) for e in mine)
    assert mine[0].retry_after == 2 and mine[0].fault == "rate_limit" and mine[1].fault is None
    assert started <= mine[0].at <= mine[1].at <= time.monotonic()
    assert abs(mine[0].wall - time.time()) < 5
    assert [e.client_identifier for e in emu.request_log()] == [CID, CID, "other"]
    assert emu.request_log("nobody") == []


# --------------------------------------------------------------------------- pages


def test_link_page_has_the_form_prefilled(client: httpx.Client) -> None:
    response = client.get("/link/", params={"pin": "AB12"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<form method="post" action="/link">' in page
    assert 'id="code"' in page and 'value="AB12"' in page and 'id="approve"' in page
    assert client.get("/link").status_code == 200


def test_link_page_escapes_the_prefill(client: httpx.Client) -> None:
    page = client.get("/link", params={"pin": '"><script>alert(1)</script>'}).text
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page


def test_link_approve_claims_the_pin(emu: PlexTvEmulator, client: httpx.Client) -> None:
    pin = create(client)
    response = client.post("/link", data={"code": pin["code"].lower()})
    assert response.status_code == 200
    result = re.search(r'<p id="result"[^>]*>(.*?)</p>', response.text)
    assert result is not None and "linked" in result.group(1)
    assert check(client, pin["id"]).json()["authToken"] == emu.demo_token


@pytest.mark.parametrize("code", ["ZZZZ", ""])
def test_link_unknown_code_is_a_clear_error(client: httpx.Client, code: str) -> None:
    response = client.post("/link", data={"code": code})
    assert response.status_code in (400, 404)
    result = re.search(r'<p id="result"[^>]*>(.*?)</p>', response.text)
    assert result is not None and "linked" not in result.group(1)


def test_link_refuses_strong_codes_and_expired_ones(emu: PlexTvEmulator, client: httpx.Client) -> None:
    strong = create(client, strong="true")
    assert client.post("/link", data={"code": strong["code"]}).status_code == 400
    short = create(client)
    emu.clock.advance(900)
    response = client.post("/link", data={"code": short["code"]})
    assert response.status_code == 404 and "expired" in response.text
    assert not emu.pins[strong["id"]].is_claimed


def test_auth_page_reads_the_fragment_safely(client: httpx.Client) -> None:
    for path in ("/auth", "/auth/"):
        page = client.get(path).text
        assert "location.hash" in page and "textContent" in page and "innerHTML" not in page
        assert 'id="code"' in page and 'id="approve"' in page and 'action="/auth"' in page


def test_auth_approve_claims_a_strong_pin(emu: PlexTvEmulator, client: httpx.Client) -> None:
    headers = {**PIN_HEADERS, "X-Plex-Product": "<b>Evil</b>"}
    pin = client.post("/api/v2/pins", params={"strong": "true"}, headers=headers).json()
    wrong = client.post("/auth", data={"code": pin["code"], "clientID": "not-me"})
    assert wrong.status_code == 400
    response = client.post(
        "/auth", data={"code": pin["code"], "clientID": CID, "forwardUrl": "https://app.example/done"}
    )
    assert response.status_code == 200
    assert "linked" in response.text and "<b>Evil</b>" not in response.text and "&lt;b&gt;Evil" in response.text
    assert 'href="https://app.example/done"' in response.text
    assert check(client, pin["id"]).json()["authToken"] == emu.demo_token
    short = create(client)
    assert client.post("/auth", data={"code": short["code"]}).status_code == 400


def test_hostile_username_is_escaped_in_every_page() -> None:
    emu = PlexTvEmulator(username=HOSTILE)
    with httpx.Client(transport=emu.transport(), base_url="https://plex.tv") as http:
        pin = create(http)
        pages = [
            http.get("/").text,
            http.get("/link").text,
            http.get("/auth").text,
            http.post("/link", data={"code": "NOPE"}).text,
            http.post("/link", data={"code": pin["code"]}).text,
        ]
        user = http.get("/api/v2/user", headers={"X-Plex-Token": emu.demo_token, **JSON}).json()
    assert user["username"] == HOSTILE  # the API returns it as is
    for page in pages:
        assert HOSTILE not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page


# --------------------------------------------------------------------------- HTTP hooks


def test_http_hooks(emu: PlexTvEmulator, server: EmulatorServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        pin = create(http)
        claimed = http.post("/__emulator__/claim", json={"code": pin["code"]})
        assert claimed.json() == {"token": emu.demo_token, "pin_id": pin["id"]}
        assert http.post("/__emulator__/claim", json={"pin_id": 1}).status_code == 404

        assert http.post("/__emulator__/auto-claim", json={"delay": 0}).status_code == 200
        auto = create(http)
        assert check(http, auto["id"]).json()["authToken"] == emu.demo_token
        http.post("/__emulator__/auto-claim", json={"delay": None})

        assert http.post("/__emulator__/faults", json={"kind": "status", "status": 504, "count": 1}).status_code == 201
        assert http.post("/api/v2/pins", headers=PIN_HEADERS).status_code == 504
        http.post("/__emulator__/faults", json={"sequence": [503, 503]})
        assert http.post("/__emulator__/faults", json={"kind": "status", "bogus": 1}).status_code == 400
        assert http.delete("/__emulator__/faults").status_code == 204
        assert len(emu.faults) == 0
        http.post("/__emulator__/faults", json={"kind": "status", "rate": 1.0, "seed": 3})
        assert http.post("/api/v2/pins", headers=PIN_HEADERS).status_code >= 500
        http.delete("/__emulator__/faults")

        log = http.get("/__emulator__/log", params={"client_identifier": CID}).json()
        assert [entry["status"] for entry in log][-2:] == [504, log[-1]["status"]]
        assert {"at", "wall", "method", "path", "status", "client_identifier", "retry_after"} <= set(log[0])

        pins = http.get("/__emulator__/pins").json()
        assert {p["id"] for p in pins} == set(emu.pins)

        offset = http.post("/__emulator__/clock/advance", json={"seconds": 901}).json()["offset"]
        assert offset == pytest.approx(901)
        assert check(http, pin["id"]).status_code == 404

        token = http.post("/__emulator__/accounts", json={"username": "hooked"}).json()["token"]
        user = http.get("/api/v2/user", headers={"X-Plex-Token": token, **JSON}).json()
        assert user["username"] == "hooked"
        assert http.post("/__emulator__/revoke", json={"token": token}).status_code == 204
        assert http.get("/api/v2/user", headers={"X-Plex-Token": token}).status_code == 422

        assert http.post("/__emulator__/reset").status_code == 204
        assert emu.pins == {} and emu.clock.offset == 0
        assert http.get("/__emulator__/nothing").status_code == 404


# --------------------------------------------------------------------------- the loopback server


def test_server_restarts_on_the_same_port_and_keeps_pins(emu: PlexTvEmulator) -> None:
    first = EmulatorServer(emu).start()
    port = first.port
    with httpx.Client(base_url=first.url) as http:
        pin = create(http)
    first.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/")
    emu.claim(pin_id=pin["id"])
    with EmulatorServer(emu, port=port) as second, httpx.Client(base_url=second.url) as http:
        assert second.port == port
        assert check(http, pin["id"]).json()["authToken"] == emu.demo_token
    first.start()  # the same object again, same port
    try:
        assert first.port == port
        with httpx.Client(base_url=first.url) as http:
            assert check(http, pin["id"]).status_code == 200
    finally:
        first.stop()
    first.stop()  # idempotent


def test_server_keeps_connections_alive(server: EmulatorServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        first = create(http)
        for _ in range(5):
            assert check(http, first["id"]).status_code == 200
    log = server.emulator.request_log(CID)
    assert len(log) == 6


def test_server_bind_error_is_raised_by_start(server: EmulatorServer) -> None:
    # A second listener on a port in use must fail loudly (SO_REUSEADDR is not SO_REUSEPORT).
    with pytest.raises(OSError):
        EmulatorServer(server.emulator, port=server.port).start()


async def test_server_latency_does_not_block_other_connections(emu: PlexTvEmulator, server: EmulatorServer) -> None:
    emu.faults.add("latency", delay=0.5, method="POST")
    finished: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=server.url) as http:

        async def slow() -> None:
            await http.post("/api/v2/pins", headers=PIN_HEADERS)
            finished["slow"] = time.monotonic()

        async def fast() -> None:
            await http.get("/api/v2/user", headers={"X-Plex-Token": emu.demo_token})
            finished["fast"] = time.monotonic()

        await asyncio.gather(slow(), fast())
    assert finished["fast"] < finished["slow"]


async def test_server_many_concurrent_clients(emu: PlexTvEmulator, server: EmulatorServer) -> None:
    # Several small pools: one httpx pool with hundreds of connections is slow (O(n^2)) on the
    # client side, which is not what this test is about.
    async def client_logins(c: int) -> list[str]:
        async with httpx.AsyncClient(base_url=server.url, limits=httpx.Limits(max_connections=10)) as http:

            async def login(n: int) -> str:
                headers = {**PIN_HEADERS, "X-Plex-Client-Identifier": f"client-{c}-{n}"}
                pin = (await http.post("/api/v2/pins", headers=headers)).json()
                emu.claim(pin_id=pin["id"])
                polled = await http.get(f"/api/v2/pins/{pin['id']}", headers=headers)
                return polled.json()["authToken"]

            return await asyncio.gather(*(login(n) for n in range(10)))

    results = await asyncio.gather(*(client_logins(c) for c in range(10)))
    assert {token for tokens in results for token in tokens} == {emu.demo_token}
    assert len(emu.pins) == 100


async def test_server_holds_many_open_connections_at_once(emu: PlexTvEmulator, server: EmulatorServer) -> None:
    # 1,000 sockets open at the same time, each answered in turn on the single server thread.
    streams = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", server.port) for _ in range(1000)))
    request = b"GET /api/v2/user HTTP/1.1\r\nHost: x\r\nX-Plex-Token: " + emu.demo_token.encode() + b"\r\n\r\n"
    for _, writer in streams:
        writer.write(request)
    heads = await asyncio.gather(*(reader.readuntil(b"\r\n\r\n") for reader, _ in streams))
    assert all(head.startswith(b"HTTP/1.1 200") for head in heads)
    for _, writer in streams:
        writer.close()
    assert len(emu.request_log()) == 1000


def test_server_answers_garbage_with_400(server: EmulatorServer) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = sock.recv(1024)
    assert answer.startswith(b"HTTP/1.1 400")


# --------------------------------------------------------------------------- command line


def test_command_line_serves_until_sigterm() -> None:
    with emulator_process("--username", "cli-user", "--short-lifetime", "60", "--rate-limit", "100/1") as process:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"plex\.tv emulator listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        with httpx.Client(base_url=match.group(1)) as http:
            pin = create(http)
            assert pin["expiresIn"] == 60
            token = check(http, pin["id"]).json()["authToken"]
            user = http.get("/api/v2/user", headers={"X-Plex-Token": token, **JSON}).json()
            assert user["username"] == "cli-user"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        # Nothing printed but that line and the one of the demo account's media server.
        assert re.fullmatch(
            r"Plex Media Server stand-in \('Demo Server'\) listening on http://127\.0\.0\.1:\d+\n",
            process.stdout.read(),
        )
