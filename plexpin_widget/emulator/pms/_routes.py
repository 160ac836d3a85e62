"""The media server's endpoints: each answers one path from the library, as XML or JSON.

:class:`MediaServerRoutes` is the part of :class:`~._app.PlexMediaServerEmulator` that knows
Plex's URLs; the class itself adds identity, the token check, the log and serving.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable

from .._messages import JSON_TYPE, EmulatorRequest, EmulatorResponse, json_response
from . import _meta, _render
from ._library import SECTION_TYPES, TYPE_NAMES, Library, MediaItem, Section
from ._query import Paging, Query, apply_filters, sort_items
from ._render import Element
from ._thumbs import poster_png

__all__ = ["VERSION", "MediaServerRoutes", "error_page"]

VERSION = "1.41.3.9314-a0bfb8370"
_XML_TYPE = "text/xml;charset=utf-8"
Handler = Callable[[EmulatorRequest, "re.Match[str]"], EmulatorResponse]


def error_page(status: int, title: str) -> EmulatorResponse:
    body = f"<html><head><title>{title}</title></head><body><h1>{status} {title}</h1></body></html>".encode()
    return EmulatorResponse(status, [("Content-Type", "text/html"), ("X-Plex-Protocol", "1.0")], body)


class MediaServerRoutes:
    """Route handlers over :attr:`library`; the subclass supplies the server's identity."""

    library: Library
    name: str
    machine_identifier: str
    owner: str

    def _route_table(self) -> list[tuple[re.Pattern[str], Handler]]:
        return [
            (re.compile(r"/"), self._root),
            (re.compile(r"/identity"), self._identity),
            (re.compile(r"/library"), self._library_root),
            (re.compile(r"/library/sections"), self._sections),
            (re.compile(r"/library/all"), self._library_all),
            (re.compile(r"/library/recentlyAdded"), self._recently_added),
            (re.compile(r"/library/onDeck"), self._on_deck),
            (re.compile(r"/hubs/search"), self._hub_search),
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
        return section if section is not None else error_page(404, "Not Found")

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
        items = self._searched(section.of_type(libtype), query)
        meta = [_meta.meta_element(section)] if request.query_value("includeMeta") == "1" else None
        return self._items(request, items, lead=meta, librarySectionID=section.key,
                           librarySectionTitle=section.title, librarySectionUUID=section.uuid, viewGroup=libtype)

    def _library_all(self, request: EmulatorRequest, _: re.Match[str]) -> EmulatorResponse:
        """``library.search(title=, libtype=)``: every section, filtered (default type: movies)."""
        query = Query.parse(request.query_params)
        libtype = TYPE_NAMES.get(query.type_code or 0, "movie")
        items = [item for section in self.library.sections for item in section.of_type(libtype)]
        return self._items(request, self._searched(items, query))

    def _searched(self, items: list[MediaItem], query: Query) -> list[MediaItem]:
        """``items`` filtered, sorted (by title unless asked otherwise) and cut to the limit."""
        found = sort_items(apply_filters(items, query, self.library.now), query.sort or (("titleSort", False),))
        return found[:query.limit] if query.limit is not None else found

    def _recently_added(self, request: EmulatorRequest, _: re.Match[str]) -> EmulatorResponse:
        """Films, episodes and albums across the library, newest first."""
        items = [item for item in self.library.iter_items() if item.type in ("movie", "episode", "album")]
        return self._items(request, sort_items(items, (("addedAt", True),)))

    def _on_deck(self, request: EmulatorRequest, _: re.Match[str]) -> EmulatorResponse:
        """The next episode of every show someone started and has not finished."""
        deck = []
        for show in self.library.sections[1].items:
            episodes = show.leaves()
            seen = [i for i, e in enumerate(episodes) if e.fields.get("viewCount")]
            if seen and seen[-1] + 1 < len(episodes):
                deck.append(episodes[seen[-1] + 1])
        return self._items(request, deck)

    def _hub_search(self, request: EmulatorRequest, _: re.Match[str]) -> EmulatorResponse:
        """``plex.search(query)``: one ``<Hub>`` per type whose titles contain the query."""
        text = (request.query_value("query") or "").lower()
        limit_text = request.query_value("limit")
        limit = int(limit_text) if limit_text and limit_text.isdigit() else 10
        section_value = request.query_value("sectionId")
        root = Element("MediaContainer", {"size": 0})
        found_by_type: dict[str, list[MediaItem]] = {}
        if text:  # one walk over the library, items kept in library order within each type
            for item in self.library.iter_items():
                if text in item.title.lower() and (section_value is None or str(item.section_key) == section_value):
                    found_by_type.setdefault(item.type, []).append(item)
        for libtype in ("movie", "show", "episode", "artist", "album", "track"):
            found = found_by_type.get(libtype)
            if not found:
                continue
            hub = root.add("Hub", type=libtype, hubIdentifier=libtype, title=libtype.capitalize() + "s",
                           size=min(len(found), limit), more=len(found) > limit, context=f"hub.{libtype}",
                           hubKey=f"/library/metadata/{','.join(str(i.rating_key) for i in found[:limit])}")
            hub.children = [_render.item_element(item, self.library) for item in found[:limit]]
        root.attrs["size"] = len(root.children)
        return self._reply(request, root)

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
        return self._reply(request, root) if root is not None else error_page(404, "Not Found")

    def _metadata(self, request: EmulatorRequest, match: re.Match[str]) -> EmulatorResponse:
        keys = [int(k) for k in match[1].split(",") if k]
        items = [self.library.items[k] for k in keys if k in self.library.items]
        if not items:
            return error_page(404, "Not Found")
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
            return error_page(404, "Not Found")
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
            return error_page(404, "Not Found")
        year = item.fields.get("year")
        body = poster_png(item.title, str(year) if year and item.type in ("movie", "show", "album") else "")
        return EmulatorResponse(200, [("Content-Type", "image/png"), ("Cache-Control", "max-age=86400")], body)

    def _transcode(self, request: EmulatorRequest, _: re.Match[str]) -> EmulatorResponse:
        # /photo/:/transcode?url=/library/metadata/1001/thumb/1&width=..: the same card, any size.
        target = urllib.parse.urlsplit(request.query_value("url") or "").path
        match = re.fullmatch(r"/library/metadata/(\d+)/(thumb|art|poster|banner)(?:/\d+)?", target)
        return self._image(request, match) if match else error_page(404, "Not Found")

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
