"""After a JWT sign-in: a media server's 401 to a Plex JWT is explained, and tokens are revoked."""

from __future__ import annotations

import httpx
import pytest

from fake_pms import FakePlexMediaServer, server_resource
from plexpin_widget._account import JWT_SERVER_HINT, ServerConnectionError, connect_server, revoke_token
from plexpin_widget._errors import NetworkError
from plexpin_widget._identity import ClientIdentity
from plexpin_widget._models import Connection

# The shape of a Plex JWT (header {"alg":"EdDSA","typ":"JWT"}); no server accepts it here.
PLEX_JWT = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJwbGV4LnR2In0.c2lnbmF0dXJl"
IDENTITY = ClientIdentity.create(product="t", client_identifier="client-acc-1")


def _resource(pms: FakePlexMediaServer, token: str) -> object:
    connection = Connection(uri=pms.url, protocol="http", address="127.0.0.1", port=pms.port, local=True)
    return server_resource(pms.name, pms.machine, token, [connection])


def test_a_server_refusing_a_plex_jwt_says_so_in_words() -> None:
    with FakePlexMediaServer("JWT-shy PMS") as pms:
        with pytest.raises(ServerConnectionError) as caught:
            connect_server(PLEX_JWT, identity=IDENTITY, base_url="http://127.0.0.1:1",
                           resources=[_resource(pms, PLEX_JWT)], timeout=5)
    text = str(caught.value)
    assert JWT_SERVER_HINT in text and "jwt=True" in text
    assert "refused the Plex JWT (401" in text
    assert PLEX_JWT not in text and "eyJ" not in text
    assert pms.tokens_seen and pms.tokens_seen[0] == PLEX_JWT  # the resource's accessToken was used


def test_a_classic_token_401_is_not_blamed_on_jwts() -> None:
    with FakePlexMediaServer("Strict PMS") as pms:
        with pytest.raises(ServerConnectionError) as caught:
            connect_server("classic-wrong-token", identity=IDENTITY, base_url="http://127.0.0.1:1",
                           resources=[_resource(pms, "classic-wrong-token")], timeout=5)
    assert JWT_SERVER_HINT not in str(caught.value)


def test_a_server_that_takes_the_jwt_is_returned() -> None:
    with FakePlexMediaServer("JWT-happy PMS", token=PLEX_JWT) as pms:
        server = connect_server(PLEX_JWT, identity=IDENTITY, base_url="http://127.0.0.1:1",
                                resources=[_resource(pms, PLEX_JWT)], timeout=5)
    assert server.machineIdentifier == pms.machine


def test_revoke_sends_the_token_and_tolerates_an_unknown_one() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204 if len(seen) == 1 else 401, json={} if len(seen) > 1 else None)

    transport = httpx.MockTransport(handler)
    revoke_token("tok-1", identity=IDENTITY, base_url="http://127.0.0.1:1", transport=transport)
    revoke_token("tok-1", identity=IDENTITY, base_url="http://127.0.0.1:1", transport=transport)
    assert [r.method for r in seen] == ["DELETE", "DELETE"]
    assert seen[0].headers["X-Plex-Token"] == "tok-1"


def test_revoke_reports_an_unreachable_plex_tv() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(NetworkError) as caught:
        revoke_token("tok-1", identity=IDENTITY, base_url="http://127.0.0.1:1", transport=httpx.MockTransport(handler))
    assert "tok-1" not in str(caught.value)
