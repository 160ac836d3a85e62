"""TLS: certificates are always verified, and an untrusted one fails with a clear error.

* No code path turns verification off: the package source never says ``verify=False`` (or
  any other way of switching checks off), and every httpx client the package builds gets a
  verifying configuration.
* Against a loopback HTTPS server whose certificate comes from a CA nobody trusts (made with
  ``trustme``), ``create_pin`` raises :class:`NetworkError` saying the certificate could not
  be verified; the same server answers a client that does trust the CA, so the failure is the
  certificate's and not the server's.
"""

from __future__ import annotations

import http.server
import os
import re
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import plexpin_widget
from plexpin_widget import AsyncPlexTvClient, CertificateError, NetworkError, PlexPinLogin, PlexPinError, PlexTvClient, _client

PACKAGE = Path(plexpin_widget.__file__).resolve().parent

# Ways to switch verification off, in httpx, requests, ssl and urllib3 terms.
DISABLING = [
    re.compile(r"verify\s*=\s*False"),
    re.compile(r"CERT_NONE"),
    re.compile(r"check_hostname\s*=\s*False"),
    re.compile(r"_create_unverified_context"),
    re.compile(r"cert_reqs\s*=\s*['\"]?(CERT_)?NONE", re.IGNORECASE),
    re.compile(r"disable_warnings"),
]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXPIN_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("PLEXPIN_BASE_URL", raising=False)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):  # the untrusted CA must stay untrusted
        monkeypatch.delenv(name, raising=False)


def test_package_source_never_turns_verification_off() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 10, "the package source was not found"
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(pattern.search(line) for pattern in DISABLING)
    ]
    assert not found, "certificate verification switched off:\n" + "\n".join(found)


def _verifying(verify: Any) -> bool:
    if verify is True:
        return True
    return isinstance(verify, ssl.SSLContext) and verify.verify_mode == ssl.CERT_REQUIRED and verify.check_hostname


async def test_every_client_is_built_with_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spy on httpx's constructors: whatever the package passes as ``verify`` must verify."""
    seen: list[tuple[str, Any]] = []
    for cls in (httpx.Client, httpx.AsyncClient):
        original = cls.__init__

        def spy(self: Any, *args: Any, __original: Any = original, __name: str = cls.__name__, **kwargs: Any) -> None:
            seen.append((__name, kwargs.get("verify", True)))
            __original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", spy)
    for base_url in ("https://plex.tv", "http://127.0.0.1:9"):
        PlexTvClient(client_identifier="tls-test", base_url=base_url).close()
        await AsyncPlexTvClient(client_identifier="tls-test", base_url=base_url).aclose()
    assert {name for name, _ in seen} == {"Client", "AsyncClient"}
    assert all(_verifying(verify) for _, verify in seen), seen


# --------------------------------------------------------------------------- an untrusted server


class _Answer(http.server.BaseHTTPRequestHandler):
    def _reply(self) -> None:
        body = b'{"id": 1, "code": "ABCD", "expiresIn": 900}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


class _TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # refused handshakes are the point of the test


@pytest.fixture(scope="module")
def untrusted_ca() -> Any:
    """A certificate authority nobody trusts (``trustme``, from the ``test`` extra)."""
    try:
        import trustme
    except ImportError:
        # As with Chromium for the browser tests: a skip on a developer's machine, an error in CI.
        message = "trustme is not installed (pip install trustme; it belongs in the test extra)"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_server(untrusted_ca: Any) -> Iterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    untrusted_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = _TLSServer(("127.0.0.1", 0), _Answer)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="untrusted-tls-server")
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_the_server_works_for_a_client_that_trusts_its_ca(tls_server: str, untrusted_ca: Any) -> None:
    trusting = ssl.create_default_context()
    untrusted_ca.configure_trust(trusting)
    response = httpx.post(f"{tls_server}/api/v2/pins", verify=trusting)
    assert response.status_code == 201


def _assert_certificate_error(excinfo: pytest.ExceptionInfo[PlexPinError]) -> None:
    error = excinfo.value
    assert isinstance(error, CertificateError) and isinstance(error, NetworkError)
    assert error.retryable is False, "waiting does not fix a certificate"
    message = str(error)
    assert "certificate could not be verified" in message, message
    assert message.startswith("POST /api/v2/pins failed"), message


def test_untrusted_certificate_fails_clearly(tls_server: str) -> None:
    with PlexTvClient(client_identifier="tls-test", base_url=tls_server, timeout=10) as client:
        with pytest.raises(NetworkError) as excinfo:
            client.create_pin()
    _assert_certificate_error(excinfo)


async def test_untrusted_certificate_fails_clearly_async(tls_server: str) -> None:
    async with AsyncPlexTvClient(client_identifier="tls-test", base_url=tls_server, timeout=10) as client:
        with pytest.raises(NetworkError) as excinfo:
            await client.create_pin()
    _assert_certificate_error(excinfo)


@pytest.fixture
def package_trusts(untrusted_ca: Any, tmp_path: Path) -> Iterator[None]:
    """Make the package's shared TLS context trust the test CA, as a CA added to the trust store
    would; a fresh context is built again afterwards."""
    bundle = tmp_path / "ca.pem"
    untrusted_ca.cert_pem.write_to_path(str(bundle))
    _client._tls_context.cache_clear()
    _client._tls_context().load_verify_locations(cafile=str(bundle))
    try:
        yield
    finally:
        _client._tls_context.cache_clear()


def test_hostname_mismatch_fails_clearly(untrusted_ca: Any, tls_server: str, package_trusts: None) -> None:
    """With the CA trusted, the right name is accepted and a wrong one still refused."""
    with PlexTvClient(client_identifier="tls-test", base_url=tls_server) as client:
        assert client.create_pin().code == "ABCD"
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    untrusted_ca.issue_cert("plex.example").configure_cert(context)
    server = _TLSServer(("127.0.0.1", 0), _Answer)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="wrong-name-tls-server")
    thread.start()
    try:
        with PlexTvClient(client_identifier="tls-test", base_url=f"https://127.0.0.1:{server.server_address[1]}") as client:
            with pytest.raises(NetworkError) as excinfo:
                client.create_pin()
        _assert_certificate_error(excinfo)
        assert "mismatch" in str(excinfo.value).lower()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_widget_stops_with_a_clear_sentence_on_an_untrusted_certificate(
    tls_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLEXPIN_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PLEXPIN_KEYRING", "0")
    monkeypatch.delenv("PLEX_TOKEN", raising=False)
    login = PlexPinLogin(product="TLS test", base_url=tls_server, client_identifier="tls-test")
    try:
        # No event loop here: the first request is made now, in this thread.
        login._session.drive_first_request()
        assert login.status == "error", "a certificate failure is not retried forever"
        assert "certificate could not be verified" in login.error
        with pytest.raises(PlexPinError) as excinfo:
            login.wait(timeout=5)
        assert isinstance(excinfo.value.__cause__, CertificateError)
    finally:
        login.close()
