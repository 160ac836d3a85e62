"""plex.tv's behaviour: routing and the handlers for the API and the browser pages.

:class:`PlexTv` owns the pins, the accounts and the clock and turns one
:class:`EmulatorRequest` into one :class:`EmulatorResponse`. It knows nothing of faults, rate
limits, logging or locking; :class:`PlexTvEmulator` wraps it with those.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from plexpin_widget._models import Connection, PlexResource

from . import _pages, _xml
from ._accounts import Account, AccountBook
from ._jwt_api import JwtApi
from ._jwt_state import DEFAULT_JWT_LIFETIME, JwtAuthority, looks_like_jwt
from ._messages import (
    EmulatorRequest,
    EmulatorResponse,
    error_response,
    html_response,
    negotiated_response,
)
from ._png import qr_png
from ._state import Clock, PinRecord, PinStore

__all__ = ["PlexTv"]

_Handler = Callable[[EmulatorRequest, dict[str, str]], EmulatorResponse]
_PREFLIGHT = (
    ("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"),
    ("Access-Control-Allow-Headers", "*"),
    ("Access-Control-Max-Age", "600"),
)


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    # python-plexapi sends "strong=True" (requests serialises True that way), others "true"/"1".
    return value is not None and str(value).strip().lower() in ("1", "true")


class PlexTv:
    """The plex.tv stand-in proper (one instance per :class:`PlexTvEmulator`)."""

    def __init__(
        self,
        *,
        clock: Clock,
        short_lifetime: int,
        strong_lifetime: int,
        public_url: str | None,
        username: str,
        jwt_lifetime: int = DEFAULT_JWT_LIFETIME,
    ) -> None:
        self.clock = clock
        self.short_lifetime = short_lifetime
        self.strong_lifetime = strong_lifetime
        self.public_url = public_url.rstrip("/") if public_url else None
        self.pins = PinStore()
        self.accounts = AccountBook()
        self.demo: Account = self.accounts.create(username, clock.now())
        self._demo_token = self.demo.token
        self._demo_resources = list(self.demo.resources)
        self.jwt_authority = JwtAuthority(lifetime=jwt_lifetime)
        self.jwt = JwtApi(clock=clock, accounts=self.accounts, authority=self.jwt_authority)
        self.auto_claim_delay: float | None = None
        pin_id = r"/api/v2/pins/(?P<pin_id>[^/]+)"
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = [
            ("POST", re.compile(r"/api/v2/pins"), self._create_pin),
            ("PUT", re.compile(r"/api/v2/pins/link"), self._link_pin),
            ("GET", re.compile(r"/api/v2/pins/qr/(?P<code>[^/]+)"), self._qr),
            ("GET", re.compile(pin_id), self._check_pin),
            ("GET", re.compile(r"/api/v2/user"), self._user),
            ("GET", re.compile(r"/api/v2/resources"), self._resources),
            ("GET", re.compile(r"/api/v2/auth/nonce"), self.jwt.nonce),
            ("POST", re.compile(r"/api/v2/auth/token"), self.jwt.token),
            ("GET", re.compile(r"/api/v2/auth/keys"), self.jwt.keys),
            ("POST", re.compile(r"/api/v2/auth/jwk"), self.jwt.register_jwk),
            ("DELETE", re.compile(r"/api/v2/users/signout"), self.jwt.signout),
            ("GET", re.compile(r"/"), self._index),
            ("GET", re.compile(r"/link"), self._link_form),
            ("POST", re.compile(r"/link"), self._link_submit),
            ("GET", re.compile(r"/auth"), self._auth_form),
            ("POST", re.compile(r"/auth"), self._auth_submit),
        ]

    # ------------------------------------------------------------------ state helpers

    def reset(self) -> None:
        """Forget pins and extra accounts; the demo account keeps its token and first server."""
        self.pins.clear()
        self.accounts.clear()
        self.jwt_authority.clear()
        self.demo.token = self._demo_token
        self.accounts.restore(self.demo)
        self.demo.resources = list(self._demo_resources)
        self.auto_claim_delay = None

    def publish_connection(self, client_identifier: str, connection: Connection) -> None:
        def published(resource: PlexResource) -> PlexResource:
            if resource.client_identifier != client_identifier:
                return resource
            others = tuple(c for c in resource.connections if c.uri != connection.uri)
            return dataclasses.replace(resource, connections=(connection, *others))

        for account in self.accounts.accounts():
            account.resources = [published(r) for r in account.resources]
        self._demo_resources = [published(r) for r in self._demo_resources]

    def run_auto_claims(self, now: float) -> None:
        for record in self.pins.due_auto_claims(now):
            if not record.expired(now) and not record.auth_token:
                self.claim_record(record, self.demo.token)

    def claim_record(self, record: PinRecord, token: str) -> None:
        """Approve ``record`` as the account owning ``token`` (a JWK pin's key now signs in as it)."""
        record.auth_token = token
        record.claim_at = None
        if record.jwk is not None:
            account, _ = self.accounts.find(token)
            if account is not None:
                self.jwt.approve(record, account)

    def live_pin(self, code: str | None, now: float) -> PinRecord | None:
        record = self.pins.by_code(code.strip()) if code else None
        return record if record is not None and not record.expired(now) else None

    # ------------------------------------------------------------------ dispatch

    def dispatch(self, request: EmulatorRequest) -> EmulatorResponse:
        path = request.route_path
        if request.method == "OPTIONS" and path.startswith("/api/"):
            return EmulatorResponse(204, list(_PREFLIGHT))
        allowed: list[str] = []
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if method == request.method:
                return handler(request, match.groupdict())
            allowed.append(method)
        if allowed:
            return error_response(request, 405, None, "Method Not Allowed", headers=[("Allow", ", ".join(allowed))])
        return error_response(request, 404, None, "Not Found")

    # ------------------------------------------------------------------ API

    def _missing_client(self, request: EmulatorRequest) -> EmulatorResponse:
        return error_response(request, 400, 1000, "X-Plex-Client-Identifier is missing")

    @staticmethod
    def _pin_not_found(request: EmulatorRequest) -> EmulatorResponse:
        # The captured 404 body has no "status" member, unlike 400 and 401.
        return error_response(request, 404, 1020, "Code not found or expired", include_status=False)

    def _pin_response(
        self, request: EmulatorRequest, record: PinRecord, status: int, now: float, *, jwt: str | None = None
    ) -> EmulatorResponse:
        payload = record.to_model(now).to_json()
        if record.jwk is not None:
            # A JWK pin shows its Plex JWT only to a poll whose deviceJWT checked out.
            payload["authToken"] = jwt
        return negotiated_response(request, status, payload, _xml.pin_xml)

    def _create_pin(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        client = request.client_identifier
        if not client:
            return self._missing_client(request)
        raw = request.query_value("strong") or request.form_value("strong")
        body = request.json_body
        if raw is None and isinstance(body, dict):
            raw = body.get("strong")
        strong = _truthy(raw)
        jwk = self.jwt.pin_jwk(request, client)
        if isinstance(jwk, EmulatorResponse):
            return jwk
        now = self.clock.now()
        record = self.pins.create(
            strong=strong,
            lifetime=self.strong_lifetime if strong else self.short_lifetime,
            client_identifier=client,
            # Samples of pins made without a product show "0".
            product=request.param("X-Plex-Product") or "0",
            qr_base=self.public_url or request.base_url,
            now=now,
            claim_delay=self.auto_claim_delay,
            jwk=jwk,
        )
        return self._pin_response(request, record, 201, now)

    def _check_pin(self, request: EmulatorRequest, groups: dict[str, str]) -> EmulatorResponse:
        client = request.client_identifier
        if not client:
            return self._missing_client(request)
        try:
            record = self.pins.get(int(groups["pin_id"]))
        except ValueError:
            record = None
        now = self.clock.now()
        # A pin asked for by another client identifier looks exactly like an unknown one.
        if record is None or record.expired(now) or record.client_identifier != client:
            return self._pin_not_found(request)
        if record.jwk is None:
            return self._pin_response(request, record, 200, now)
        shown = self.jwt.exchange(request, record, now)
        if isinstance(shown, EmulatorResponse):
            return shown
        return self._pin_response(request, record, 200, now, jwt=shown)

    def _authenticate(self, request: EmulatorRequest) -> Account | EmulatorResponse:
        return self.jwt.authenticate(request)

    def _link_pin(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        account = self._authenticate(request)
        if isinstance(account, EmulatorResponse):
            return account
        code = request.form_value("code") or request.query_value("code")
        if code is None and isinstance(request.json_body, dict):
            code = str(request.json_body.get("code") or "") or None
        record = self.live_pin(code, self.clock.now())
        if record is None:
            return self._pin_not_found(request)
        # Approved with a Plex JWT, a pin still hands out the account's classic token.
        self.claim_record(record, account.token if looks_like_jwt(request.token) else str(request.token))
        return EmulatorResponse(204)

    def _user(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        account = self._authenticate(request)
        if isinstance(account, EmulatorResponse):
            return account
        assert request.token is not None
        user = account.user_json(request.token)
        return negotiated_response(request, 200, user, _xml.user_xml)

    def _resources(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        account = self._authenticate(request)
        if isinstance(account, EmulatorResponse):
            return account
        https, relay, ipv6 = (_truthy(request.param(name)) for name in ("includeHttps", "includeRelay", "includeIPv6"))
        devices: list[dict[str, Any]] = []
        jwt = request.token if looks_like_jwt(request.token) else None
        for resource in account.resources:
            device = resource.to_json()
            if jwt is not None and resource.owned:
                # Field report MP240 (§8): fetched with a Plex JWT, an owned server's
                # accessToken is that same JWT (which a media server then refuses).
                device["accessToken"] = jwt
            device["connections"] = [
                c.to_json()
                for c in resource.connections
                if (https or c.protocol != "https") and (relay or not c.relay) and (ipv6 or not c.ipv6)
            ]
            devices.append(device)
        return negotiated_response(request, 200, devices, _xml.resources_xml)

    def approval_url(self, base_url: str, code: str) -> str:
        """Where a person approves ``code``: ``/link/?pin=`` or ``/auth#?…`` on ``base_url``."""
        record = self.pins.by_code(code)
        if record is None or not record.strong:
            return f"{base_url}/link/?" + urllib.parse.urlencode({"pin": code})
        params = [
            ("clientID", record.client_identifier),
            ("code", record.code),
            ("context[device][product]", record.product),
        ]
        return f"{base_url}/auth#?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote, safe="")

    def _qr(self, request: EmulatorRequest, groups: dict[str, str]) -> EmulatorResponse:
        # Any PNG would do (reference §4); a real QR of the approval page makes demos work.
        png = qr_png(self.approval_url(self.public_url or request.base_url, groups["code"]))
        return EmulatorResponse(200, [("Content-Type", "image/png"), ("Cache-Control", "max-age=600")], png)

    # ------------------------------------------------------------------ pages

    def _index(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        return html_response(200, _pages.index_page(self.demo.username))

    def _link_form(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        return html_response(200, _pages.link_page(self.demo.username, request.query_value("pin") or ""))

    def _link_submit(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        code = (request.form_value("code") or "").strip()
        name = self.demo.username
        if not code:
            return html_response(400, _pages.link_page(name, "", "Enter the code shown on your device."))
        record = self.live_pin(code, self.clock.now())
        if record is None:
            message = "Code not found or expired. Check the code on your device and try again."
            return html_response(404, _pages.link_page(name, code, message))
        if record.strong:
            # plex.tv/link refuses the long codes meant for the auth app (reference §2.2).
            message = "That is a long sign-in code; it can only be approved on the app's sign-in page."
            return html_response(400, _pages.link_page(name, code, message))
        self.claim_record(record, self.demo.token)
        message = f"Your device ({record.product}) is now linked to your Plex account."
        return html_response(200, _pages.result_page(name, ok=True, message=message, again="/link"))

    def _auth_form(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        return html_response(200, _pages.auth_page(self.demo.username))

    def _auth_submit(self, request: EmulatorRequest, _: dict[str, str]) -> EmulatorResponse:
        name = self.demo.username
        record = self.live_pin(request.form_value("code"), self.clock.now())
        client = request.form_value("clientID")
        if record is None:
            message = "Code not found or expired. Start signing in again from the app."
            return html_response(404, _pages.result_page(name, ok=False, message=message))
        if not record.strong:
            message = "This page approves the long codes apps put in a URL; type 4-character codes at /link."
            return html_response(400, _pages.result_page(name, ok=False, message=message, again="/link"))
        if client and client != record.client_identifier:
            message = "This code was requested by a different app (clientID does not match)."
            return html_response(400, _pages.result_page(name, ok=False, message=message))
        self.claim_record(record, self.demo.token)
        message = f"{record.product} is now linked to your Plex account. You can close this page."
        page = _pages.result_page(name, ok=True, message=message, forward_url=request.form_value("forwardUrl"))
        return html_response(200, page)
