"""A local stand-in for plex.tv's PIN login endpoints, for tests and demos.

>>> from plexpin_widget.emulator import PlexTvEmulator, EmulatorServer
>>> emu = PlexTvEmulator()
>>> transport = emu.transport()          # httpx, in-process, sync and async
>>> with EmulatorServer(emu) as server:  # real HTTP on loopback  # doctest: +SKIP
...     print(server.url)

It answers ``POST /api/v2/pins``, ``GET /api/v2/pins/{id}``, ``PUT /api/v2/pins/link``,
``GET /api/v2/pins/qr/{code}``, ``GET /api/v2/user`` and ``GET /api/v2/resources`` in
plex.tv's JSON and XML shapes, Plex's JWT sign-in (pins with a device JWK and the
``deviceJWT`` exchange, ``/api/v2/auth/{nonce,token,keys,jwk}``, ``DELETE
/api/v2/users/signout``) on the paths of plex.tv and clients.plex.tv alike, shows ``/link`` and ``/auth`` pages where a person approves a
code, and offers test hooks (``claim``, ``auto_claim``, ``faults``, ``clock``,
``request_log``...) in Python and over HTTP under ``/__emulator__/``.

This package imports only ``plexpin_widget._models``, ``plexpin_widget._jwk`` (whose
PyJWT/cryptography are needed only once a JWT endpoint is used) and ``plexpin_widget._qr`` (the
same QR drawing as the widget) from the rest of plexpin_widget.
"""

from ._app import NONCE_RATE_LIMIT_CODE, LoggedRequest, PlexTvEmulator
from ._cli import main
from ._faults import FAULT_KINDS, RATE_LIMIT_CODE, Fault, FaultRule, Faults
from ._jwt_api import JWK_MISSING_CODE
from ._jwt_state import DEFAULT_JWT_LIFETIME, NONCE_LIFETIME
from ._messages import EmulatorRequest, EmulatorResponse
from ._server import EmulatorServer
from ._state import Clock
from ._transport import EmulatorTransport

__all__ = [
    "DEFAULT_JWT_LIFETIME",
    "FAULT_KINDS",
    "JWK_MISSING_CODE",
    "NONCE_LIFETIME",
    "NONCE_RATE_LIMIT_CODE",
    "RATE_LIMIT_CODE",
    "Clock",
    "EmulatorRequest",
    "EmulatorResponse",
    "EmulatorServer",
    "EmulatorTransport",
    "Fault",
    "FaultRule",
    "Faults",
    "LoggedRequest",
    "PlexTvEmulator",
    "main",
    "plexapi_urls",
]


def plexapi_urls(base_url: str) -> dict[str, str]:
    """python-plexapi's hard-coded plex.tv URLs, rebased on ``base_url``.

    Keys are ``"Class.ATTRIBUTE"`` names in ``plexapi.myplex``; set each (e.g. with pytest's
    ``monkeypatch.setattr(myplex.MyPlexPinLogin, "PINS", urls["MyPlexPinLogin.PINS"])``) to
    point python-plexapi at the emulator.
    """
    base = base_url.rstrip("/")
    return {
        "MyPlexPinLogin.PINS": f"{base}/api/v2/pins",
        "MyPlexPinLogin.CHECKPINS": f"{base}/api/v2/pins/{{pinid}}",
        "MyPlexAccount.key": f"{base}/api/v2/user",
        "MyPlexAccount.LINK": f"{base}/api/v2/pins/link",
        "MyPlexAccount.SIGNOUT": f"{base}/api/v2/users/signout",
        "MyPlexJWTLogin.PINS": f"{base}/api/v2/pins",
        "MyPlexJWTLogin.AUTH": f"{base}/api/v2/auth",
        "MyPlexResource.key": f"{base}/api/v2/resources?includeHttps=1&includeRelay=1&includeIPv6=1",
    }
