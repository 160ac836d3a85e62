"""Plex Media Server's wire shapes: items as ``<Video>``/``<Directory>``/``<Track>`` elements,
the ``<MediaContainer>`` around them, and the same tree as Plex's JSON.

An :class:`Element` is a neutral tree (tag, typed attributes, children). XML writes booleans as
``1``/``0`` (python-plexapi rejects ``True``); JSON keeps numbers as numbers, puts library items
under ``"Metadata"`` and other children in arrays named by their tag, as the real server does.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from typing import Any

from ._library import Library, MediaItem, Play, Section, Session

__all__ = ["Element", "history_element", "item_element", "section_element", "session_element", "to_json", "to_xml"]

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_ITEM_TAGS = {"movie": "Video", "episode": "Video", "track": "Track"}  # the rest are Directory
# Attributes that stay strings in JSON even when they look like numbers.
_STRING_KEYS = {"ratingKey", "key", "parentRatingKey", "grandparentRatingKey", "librarySectionKey"}


@dataclasses.dataclass
class Element:
    tag: str
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    children: list[Element] = dataclasses.field(default_factory=list)

    def add(self, name: str, /, **attrs: Any) -> Element:
        child = Element(name, attrs)
        self.children.append(child)
        return child


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def to_xml(root: Element) -> str:
    def build(node: Element) -> ET.Element:
        element = ET.Element(node.tag, {k: _text(v) for k, v in node.attrs.items() if v is not None})
        element.extend(build(child) for child in node.children)
        return element

    return _DECLARATION + ET.tostring(build(root), encoding="unicode")


def _is_item(node: Element) -> bool:
    return node.tag in ("Video", "Track", "Directory") and node.attrs.get("ratingKey") is not None


def to_json(root: Element) -> dict[str, Any]:
    def build(node: Element) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for key, value in node.attrs.items():
            if value is None:
                continue
            body[key] = str(value) if key in _STRING_KEYS else value
        for child in node.children:
            if child.tag == "Meta":
                body["Meta"] = build(child)
                continue
            name = "Metadata" if _is_item(child) else child.tag
            body.setdefault(name, []).append(build(child))
        return body

    return {root.tag: build(root)}


# ---------------------------------------------------------------------- library objects


def _thumb(item: MediaItem, kind: str = "thumb") -> str:
    return f"{item.key}/{kind}/{item.fields.get('updatedAt', 0)}"


def item_element(item: MediaItem, library: Library, *, detailed: bool = False) -> Element:
    """The item as listings show it: every field python-plexapi reads, so none triggers a reload.

    ``detailed`` adds what only ``/library/metadata/{id}`` has (``Image`` and ``Rating``).
    """
    section = library.section(item.section_key)
    attrs: dict[str, Any] = {
        "ratingKey": item.rating_key,
        "key": f"{item.key}/children" if item.children else item.key,
        "guid": f"plex://{item.type}/{item.rating_key:024x}",
        "type": item.type,
        "title": item.title,
        "titleSort": item.title[4:] if item.title.startswith("The ") else item.title,
        "librarySectionID": item.section_key,
        "librarySectionTitle": section.title if section else None,
        "librarySectionKey": f"/library/sections/{item.section_key}",
    }
    ancestors = item.ancestors
    if item.type == "track":
        # Tracks have no art of their own; they show their album's.
        attrs["thumb"] = _thumb(ancestors[0])
    else:
        attrs["thumb"] = _thumb(item)
        attrs["art"] = _thumb(item, "art")
    for prefix, ancestor in zip(("parent", "grandparent"), ancestors):
        attrs[f"{prefix}RatingKey"] = ancestor.rating_key
        attrs[f"{prefix}Key"] = ancestor.key
        attrs[f"{prefix}Title"] = ancestor.title
        attrs[f"{prefix}Thumb"] = _thumb(ancestor)
        attrs[f"{prefix}Guid"] = f"plex://{ancestor.type}/{ancestor.rating_key:024x}"
        if "index" in ancestor.fields:
            attrs[f"{prefix}Index"] = ancestor.fields["index"]
    attrs.update(item.fields)
    element = Element(_ITEM_TAGS.get(item.type, "Directory"), attrs)
    if item.type in ("movie", "episode", "track"):
        _add_media(element, item)
    for tag in item.tags:
        element.add(tag.kind, id=tag.id, tag=tag.tag, filter=f"{tag.kind.lower()}={tag.id}", role=tag.role)
    if item.type in ("movie", "show"):
        element.add("Guid", id=f"imdb://tt9{item.rating_key:06d}")
    if detailed:
        element.add("Image", alt=item.title, type="coverPoster", url=attrs["thumb"])
        if "rating" in item.fields:
            element.add("Rating", image="imdb://image.rating", value=item.fields["rating"], type="critic")
        if "audienceRating" in item.fields:
            element.add("Rating", image="imdb://image.rating", value=item.fields["audienceRating"], type="audience")
    return element


def _add_media(element: Element, item: MediaItem) -> None:
    duration = item.fields.get("duration")
    if item.type == "track":
        media = element.add("Media", id=item.rating_key, duration=duration, bitrate=320, audioChannels=2,
                            audioCodec="mp3", container="mp3")
        media.add("Part", id=item.rating_key, key=f"/library/parts/{item.rating_key}/1/file.mp3",
                  duration=duration, size=(duration or 0) * 40, container="mp3")
        return
    media = element.add("Media", id=item.rating_key, duration=duration, bitrate=8000, width=1920, height=1080,
                        aspectRatio=1.78, audioChannels=6, audioCodec="aac", videoCodec="h264",
                        videoResolution="1080", container="mkv", videoFrameRate="24p")
    media.add("Part", id=item.rating_key, key=f"/library/parts/{item.rating_key}/1/file.mkv",
              duration=duration, size=(duration or 0) * 1000, container="mkv")


def section_element(section: Section) -> Element:
    element = Element("Directory", {
        "allowSync": True, "art": f"/:/resources/{section.type}-fanart.jpg", "composite": "",
        "filters": True, "refreshing": False, "thumb": f"/:/resources/{section.type}.png",
        "key": section.key, "type": section.type, "title": section.title, "agent": section.agent,
        "scanner": section.scanner, "language": "en-US", "uuid": section.uuid,
        "updatedAt": section.created_at, "createdAt": section.created_at, "scannedAt": section.created_at,
        "content": True, "directory": True, "hidden": 0,
    })
    element.add("Location", id=section.key, path=section.location)
    return element


def history_element(play: Play, library: Library) -> Element:
    """A history row: what python-plexapi's *History classes read (they never reload)."""
    item = play.item
    full = item_element(item, library)
    keep = {"ratingKey", "key", "type", "title", "thumb", "librarySectionID", "index", "parentIndex",
            "parentKey", "parentRatingKey", "parentTitle", "parentThumb", "grandparentKey",
            "grandparentRatingKey", "grandparentTitle", "grandparentThumb", "originallyAvailableAt", "duration",
            "year"}
    attrs = {k: v for k, v in full.attrs.items() if k in keep}
    attrs.update(historyKey=f"/status/sessions/history/{play.history_id}", viewedAt=play.viewed_at,
                 accountID=play.account_id, deviceID=play.device_id)
    return Element(full.tag, attrs)


def session_element(session: Session, library: Library) -> Element:
    """A playing item with the ``<User>``, ``<Player>`` and ``<Session>`` python-plexapi requires."""
    element = item_element(session.item, library)
    element.attrs.update(sessionKey=session.session_key, viewOffset=session.view_offset)
    element.add("User", id=session.account.id, title=session.account.name,
                thumb=f"https://plex.tv/users/{session.account.id:016x}/avatar")
    element.add("Player", title=session.device.name, state="playing", address="127.0.0.1",
                machineIdentifier=f"device-{session.device.id}", platform=session.device.platform,
                product=session.device.product, local=True, remotePublicAddress="127.0.0.1", userID=session.account.id)
    element.add("Session", id=f"session-{session.session_key}", bandwidth=8000, location="lan")
    return element
