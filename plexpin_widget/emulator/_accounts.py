"""Plex accounts the emulator knows: their tokens, their ``/api/v2/user`` body and their servers."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import secrets
from collections.abc import Mapping
from typing import Any

from plexpin_widget._models import Connection, PlexResource

from ._state import new_token

__all__ = ["Account", "AccountBook", "demo_server"]

_UTC = _dt.timezone.utc


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(int(epoch), _UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def demo_server(now: float, name: str = "Demo Server") -> PlexResource:
    """A Plex Media Server with one connection of each kind plex.tv reports.

    Local plain http and https, a remote one, a relay, and a local IPv6 one; the include flags
    of ``/api/v2/resources`` filter these. Every address is on loopback and no URI carries a
    host name (real ones are ``*.plex.direct``), so a client that tries them never sends a
    packet or a DNS query off this machine; nothing listens there, so each try is refused.
    """
    machine = secrets.token_hex(20)
    created = _dt.datetime.fromtimestamp(int(now) - 86_400 * 30, _UTC)
    connections = (
        Connection(uri="http://127.0.0.1:32400", protocol="http", address="127.0.0.1", port=32400, local=True),
        Connection(uri="https://127.0.0.1:32443", protocol="https", address="127.0.0.1", port=32443, local=True),
        Connection(uri="https://127.0.0.2:32400", protocol="https", address="127.0.0.2", port=32400),
        Connection(uri="https://127.0.0.3:8443", protocol="https", address="127.0.0.3", port=8443, relay=True),
        Connection(uri="http://[::1]:32400", protocol="http", address="::1", port=32400, local=True, ipv6=True),
    )
    return PlexResource(
        name=name,
        client_identifier=machine,
        product="Plex Media Server",
        product_version="1.41.3.9314-a0bfb8370",
        platform="Linux",
        platform_version="6.1.0",
        device="Docker Container",
        created_at=created,
        last_seen_at=_dt.datetime.fromtimestamp(int(now), _UTC),
        provides=("server",),
        public_address="127.0.0.2",
        owned=True,
        home=False,
        synced=False,
        relay=True,
        presence=True,
        https_required=False,
        public_address_matches=False,
        dns_rebinding_protection=False,
        nat_loopback_supported=False,
        connections=connections,
        access_token=new_token(),
    )


@dataclasses.dataclass
class Account:
    """One plex.tv account: identity, extra ``/api/v2/user`` fields and its resources."""

    id: int
    uuid: str
    username: str
    token: str
    joined_at: int
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    resources: list[PlexResource] = dataclasses.field(default_factory=list)

    def user_json(self, token: str) -> dict[str, Any]:
        """The ``GET /api/v2/user`` body (reference §5.1), with overrides from ``fields``."""
        user: dict[str, Any] = {
            "id": self.id,
            "uuid": self.uuid,
            "username": self.username,
            "title": self.username,
            "email": f"user{self.id}@example.invalid",
            "friendlyName": self.username,
            "locale": None,
            "confirmed": True,
            "joinedAt": self.joined_at,
            "emailOnlyAuth": False,
            "hasPassword": True,
            "protected": False,
            "thumb": f"https://plex.tv/users/{self.uuid}/avatar?c=1",
            "authToken": token,
            "mailingListStatus": "unsubscribed",
            "mailingListActive": False,
            "scrobbleTypes": "",
            "country": "NL",
            "subscription": {
                "active": True,
                "subscribedAt": _iso(self.joined_at),
                "status": "Active",
                "paymentService": "",
                "plan": "lifetime",
                "features": ["webhooks", "hardware_transcoding", "sync"],
            },
            "subscriptionDescription": "Plex Pass (lifetime)",
            "restricted": False,
            "anonymous": None,
            "home": False,
            "guest": False,
            "homeSize": 1,
            "homeAdmin": True,
            "maxHomeSize": 15,
            "rememberExpiresAt": self.joined_at + 10 * 365 * 86_400,
            "profile": {
                "autoSelectAudio": True,
                "defaultAudioLanguage": "en",
                "defaultSubtitleLanguage": "en",
                "autoSelectSubtitle": 0,
                "defaultSubtitleAccessibility": 0,
                "defaultSubtitleForced": 0,
                "watchedIndicator": 1,
                "mediaReviewsVisibility": 1,
            },
            "entitlements": ["all"],
            "roles": ["plexpass"],
            "subscriptions": [],
            "pastSubscriptions": [],
            "trials": [],
            "services": [],
            "adsConsent": None,
            "adsConsentSetAt": None,
            "adsConsentReminderAt": None,
            "experimentalFeatures": False,
            "twoFactorEnabled": False,
            "backupCodesCreated": False,
            "attributionPartner": None,
        }
        for key, value in self.fields.items():
            wire = _camel(key)
            if isinstance(value, Mapping) and isinstance(user.get(wire), dict):
                user[wire] = {**user[wire], **value}
            else:
                user[wire] = value
        return user


class AccountBook:
    """Accounts by token; revoked tokens are remembered so they can answer 422, not 401."""

    def __init__(self) -> None:
        self._by_token: dict[str, Account] = {}
        self._revoked: dict[str, Account] = {}

    def create(self, username: str, now: float, *, token: str | None = None, **fields: Any) -> Account:
        token = token or new_token()
        if token in self._by_token or token in self._revoked:
            raise ValueError("that token already belongs to an account")
        joined = int(now) - 86_400 * 365
        account = Account(
            id=int(fields.pop("id", secrets.randbelow(90_000_000) + 10_000_000)),
            uuid=secrets.token_hex(8),
            username=username,
            token=token,
            joined_at=joined,
            fields=dict(fields),
            resources=[demo_server(now)],
        )
        self._by_token[token] = account
        return account

    def find(self, token: str | None) -> tuple[Account | None, bool]:
        """``(account, revoked)`` for ``token``; ``(None, False)`` when nobody ever had it."""
        if token is None:
            return None, False
        if token in self._by_token:
            return self._by_token[token], False
        if token in self._revoked:
            return self._revoked[token], True
        return None, False

    def revoke(self, token: str) -> None:
        account = self._by_token.pop(token, None)
        if account is None:
            if token in self._revoked:
                return
            raise KeyError("unknown token")
        self._revoked[token] = account

    def sign_out(self, token: str) -> None:
        """``DELETE /api/v2/users/signout``: ``token`` is forgotten (401 from now on, not 422).

        When it was the account's own token, the account gets a new one, as the next device to
        sign in would: approving pins keeps working, with a token the signed-out one is not.
        """
        account = self._by_token.pop(token, None)
        if account is None:
            raise KeyError("unknown token")
        if account.token == token:
            account.token = new_token()
            self._by_token[account.token] = account

    def accounts(self) -> list[Account]:
        return list(self._by_token.values())

    def restore(self, account: Account) -> None:
        """Make ``account``'s own token valid again (used by reset for the demo account)."""
        self._revoked.pop(account.token, None)
        self._by_token[account.token] = account

    def clear(self) -> None:
        self._by_token.clear()
        self._revoked.clear()
