"""Where requests go (base URL rules) and where the person is sent to approve a code."""

from __future__ import annotations

import urllib.parse

import pytest

from plexpin_widget._errors import ConfigurationError
from plexpin_widget._urls import BASE_URL_ENV, auth_url, is_loopback_host, resolve_base_url


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BASE_URL_ENV, raising=False)


# ----------------------------------------------------------------------------- base URL


def test_default_is_plex_tv() -> None:
    assert resolve_base_url() == "https://plex.tv"


def test_env_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:8765")
    assert resolve_base_url() == "http://127.0.0.1:8765"


def test_empty_env_means_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_URL_ENV, "")
    assert resolve_base_url() == "https://plex.tv"


def test_argument_wins_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:1")
    assert resolve_base_url("https://clients.plex.tv") == "https://clients.plex.tv"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://plex.tv/", "https://plex.tv"),
        ("https://plex.tv///", "https://plex.tv"),
        ("  https://plex.tv  ", "https://plex.tv"),
        ("HTTPS://Plex.TV/", "https://plex.tv"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("http://localhost:9/", "http://localhost:9"),
        ("http://127.5.6.7", "http://127.5.6.7"),
        ("https://proxy.example/plex/", "https://proxy.example/plex"),
    ],
)
def test_accepted_and_normalised(raw: str, expected: str) -> None:
    assert resolve_base_url(raw) == expected


@pytest.mark.parametrize("host", ["plex.tv", "10.0.0.5", "192.168.1.2", "example.com", "[2001:db8::1]"])
def test_plain_http_refused_off_loopback(host: str) -> None:
    with pytest.raises(ConfigurationError, match="plain http") as info:
        resolve_base_url(f"http://{host}:32400")
    assert info.value.name == "base_url"
    assert "https" in str(info.value)


def test_plain_http_from_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_URL_ENV, "http://plex.tv")
    with pytest.raises(ConfigurationError, match=BASE_URL_ENV) as info:
        resolve_base_url()
    assert info.value.name == BASE_URL_ENV


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://plex.tv",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "plex.tv",
        "",
        "https://",
        "https://plex.tv/?x=1",
        "https://plex.tv/#frag",
        "https://user:pw@plex.tv",
        "https://plex.tv:notaport",
    ],
)
def test_bad_urls_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        resolve_base_url(bad)


def test_non_string_refused() -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        resolve_base_url(8080)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.10.0.1", True),
        ("10.0.0.1", False),
        ("plex.tv", False),
        ("localhost.evil.com", False),
        ("0.0.0.0", False),
    ],
)
def test_is_loopback_host(host: str, expected: bool) -> None:
    assert is_loopback_host(host) is expected


# ----------------------------------------------------------------------------- auth_url


def _fragment_params(url: str) -> dict[str, list[str]]:
    split = urllib.parse.urlsplit(url)
    assert split.fragment.startswith("?")
    return urllib.parse.parse_qs(split.fragment[1:], keep_blank_values=True, strict_parsing=True)


def test_short_code_goes_to_link_page() -> None:
    url = auth_url("https://plex.tv", "7RQZ", strong=False, client_identifier="c", product="p")
    assert url == "https://plex.tv/link/?pin=7RQZ"


def test_short_code_on_clients_host_still_goes_to_plex_tv_link() -> None:
    url = auth_url("https://clients.plex.tv", "7RQZ", strong=False, client_identifier="c", product="p")
    assert url == "https://plex.tv/link/?pin=7RQZ"


def test_strong_code_goes_to_auth_app() -> None:
    url = auth_url(
        "https://plex.tv",
        "adladoqienbfquboqoqiobeoi",
        strong=True,
        client_identifier="9klpwueublnfbvlx95w83ah9",
        product="My Cool Plex App",
        forward_url="https://my-cool-plex-app.com",
    )
    # Byte for byte the OFFICIAL example's shape.
    assert url == (
        "https://app.plex.tv/auth#?clientID=9klpwueublnfbvlx95w83ah9&code=adladoqienbfquboqoqiobeoi"
        "&context%5Bdevice%5D%5Bproduct%5D=My%20Cool%20Plex%20App"
        "&forwardUrl=https%3A%2F%2Fmy-cool-plex-app.com"
    )


def test_strong_code_without_forward_url() -> None:
    url = auth_url("https://plex.tv", "abc", strong=True, client_identifier="cid", product="P")
    assert "forwardUrl" not in url
    assert _fragment_params(url) == {"clientID": ["cid"], "code": ["abc"], "context[device][product]": ["P"]}


@pytest.mark.parametrize(
    "product",
    ["A & B", "hash # tag", "two  spaces", "<script>alert('x')</script>", "Café ✓ 日本", "a=b&c=d", "100%"],
)
def test_odd_product_characters_round_trip(product: str) -> None:
    forward = "https://example.com/back?x=1&y=#z"
    url = auth_url(
        "https://plex.tv", "code123", strong=True, client_identifier="cid", product=product,
        forward_url=forward,
    )
    split = urllib.parse.urlsplit(url)
    assert (split.scheme, split.netloc, split.path) == ("https", "app.plex.tv", "/auth")
    # Nothing unencoded could break out of its parameter or the fragment.
    assert url.count("#") == 1
    assert split.fragment.count("&") == 3  # only the separators of the four parameters
    assert split.fragment.count("=") == 4
    for ch in " <>'\"":
        assert ch not in url, ch
    params = _fragment_params(url)
    assert params == {
        "clientID": ["cid"],
        "code": ["code123"],
        "context[device][product]": [product],
        "forwardUrl": [forward],
    }


def test_emulator_base_url_uses_its_own_pages() -> None:
    base = "http://127.0.0.1:8765"
    short = auth_url(base, "AB12", strong=False, client_identifier="c", product="p")
    assert short == "http://127.0.0.1:8765/link/?pin=AB12"
    strong = auth_url(base, "abcdefghij0123456789abcde", strong=True, client_identifier="c", product="p")
    split = urllib.parse.urlsplit(strong)
    assert (split.scheme, split.netloc, split.path) == ("http", "127.0.0.1:8765", "/auth")
    assert _fragment_params(strong)["code"] == ["abcdefghij0123456789abcde"]


def test_short_code_is_percent_encoded() -> None:
    url = auth_url("https://plex.tv", "A B&", strong=False, client_identifier="c", product="p")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(url).query) == {"pin": ["A B&"]}
