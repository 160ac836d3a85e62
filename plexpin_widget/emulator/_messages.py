"""What the emulator core takes and gives: a request, a response, and plex.tv's error bodies.

The core never touches sockets, so the same :class:`EmulatorRequest` comes from the in-process
httpx transport, the loopback server or a test calling :meth:`PlexTvEmulator.handle` directly.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from . import _xml

__all__ = [
    "EmulatorRequest",
    "EmulatorResponse",
    "Responder",
    "error_response",
    "html_response",
    "json_response",
    "negotiated_response",
]

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "application/xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
_FORMAT_SUFFIXES = (".json", ".xml")


@dataclasses.dataclass
class EmulatorRequest:
    """One HTTP request as the emulator sees it.

    ``path`` is the URL path (percent-decoded, with any ``.json``/``.xml`` suffix still on it),
    ``query`` the raw query string without ``?``, ``headers`` a mapping or a sequence of
    ``(name, value)`` pairs (names are matched case-insensitively), ``body`` the raw bytes and
    ``base_url`` the scheme and host the client used (``http://127.0.0.1:8000``); it is what the
    ``qr`` field of a new pin points at unless the emulator has a ``public_url``.
    """

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = dataclasses.field(default_factory=dict)
    body: bytes = b""
    base_url: str = "http://plex.tv"

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        pairs = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        merged: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            # Repeated headers are joined the way HTTP allows, so none is silently lost.
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        self.headers = merged
        self.base_url = self.base_url.rstrip("/")

    # ------------------------------------------------------------------ plain lookups

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or ``None``."""
        assert isinstance(self.headers, dict)
        return self.headers.get(name.lower())

    @functools.cached_property
    def query_params(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.query, keep_blank_values=True)

    @functools.cached_property
    def form(self) -> dict[str, list[str]]:
        """The urlencoded form body (empty unless the body is a form)."""
        content_type = (self.header("content-type") or "").lower()
        if not self.body or "json" in content_type or "multipart" in content_type:
            return {}
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            return {}
        return urllib.parse.parse_qs(text, keep_blank_values=True)

    @functools.cached_property
    def json_body(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def query_value(self, name: str) -> str | None:
        """The first non-empty query-string value of ``name``."""
        return _first(self.query_params.get(name))

    def form_value(self, name: str) -> str | None:
        """The first non-empty form-body value of ``name``."""
        return _first(self.form.get(name))

    def param(self, name: str) -> str | None:
        """An ``X-Plex-*`` style value: header, else query string, else form body.

        plex.tv accepts every ``X-Plex-`` header as a query argument too, and some clients
        (python-plexauth) post them as form fields; the first non-empty one wins.
        """
        for value in (self.header(name), self.query_value(name), self.form_value(name)):
            if value is not None and value.strip():
                return value.strip()
        return None

    # ------------------------------------------------------------------ plex.tv specifics

    @property
    def client_identifier(self) -> str | None:
        return self.param("X-Plex-Client-Identifier")

    @property
    def token(self) -> str | None:
        return self.param("X-Plex-Token")

    @property
    def route_path(self) -> str:
        """``path`` without a trailing slash or a ``.json``/``.xml`` suffix."""
        path = self.path.rstrip("/") or "/"
        for suffix in _FORMAT_SUFFIXES:
            if path.endswith(suffix):
                return path[: -len(suffix)]
        return path

    @property
    def wants_json(self) -> bool:
        """Whether to answer JSON: a ``.json`` suffix, or ``Accept`` naming JSON (XML otherwise)."""
        path = self.path.rstrip("/")
        if path.endswith(".json"):
            return True
        if path.endswith(".xml"):
            return False
        return "application/json" in (self.header("accept") or "").lower()


def _first(values: list[str] | None) -> str | None:
    for value in values or ():
        if value.strip():
            return value
    return None


@dataclasses.dataclass
class EmulatorResponse:
    """The core's answer: ``status, headers, body = response`` unpacks the HTTP part.

    ``delay`` (seconds) and ``drop`` are instructions for whoever delivers the response: wait
    that long first (a "latency" fault), or close the connection without answering ("drop").
    ``fault`` names the injected fault that shaped this response, if any.
    """

    status: int
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    body: bytes = b""
    delay: float = 0.0
    drop: bool = False
    fault: str | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.status, self.headers, self.body))

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))


class Responder(Protocol):
    """Anything that answers an :class:`EmulatorRequest` (``PlexTvEmulator`` does): what a
    deliverer (the in-process transport, the loopback server) needs of the emulator."""

    def handle(self, request: EmulatorRequest) -> EmulatorResponse: ...


# ---------------------------------------------------------------------- builders


def json_response(status: int, payload: Any, headers: Sequence[tuple[str, str]] = ()) -> EmulatorResponse:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return EmulatorResponse(status, [("Content-Type", JSON_TYPE), *headers], body)


def xml_response(status: int, document: str, headers: Sequence[tuple[str, str]] = ()) -> EmulatorResponse:
    return EmulatorResponse(status, [("Content-Type", XML_TYPE), *headers], document.encode("utf-8"))


def html_response(status: int, page: str, headers: Sequence[tuple[str, str]] = ()) -> EmulatorResponse:
    # The pages carry one small inline script and nothing from elsewhere; say so to the browser.
    policy = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; form-action 'self'"
    base = [("Content-Type", HTML_TYPE), ("Content-Security-Policy", policy), ("Cache-Control", "no-store")]
    return EmulatorResponse(status, [*base, *headers], page.encode("utf-8"))


def negotiated_response(
    request: EmulatorRequest,
    status: int,
    payload: Any,
    render_xml: Callable[[Any], str],
    headers: Sequence[tuple[str, str]] = (),
) -> EmulatorResponse:
    """``payload`` as JSON, or as ``render_xml(payload)``, whichever the client asked for."""
    if request.wants_json:
        return json_response(status, payload, headers)
    return xml_response(status, render_xml(payload), headers)


def error_response(
    request: EmulatorRequest,
    status: int,
    code: int | None,
    message: str,
    *,
    include_status: bool = True,
    headers: Sequence[tuple[str, str]] = (),
) -> EmulatorResponse:
    """plex.tv's error body, ``{"errors":[{"code","message","status"}]}`` or its XML form.

    ``include_status=False`` mirrors the captured 404/1020 body, which has no ``status``.
    """
    error: dict[str, Any] = {}
    if code is not None:
        error["code"] = code
    error["message"] = message
    if include_status:
        error["status"] = status
    if request.wants_json:
        return json_response(status, {"errors": [error]}, headers)
    return xml_response(status, _xml.errors_xml(error), headers)


def header_text(value: bytes) -> str:
    """Plex clients send non-ASCII X-Plex-* values (a device name, say) as UTF-8."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")
