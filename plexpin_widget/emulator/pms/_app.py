""":class:`PlexMediaServerEmulator`: a Plex Media Server stand-in that python-plexapi reads.

It answers the endpoints python-plexapi uses (reference ``pms-standin.md`` §0) from a
:class:`~._library.Library`, in XML unless the client asks for JSON. It is a request ->
response core like :class:`~plexpin_widget.emulator.PlexTvEmulator`, so the same
``EmulatorServer`` serves it on loopback and the same ``EmulatorTransport`` in-process.
"""

from __future__ import annotations

import collections
import hmac
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING

from plexpin_widget._models import Connection

from .._app import LoggedRequest
from .._jwt_state import looks_like_jwt
from .._server import EmulatorServer
from .._messages import JSON_TYPE, EmulatorRequest, EmulatorResponse, json_response
from . import _meta, _render
from ._library import SECTION_TYPES, TYPE_NAMES, Library, MediaItem, Section
from ._query import Paging, Query, apply_filters, sort_items
from ._render import Element
from ._thumbs import poster_png

if TYPE_CHECKING:
    from .._app import PlexTvEmulator
    from .._transport import EmulatorTransport

__all__ = ["PlexMediaServerEmulator"]

VERSION = "1.41.3.9314-a0bfb8370"
_XML_TYPE = "text/xml;charset=utf-8"
_UNAUTHORIZED_PAGE = (
    b"<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>"
)
_Handler = Callable[[EmulatorRequest, "re.Match[str]"], EmulatorResponse]


def _error(status: int, title: str) -> EmulatorResponse:
    body = f"<html><head><title>{title}</title></head><body><h1>{status} {title}</h1></body></html>".encode()
    return EmulatorResponse(status, [("Content-Type", "text/html"), ("X-Plex-Protocol", "1.0")], body)


class PlexMediaServerEmulator:
    """A Plex Media Server with an invented demo library, for python-plexapi and the notebooks.

    ``PlexMediaServerEmulator(plex_tv)`` becomes the demo account's server on that
    :class:`PlexTvEmulator` (its name, machine identifier and access token), and the account's
    own token is accepted too, as a real server accepts its owner's. Without ``plex_tv`` it is a
    stand-alone server with a token of its own (:attr:`access_token`).

    ``accept_jwt`` decides what a Plex JWT gets: by default 401, as field reports through
    August 2026 say real servers answer (reference ``plex-jwt-auth.md`` §8); when true, a live
    JWT of the owning account is let in, as Plex's documentation says it should be. It can be
    switched at any time (attribute, or ``POST /__emulator__/accept-jwt {"accept": bool}``).

    :meth:`server` listens on loopback and publishes the address in plex.tv's
    ``/api/v2/resources``; :meth:`transport` answers httpx in-process.
    """

    def __init__(self, plex_tv: PlexTvEmulator | None = None, *, library: Library | None = None,
                 allow_anonymous: bool = False, accept_jwt: bool = False) -> None:
        self._plex_tv = plex_tv
        resource = plex_tv.resources()[0] if plex_tv is not None else None
        self.name = resource.name if resource is not None else "Demo Server"
        self.machine_identifier = resource.client_identifier if resource is not None else secrets.token_hex(20)
        self.access_token: str = (resource.access_token if resource is not None else None) or secrets.token_urlsafe(15)
        owner = plex_tv.username if plex_tv is not None else "demo"
        self.owner = owner
        self.library = library if library is not None else Library(owner=owner)
        self.allow_anonymous = allow_anonymous
        self.accept_jwt = accept_jwt
        self._lock = threading.Lock()
        self._log: collections.deque[LoggedRequest] = collections.deque(maxlen=100_000)
        self._routes: list[tuple[re.Pattern[str], _Handler]] = [
            (re.compile(r"/"), self._root),
            (re.compile(r"/identity"), self._identity),
            (re.compile(r"/library"), self._library_root),
            (re.compile(r"/library/sections"), self._sections),
            (re.compile(r"/library/sections/(\d+)"), self._section),
            (re.compile(r"/library/sections/(\d+)/all"), self._section_all),
            (re.compile(r"/library/sections/(\d+)/collections"), self._collections),
            (re.compile(r"/library/sections/(\d+)/(\w+)"), self._choices),
            (re.compile(r"/library/metadata/([\d,]+)"), self._metadata),
            (re.compile(r"/library/metadata/(\d+)/(children|allLeaves)"), self._children),
            (re.compile(r"/library/metadata/(\d+)/(thumb|art|poster|banner)(?:/\d+)?"), self._image),
            (re.compile(r"/photo/:/transcode"), self._transcode),
            (re.compile(r"/status/sessions"), self._sessions),
            (re.compile(r"/status/sessions/history/all"), self._history),
            (re.compile(r"/accounts"), self._accounts),
        ]

    def __repr__(self) -> str:
        return f"<PlexMediaServerEmulator {self.name!r} {self.machine_identifier[:8]}…>"

    # ------------------------------------------------------------------ serving

    def accepts(self, request: EmulatorRequest) -> bool:
        """Whether the request's ``X-Plex-Token`` (header or query string) lets it in.

        This is the one place that decides it: the server's own :attr:`access_token`, or the
        account token of the plex.tv account that owns the server (looked up in the plex.tv
        emulator, so a revoked account token stops working), is accepted; so is no token at
        all when ``allow_anonymous`` (an unclaimed server on the local network). Everything
        else gets 401. A Plex JWT gets 401 too unless :attr:`accept_jwt`; then a live JWT
        (not expired, revoked or signed out on the plex.tv emulator) of the owner is accepted.
        """
        token = request.token
        if token is None:
            return self.allow_anonymous
        if looks_like_jwt(token) and not self.accept_jwt:
            return False
        if hmac.compare_digest(token.encode(), self.access_token.encode()):
            return True
        return self._plex_tv is not None and self._plex_tv.owns_server(token, self.machine_identifier)

    def handle(self, request: EmulatorRequest) -> EmulatorResponse:
        """Answer one request (the same contract as ``PlexTvEmulator.handle``)."""
        at, wall = time.monotonic(), time.time()
        response = self._respond(request)
        response.set_header("X-Plex-Protocol", "1.0")
        with self._lock:
            self._log.append(LoggedRequest(at=at, wall=wall, method=request.method,
                                           path=request.path + (f"?{request.query}" if request.query else ""),
                                           status=response.status, client_identifier=request.client_identifier))
        return response

    def _respond(self, request: EmulatorRequest) -> EmulatorResponse:
        path = request.route_path
        if path == "/__emulator__/accept-jwt" and request.method == "POST":
            return self._accept_jwt_hook(request)
        if path != "/identity" and not self.accepts(request):
            return _error(401, "Unauthorized")
        if request.method not in ("GET", "HEAD"):
            return _error(405, "Method Not Allowed")
        for pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match:
                return handler(request, match)
        return _error(404, "Not Found")

    def _accept_jwt_hook(self, request: EmulatorRequest) -> EmulatorResponse:
        body = request.json_body
        if not isinstance(body, dict) or not isinstance(body.get("accept"), bool):
            return json_response(400, {"error": 'the body must be {"accept": true|false}'})
        self.accept_jwt = body["accept"]
        return json_response(200, {"accept": self.accept_jwt})

    def transport(self) -> EmulatorTransport:
        """An httpx transport (sync and async) answering from this server, without sockets."""
        from .._transport import EmulatorTransport

        return EmulatorTransport(self)

    def server(self, host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
        """A loopback HTTP server for this stand-in (not started: use ``with`` or ``.start()``).

        Once it listens, its address is published in the plex.tv emulator's resources, first
        among the server's connections, so ``login.server()`` and python-plexapi find it.
        """
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"the media server stand-in listens on loopback only, not {host!r}")
        return _PublishingServer(self, host=host, port=port)

    def _publish(self, server: EmulatorServer) -> None:
        if self._plex_tv is None:
            return
        ipv6 = ":" in server.host
        self._plex_tv.publish_connection(self.machine_identifier, Connection(
            uri=server.url, protocol="http", address="::1" if ipv6 else "127.0.0.1", port=server.port,
            local=True, ipv6=ipv6,
        ))

    def request_log(self) -> list[LoggedRequest]:
        """Answered requests, oldest first; ``path`` includes the query string."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # ------------------------------------------------------------------ rendering helpers

    def _reply(self, request: EmulatorRequest, root: Element, headers: list[tuple[str, str]] | None = None,
               ) -> EmulatorResponse:
        if request.wants_json:
            response = json_response(200, _render.to_json(root), headers or ())
            response.set_header("Content-Type", JSON_TYPE)
            return response
        return EmulatorResponse(200, [("Content-Type", _XML_TYPE), *(headers or [])],
                                _render.to_xml(root).encode("utf-8"))

    @staticmethod
    def _paging(request: EmulatorRequest) -> Paging:
        def number(name: str) -> int | None:
            value = request.param(name)
            try:
                return max(0, int(value)) if value is not None else None
            except ValueError:
                return None

        return Paging(start=number("X-Plex-Container-Start") or 0, size=number("X-Plex-Container-Size"))

    def _container(self, request: EmulatorRequest, page: list[Element], *, total: int, start: int,
                   lead: list[Element] | None = None, **attrs: object) -> EmulatorResponse:
        """One page of a listing: ``size`` of this page, ``totalSize`` of all, ``offset``.

        python-plexapi pages by ``totalSize`` from the body; without it, it would stop after
        the first page. ``lead`` elements (a ``Meta`` block) come before the items.
        """
        root = Element("MediaContainer", {"size": len(page), "totalSize": total, "offset": start,
                                          "allowSync": True, "identifier": "com.plexapp.plugins.library",
                                          "mediaTagPrefix": "/system/bundle/media/flags/",
                                          "mediaTagVersion": 1700000000, **attrs})
        root.children = [*(lead or []), *page]
        headers = [("X-Plex-Container-Start", str(start)), ("X-Plex-Container-Total-Size", str(total))]
        return self._reply(request, root, headers)

    def _items(self, request: EmulatorRequest, items: list[MediaItem], lead: list[Element] | None = None,
               **attrs: object) -> EmulatorResponse:
        paging = self._paging(request)
        # Only the requested page is rendered, so paging through a listing stays cheap.
        page = [_render.item_element(item, self.library) for item in paging.page(items)]
        return self._container(request, page, total=len(items), start=paging.start, lead=lead, **attrs)

    def _section_or_404(self, match: re.Match[str]) -> Section | EmulatorResponse:
        section = self.library.section(int(match[1]))
        return section if section is not None else _error(404, "Not Found")

    # ------------------------------------------------------------------ server

    def _root(self, request: EmulatorRequest, _: re.Match[str]) -> EmulatorResponse:
        root = Element("MediaContainer", {
            "size": 3, "allowCameraUpload": False, "allowChannelAccess": True, "allowMediaDeletion": True,
            "allowSharing": True, "allowSync": True, "backgroundProcessing": True, "certificate": False,
            "companionProxy": True, "diagnostics": "logs,databases", "eventStream": True,
            "friendlyName": self.name, "hubSearch": True, "machineIdentifier": self.machine_identifier,
            "multiuser": True, "myPlex": True, "myPlexMappingState": "mapped", "myPlexSigninState": "ok",
            "myPlexSubscription": True, "myPlexUsername": self.owner, "ownerFeatures": "hardware_transcoding,sync",
            "photoAutoTag": False, "platform": "Linux", "platformVersion": "6.1.0", "pluginHost": True,
            "readOnlyLibraries": 0, "requestParametersInCookie": True, "streamingBrainVersion": 2,
            "sync": True, "transcoderActiveVideoSessions": 0, "transcoderAudio": True, "transcoderLyrics": True,
            "transcoderPhoto": True, "transcoderSubtitles": True, "transcoderVideo": True,
            "transcoderVideoBitrates": "64,96,208,320,720,1500,2000,3000,4000,8000,10000,12000,20000",
            "transcoderVideoQualities": "0,1,2,3,4,5,6,7,8,9,10,11,12",
            "transcoderVideoResolutions": "128,128,160,240,320,480,768,720,720,1080,1080,1080,1080",
            "updatedAt": self.library.now, "updater": True, "version": VERSION, "voiceSearch": True,
        })
        for key in ("library", "status", "accounts"):
            root.add("Directory", count=1, key=key, title=key)
        return self._reply(request, root)

    def _identity(self, request: EmulatorRequest, _: re.Match[str]) -> EmulatorResponse:
        root = Element("MediaContainer", {"size": 0, "claimed": True, "machineIdentifier": self.machine_identifier,
                                          "version": VERSION})
        return self._reply(request, root)

    def _library_root(self, request: EmulatorRequest, _: re.Match[str]) -> EmulatorResponse:
        root = Element("MediaContainer", {"size": 3, "allowSync": False, "title1": "Plex Library"})
        for key, title in (("sections", "Library Sections"), ("recentlyAdded", "Recently Added Content"),
                           ("onDeck", "On Deck Content")):
            root.add("Directory", key=key, title=title)
        return self._reply(request, root)

    def _sections(self, request: EmulatorRequest, _: re.Match[str]) -> EmulatorResponse:
        root = Element("MediaContainer", {"size": len(self.library.sections), "allowSync": False,
                                          "title1": "Plex Library"})
        root.children = [_render.section_element(s) for s in self.library.sections]
        return self._reply(request, root)

    def _section(self, request: EmulatorRequest, match: re.Match[str]) -> EmulatorResponse:
        section = self._section_or_404(match)
        if isinstance(section, EmulatorResponse):
            return section
        root = Element("MediaContainer", {"size": 1, "title1": section.title, "librarySectionID": section.key})
        root.children = [_render.section_element(section)]
        return self._reply(request, root)

    # ------------------------------------------------------------------ listings

    def _section_all(self, request: EmulatorRequest, match: re.Match[str]) -> EmulatorResponse:
        section = self._section_or_404(match)
        if isinstance(section, EmulatorResponse):
            return section
        query = Query.parse(request.query_params)
        libtype = TYPE_NAMES.get(query.type_code or 0, section.type)
        if libtype not in SECTION_TYPES[section.type]:
            return self._items(request, [], librarySectionID=section.key, librarySectionTitle=section.title)
        items = apply_filters(section.of_type(libtype), query, self.library.now)
        items = sort_items(items, query.sort or (("titleSort", False),))
        if query.limit is not None:
            items = items[:query.limit]
        meta = [_meta.meta_element(section)] if request.query_value("includeMeta") == "1" else None
        return self._items(request, items, lead=meta, librarySectionID=section.key,
                           librarySectionTitle=section.title, librarySectionUUID=section.uuid, viewGroup=libtype)

    def _collections(self, request: EmulatorRequest, match: re.Match[str]) -> EmulatorResponse:
        section = self._section_or_404(match)
        if isinstance(section, EmulatorResponse):
            return section
        root = Element("MediaContainer", {"size": 0, "totalSize": 0, "offset": 0, "librarySectionID": section.key})
        if request.query_value("includeMeta") == "1":
            root.children = [_meta.meta_element(section)]
        return self._reply(request, root)

    def _choices(self, request: EmulatorRequest, match: re.Match[str]) -> EmulatorResponse:
        section = self._section_or_404(match)
        if isinstance(section, EmulatorResponse):
            return section
        type_value = request.query_value("type")
        root = _meta.choices_element(self.library, section, match[2],
                                     int(type_value) if type_value and type_value.isdigit() else None)
        return self._reply(request, root) if root is not None else _error(404, "Not Found")

    def _metadata(self, request: EmulatorRequest, match: re.Match[str]) -> EmulatorResponse:
        keys = [int(k) for k in match[1].split(",") if k]
        items = [self.library.items[k] for k in keys if k in self.library.items]
        if not items:
            return _error(404, "Not Found")
        first = items[0]
        section = self.library.section(first.section_key)
        root = Element("MediaContainer", {"size": len(items), "allowSync": True,
                                          "identifier": "com.plexapp.plugins.library",
                                          "librarySectionID": first.section_key,
                                          "librarySectionTitle": section.title if section else None})
        root.children = [_render.item_element(item, self.library, detailed=True) for item in items]
        return self._reply(request, root)

    def _children(self, request: EmulatorRequest, match: re.Match[str]) -> EmulatorResponse:
        item = self.library.items.get(int(match[1]))
        if item is None:
            return _error(404, "Not Found")
        children = item.leaves() if match[2] == "allLeaves" else item.children
        query = Query.parse(request.query_params)
        children = apply_filters(children, query, self.library.now)
        if query.sort:
            children = sort_items(children, query.sort)
        attrs: dict[str, object] = {"key": item.rating_key, "title1": item.title, "librarySectionID": item.section_key}
        if item.parent is not None:
            attrs.update(parentTitle=item.parent.title, parentIndex=item.parent.fields.get("index"))
        return self._items(request, children, **attrs)

    # ------------------------------------------------------------------ images

    def _image(self, request: EmulatorRequest, match: re.Match[str]) -> EmulatorResponse:
        item = self.library.items.get(int(match[1]))
        if item is None:
            return _error(404, "Not Found")
        year = item.fields.get("year")
        body = poster_png(item.title, str(year) if year and item.type in ("movie", "show", "album") else "")
        return EmulatorResponse(200, [("Content-Type", "image/png"), ("Cache-Control", "max-age=86400")], body)

    def _transcode(self, request: EmulatorRequest, _: re.Match[str]) -> EmulatorResponse:
        # /photo/:/transcode?url=/library/metadata/1001/thumb/1&width=..: the same card, any size.
        target = urllib.parse.urlsplit(request.query_value("url") or "").path
        match = re.fullmatch(r"/library/metadata/(\d+)/(thumb|art|poster|banner)(?:/\d+)?", target)
        return self._image(request, match) if match else _error(404, "Not Found")

    # ------------------------------------------------------------------ status

    def _sessions(self, request: EmulatorRequest, _: re.Match[str]) -> EmulatorResponse:
        elements = [_render.session_element(s, self.library) for s in self.library.sessions]
        root = Element("MediaContainer", {"size": len(elements)})
        root.children = elements
        return self._reply(request, root)

    def _history(self, request: EmulatorRequest, _: re.Match[str]) -> EmulatorResponse:
        plays = list(self.library.history)
        params = request.query_params

        def number(name: str) -> int | None:
            values = params.get(name)
            try:
                return int(values[0]) if values else None
            except ValueError:
                return None

        account, section, item_id = number("accountID"), number("librarySectionID"), number("metadataItemID")
        since = number("viewedAt>") or number("viewedAt>>")
        if account is not None:
            plays = [p for p in plays if p.account_id == account]
        if section is not None:
            plays = [p for p in plays if p.item.section_key == section]
        if item_id is not None:  # a show or an album also matches what is under it
            plays = [p for p in plays if item_id == p.item.rating_key
                     or item_id in [a.rating_key for a in p.item.ancestors]]
        if since is not None:
            plays = [p for p in plays if p.viewed_at >= since]
        descending = "viewedAt:desc" in ",".join(params.get("sort", ["viewedAt:desc"]))
        plays.sort(key=lambda p: (p.viewed_at, p.history_id), reverse=descending)
        paging = self._paging(request)
        page = [_render.history_element(p, self.library) for p in paging.page(plays)]
        return self._container(request, page, total=len(plays), start=paging.start)

    def _accounts(self, request: EmulatorRequest, _: re.Match[str]) -> EmulatorResponse:
        root = Element("MediaContainer", {"size": len(self.library.accounts), "identifier": "com.plexapp.system.accounts"})
        for account in self.library.accounts:
            root.add("Account", id=account.id, key=f"/accounts/{account.id}", name=account.name,
                     defaultAudioLanguage="en", autoSelectAudio=True, thumb="")
        return self._reply(request, root)


class _PublishingServer(EmulatorServer):
    """An ``EmulatorServer`` that tells plex.tv where the media server listens once it does."""

    emulator: PlexMediaServerEmulator  # type: ignore[assignment]

    def start(self) -> _PublishingServer:
        super().start()
        self.emulator._publish(self)
        return self
