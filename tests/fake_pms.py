"""A tiny stand-in for a Plex Media Server on loopback, enough for python-plexapi's ``PlexServer``.

It answers ``GET /`` with the ``<MediaContainer>`` that ``PlexServer._loadData`` reads, but only
to the server's own access token (401 otherwise), and records the tokens it was sent.
"""

from __future__ import annotations

import datetime as _dt
import http.server
import secrets
import threading
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

from plexpin_widget._models import Connection, PlexResource

__all__ = ["FakePlexMediaServer", "closed_port", "server_resource"]


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakePlexMediaServer:
    """``with FakePlexMediaServer("Fake PMS") as pms: pms.url, pms.token, pms.machine``."""

    def __init__(self, name: str = "Fake PMS", *, machine: str | None = None, token: str | None = None) -> None:
        self.name = name
        self.machine = machine or secrets.token_hex(20)
        self.token = token or "pms-" + secrets.token_hex(10)
        self.tokens_seen: list[str | None] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                fake.tokens_seen.append(self.headers.get("X-Plex-Token"))
                if self.headers.get("X-Plex-Token") != fake.token:
                    self._reply(401, b"<html><body>401 Unauthorized</body></html>", "text/html")
                    return
                if self.path.split("?")[0] != "/":
                    self._reply(404, b"<MediaContainer size=\"0\"/>", "text/xml")
                    return
                body = (
                    f'<?xml version="1.0" encoding="UTF-8"?>\n'
                    f"<MediaContainer size=\"0\" friendlyName={quoteattr(fake.name)} "
                    f'machineIdentifier="{fake.machine}" version="1.41.3.9314-a0bfb8370" '
                    f'platform="Linux" platformVersion="6.1.0" myPlex="1" myPlexUsername="demo" '
                    f'transcoderActiveVideoSessions="0" updatedAt="1700000000"/>'
                ).encode()
                self._reply(200, body, "text/xml;charset=utf-8")

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-pms", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> FakePlexMediaServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> FakePlexMediaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def resource(self, connections: Sequence[Connection] | None = None, *, owned: bool = True) -> PlexResource:
        """This server as plex.tv lists it; by default one local connection to :attr:`url`."""
        if connections is None:
            connections = [Connection(uri=self.url, protocol="http", address="127.0.0.1", port=self.port, local=True)]
        return server_resource(self.name, self.machine, self.token, connections, owned=owned)


def server_resource(
    name: str, machine: str, token: str, connections: Sequence[Connection], *, owned: bool = True
) -> PlexResource:
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    return PlexResource(
        name=name,
        client_identifier=machine,
        product="Plex Media Server",
        product_version="1.41.3.9314-a0bfb8370",
        platform="Linux",
        platform_version="6.1.0",
        device="PC",
        created_at=now - _dt.timedelta(days=30),
        last_seen_at=now,
        provides=("server",),
        owned=owned,
        home=False,
        synced=False,
        relay=True,
        presence=True,
        https_required=False,
        public_address_matches=True,
        dns_rebinding_protection=False,
        nat_loopback_supported=False,
        public_address="127.0.0.1",
        connections=tuple(connections),
        access_token=token,
    )
