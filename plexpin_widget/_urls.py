"""Where requests go (the base URL) and where the person goes to approve a code."""

from __future__ import annotations

import ipaddress
import os
import urllib.parse

from ._errors import ConfigurationError

__all__ = ["BASE_URL_ENV", "DEFAULT_BASE_URL", "auth_url", "is_loopback_host", "resolve_base_url"]

BASE_URL_ENV = "PLEXPIN_BASE_URL"
DEFAULT_BASE_URL = "https://plex.tv"
_PLEX_HOSTS = {"plex.tv", "www.plex.tv", "clients.plex.tv"}


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine: ``localhost`` or a loopback address."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_base_url(explicit: str | None = None) -> str:
    """The plex.tv base URL: ``explicit``, else ``$PLEXPIN_BASE_URL``, else ``https://plex.tv``.

    Plain http is refused unless the host is loopback (the emulator), so a typo can never
    send a token across a network unencrypted.
    """
    name = "base_url"
    value = explicit
    if value is None:
        value = os.environ.get(BASE_URL_ENV) or None
        name = BASE_URL_ENV
    if value is None:
        return DEFAULT_BASE_URL
    if not isinstance(value, str):
        raise ConfigurationError(name, f"must be a string, not {type(value).__name__}")
    text = value.strip()
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(name, f"{text!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ConfigurationError(name, f"{text!r} must start with https:// (or http:// for loopback)")
    host = parts.hostname or ""
    if not host:
        raise ConfigurationError(name, f"{text!r} has no host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(name, f"{text!r} must not carry a query, fragment or credentials")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigurationError(
            name, f"{text!r} uses plain http to a non-loopback host; use https"
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def is_plex_tv(base_url: str) -> bool:
    host = urllib.parse.urlsplit(base_url).hostname or ""
    return host in _PLEX_HOSTS


def auth_url(
    base_url: str,
    code: str,
    *,
    strong: bool,
    client_identifier: str,
    product: str,
    forward_url: str | None = None,
) -> str:
    """The page where the person approves ``code``.

    Short codes go to ``https://plex.tv/link/?pin=CODE``; strong codes to the Plex auth app,
    ``https://app.plex.tv/auth#?clientID=…&code=…&context%5Bdevice%5D%5Bproduct%5D=…``. When
    ``base_url`` is not plex.tv (the emulator), the same paths on ``base_url`` are used.
    """
    real = is_plex_tv(base_url)
    if not strong:
        root = "https://plex.tv" if real else base_url
        return f"{root}/link/?" + urllib.parse.urlencode({"pin": code}, quote_via=urllib.parse.quote)
    root = "https://app.plex.tv" if real else base_url
    params = [
        ("clientID", client_identifier),
        ("code", code),
        ("context[device][product]", product),
    ]
    if forward_url:
        params.append(("forwardUrl", forward_url))
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote, safe="")
    return f"{root}/auth#?{query}"
