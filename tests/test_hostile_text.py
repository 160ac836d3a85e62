"""Hostile text from the server (or in a product name) is shown as text and never runs.

Usernames, product names, pin codes, location fields and Plex error messages carrying HTML and
script payloads go through every place they can surface: the widget's HTML traits (walked over
the whole widget tree), its fallback HTML and text, and the emulator's ``/``, ``/link`` and
``/auth`` pages. Each HTML string is parsed: it must contain no script, frame, image or SVG
element of the payload's, no ``on*`` handler, no link to anything but http(s), and the payload
must appear in its text exactly as written. Strong-pin URLs carry odd product names intact.
"""

from __future__ import annotations

import asyncio
import html.parser
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
import ipywidgets
import pytest

from helpers import widgets_below

from plexpin_widget import PlexPinLogin, auth_url
from plexpin_widget._view import ViewState, fallback_html, fallback_text
from plexpin_widget.emulator import PlexTvEmulator

PAYLOADS = [
    "<script>alert('pwned')</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</b></span><iframe src=javascript:alert(1)></iframe>",
    "javascript:alert(document.cookie)",
    "&lt;script&gt;already escaped&lt;/script&gt;",
    "<a href=\"javascript:alert(1)\">click</a>",
]
FORBIDDEN_TAGS = {"script", "img", "iframe", "svg", "object", "embed", "frame", "math", "form", "base", "meta"}
ODD_PRODUCTS = ["Tom & Jerry's #1 app", "100% + C++ ?x=y&z=1", "a/b\\c #frag", "Ünïcødé ✓ 名前", "  spaced  out  "]
BASE = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXPIN_CONFIG_DIR", str(tmp_path))
    for name in ("PLEXPIN_BASE_URL", "PLEXPIN_CLIENT_IDENTIFIER", "PLEX_TOKEN"):
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- looking at HTML


class Parsed(html.parser.HTMLParser):
    """Tags, attributes and the text a browser would show."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text_parts: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text_parts).append(data)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def attribute_values(self) -> list[str]:
        return [value or "" for _, attrs in self.tags for _, value in attrs]


def assert_inert(markup: str, *, page: bool = False, where: str = "") -> Parsed:
    """No element, handler or link that a payload could have made. ``page``: a whole page of the
    emulator's, which has its own ``<meta>``, ``<form>`` and (``/auth``) one fixed script."""
    parsed = Parsed(markup)
    tags = [tag for tag, _ in parsed.tags]
    assert tags.count("script") <= (1 if page else 0), f"{where}: a script element: {markup[:300]}"
    forbidden = FORBIDDEN_TAGS - ({"script", "form", "meta"} if page else {"script"})
    assert not forbidden & set(tags), f"{where}: {forbidden & set(tags)} in {markup[:300]}"
    for tag, attrs in parsed.tags:
        for name, value in attrs:
            assert not name.startswith("on"), f"{where}: event handler {name} on <{tag}>"
            if name in ("href", "src", "action", "formaction") and value:
                scheme = urllib.parse.urlsplit(value.strip()).scheme.lower()
                assert scheme in ("", "http", "https"), f"{where}: <{tag} {name}={value!r}>"
    return parsed


def assert_shown(markup: str, payload: str, where: str = "") -> None:
    """The payload is displayed verbatim as text, not interpreted."""
    parsed = Parsed(markup)
    shown = parsed.text + "".join(parsed.attribute_values())
    assert payload.strip() in shown, f"{where}: {payload!r} not shown as text in {markup[:400]}"


def rendered_html(login: PlexPinLogin) -> list[str]:
    """Every synced string that a front end renders as HTML, across the whole widget tree.

    (Data traits such as ``code`` hold the server's text as sent; front ends show them, if at
    all, as text. What matters is what is put into HTML.)
    """
    found = []
    for widget in widgets_below(login):
        if isinstance(widget, (ipywidgets.HTML, ipywidgets.HTMLMath)):
            found.append(widget.value)
        if getattr(widget, "description_allow_html", False):
            found.append(widget.description)
    return found


def check_widget(login: PlexPinLogin, payloads: list[str], where: str) -> str:
    """Every HTML value in the widget tree and the fallback HTML is inert; returns them joined."""
    html_values = rendered_html(login)
    assert html_values, "no HTML found in the widget tree"
    html_values.append(login._repr_mimebundle_()["text/html"])
    for markup in html_values:
        for payload in payloads:
            if "<" in payload or '"' in payload:
                assert payload not in markup, f"{where}: raw payload {payload!r} in {markup[:300]}"
        assert_inert(markup, where=where)
    return "\n".join(html_values)


async def _until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- the widget


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_hostile_username_and_product_in_the_widget(payload: str) -> None:
    emu = PlexTvEmulator()
    account_token = emu.add_account(username=payload, title=payload, email=f"{len(payload)}@example.com")
    login = PlexPinLogin(product=payload, base_url=BASE, transport=emu.transport(), poll_interval=0.05,
                         client_identifier="hostile-test")
    try:
        await _until(lambda: login.status == "waiting", what="a code")
        markup = check_widget(login, [payload], "waiting")
        assert_shown(markup, payload, "title while waiting")
        emu.claim(pin_id=login.pin.id, token=account_token)
        assert await login.wait_async(timeout=10) == account_token
        await _until(lambda: login.user is not None, what="the account")
        markup = check_widget(login, [payload], "signed in")
        assert_shown(markup, f"Signed in as {payload.strip()}", "signed-in line")
        assert payload in fallback_text(login._view_state())
    finally:
        await login.aclose()


def _hostile_plex(payload: str, *, create_status: int = 201) -> httpx.MockTransport:
    """A plex.tv that answers with a pin whose every text field is ``payload``."""
    location = {key: payload for key in ("code", "continent_code", "country", "city", "time_zone",
                                          "postal_code", "subdivisions", "coordinates")}
    pin = {"id": 7, "code": payload, "product": payload, "qr": "javascript:alert(1)", "clientIdentifier": payload,
           "location": location, "expiresIn": 900, "createdAt": "2024-01-01T00:00:00Z",
           "expiresAt": "2024-01-01T00:15:00Z", "authToken": None}

    def answer(request: httpx.Request) -> httpx.Response:
        if create_status != 201:
            body = {"errors": [{"code": 9, "message": payload, "status": create_status}]}
            return httpx.Response(create_status, json=body)
        return httpx.Response(201 if request.method == "POST" else 200, json=pin)

    return httpx.MockTransport(answer)


@pytest.mark.parametrize("strong", [False, True])
@pytest.mark.parametrize("payload", PAYLOADS)
async def test_hostile_code_and_location_from_the_server(payload: str, strong: bool) -> None:
    login = PlexPinLogin(product="Safe", strong=strong, base_url=BASE, transport=_hostile_plex(payload),
                         poll_interval=0.05, client_identifier="hostile-test")
    try:
        await _until(lambda: login.status == "waiting", what="a code")
        assert login.code == payload  # the trait holds the value as sent; only rendering escapes
        markup = check_widget(login, [payload], "hostile code")
        assert_shown(markup, payload, "code")
        for href in (value for tag, attrs in Parsed(markup).tags if tag == "a" for name, value in attrs if name == "href"):
            assert href.startswith(BASE + "/"), href
        assert urllib.parse.parse_qs(urllib.parse.urlsplit(login.auth_url.replace("#?", "?")).query)[
            "code" if strong else "pin"] == [payload]
    finally:
        await login.aclose()


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_hostile_plex_error_message(payload: str) -> None:
    login = PlexPinLogin(base_url=BASE, transport=_hostile_plex(payload, create_status=418), poll_interval=0.05,
                         client_identifier="hostile-test")
    try:
        await _until(lambda: login.status == "error", what="the error")
        assert payload.strip() in login.error
        markup = check_widget(login, [payload], "plex error")
        assert_shown(markup, payload, "error line")
    finally:
        await login.aclose()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_fallback_renderings_escape_every_field(payload: str) -> None:
    for status in ("waiting", "authorized", "error", "requesting"):
        state = ViewState(status=status, code=payload, auth_url=f"{BASE}/link/?pin=x", seconds_left=30,
                          lifetime=900, error=payload, username=payload, product=payload, notice=payload,
                          reconnecting=True)
        markup = fallback_html(state)
        assert payload not in markup or "<" not in payload
        assert_inert(markup, where=f"fallback {status}")
        assert_shown(markup, payload, f"fallback {status}")


def test_view_never_links_to_a_hostile_auth_url() -> None:
    """Even a javascript: URL in the state cannot become a live link."""
    state = ViewState(status="waiting", code="ABCD", auth_url="javascript:alert(1)", seconds_left=30, lifetime=900)
    markup = fallback_html(state)
    for _tag, attrs in Parsed(markup).tags:
        for name, value in attrs:
            if name == "href":
                assert not (value or "").lower().startswith("javascript"), markup


# --------------------------------------------------------------------------- the emulator's pages


def _page(emu: PlexTvEmulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    with httpx.Client(transport=emu.transport(), base_url=BASE) as client:
        return client.request(method, path, **kwargs)


def _emulator_pages(value: str) -> dict[str, httpx.Response]:
    """Every page of the emulator, with ``value`` as the username, the product and the code typed."""
    emu = PlexTvEmulator(username=value)
    headers = {"X-Plex-Client-Identifier": "hostile-test", "X-Plex-Product": value, "Accept": "application/json"}
    short = _page(emu, "POST", "/api/v2/pins", headers=headers).json()
    strong = _page(emu, "POST", "/api/v2/pins", params={"strong": "true"}, headers=headers).json()
    return {
        "index": _page(emu, "GET", "/"),
        "link form": _page(emu, "GET", "/link", params={"pin": value}),
        "auth form": _page(emu, "GET", "/auth"),
        "link unknown code": _page(emu, "POST", "/link", data={"code": value}),
        "link approved": _page(emu, "POST", "/link", data={"code": short["code"]}),
        "auth unknown code": _page(emu, "POST", "/auth", data={"code": value}),
        "auth approved": _page(emu, "POST", "/auth", data={"code": strong["code"], "clientID": "hostile-test",
                                                           "forwardUrl": "javascript:alert(1)"}),
    }


@pytest.mark.parametrize("payload", PAYLOADS)
def test_emulator_pages_escape_hostile_values(payload: str) -> None:
    pages = _emulator_pages(payload)
    benign = _emulator_pages("Benign Name")
    for name, response in pages.items():
        assert response.headers["content-type"].startswith("text/html"), name
        assert "default-src 'none'" in response.headers.get("content-security-policy", ""), name
        page = response.text
        parsed = assert_inert(page, page=True, where=name)
        reference = Parsed(benign[name].text)
        # The payload added no element: the page has exactly the benign page's elements and script.
        assert [tag for tag, _ in parsed.tags] == [tag for tag, _ in reference.tags], name
        assert parsed.scripts == reference.scripts, name
        if "<" in payload or '"' in payload:
            assert payload not in page, f"{name}: raw payload"
        assert_shown(page, payload, f"{name} (username)")
    assert_shown(pages["link approved"].text, f"({payload.strip()})", "approved product")
    assert "forward" not in [dict(a).get("id") for _, a in Parsed(pages["auth approved"].text).tags]


def test_emulator_forward_link_is_escaped() -> None:
    emu = PlexTvEmulator()
    headers = {"X-Plex-Client-Identifier": "hostile-test", "Accept": "application/json"}
    strong = _page(emu, "POST", "/api/v2/pins", params={"strong": "true"}, headers=headers).json()
    forward = 'https://app.example/done?"><script>alert(1)</script>'
    page = _page(emu, "POST", "/auth", data={"code": strong["code"], "forwardUrl": forward}).text
    parsed = assert_inert(page, page=True, where="forward link")
    hrefs = [dict(attrs).get("href") for tag, attrs in parsed.tags if tag == "a" and dict(attrs).get("id") == "forward"]
    assert hrefs == [forward]


# --------------------------------------------------------------------------- strong-pin URLs


def _fragment_params(url: str) -> dict[str, list[str]]:
    fragment = urllib.parse.urlsplit(url).fragment
    assert fragment.startswith("?"), url
    return urllib.parse.parse_qs(fragment[1:], keep_blank_values=True)


@pytest.mark.parametrize("product", ODD_PRODUCTS + PAYLOADS)
def test_strong_pin_url_carries_an_odd_product_intact(product: str) -> None:
    for base in ("https://plex.tv", BASE):
        url = auth_url(base, "abcdefghijklmnopqrstuvwxy", strong=True, client_identifier="id-1", product=product)
        assert url.count("#") == 1 and " " not in url and "<" not in url and '"' not in url, url
        params = _fragment_params(url)
        assert params == {"clientID": ["id-1"], "code": ["abcdefghijklmnopqrstuvwxy"],
                          "context[device][product]": [product]}, url


@pytest.mark.parametrize("product", ODD_PRODUCTS)
async def test_widget_strong_url_round_trips_through_the_emulator(product: str) -> None:
    emu = PlexTvEmulator()
    login = PlexPinLogin(product=product, strong=True, base_url=BASE, transport=emu.transport(),
                         poll_interval=0.05, client_identifier="odd-product")
    try:
        await _until(lambda: login.status == "waiting", what="a code")
        params = _fragment_params(login.auth_url)
        assert params["context[device][product]"] == [product.strip()]
        assert params["code"] == [login.code]
        # The emulator's own approval URL for the same pin says the same.
        assert _fragment_params(emu.approval_url(login.code, BASE)) == params
    finally:
        await login.aclose()
