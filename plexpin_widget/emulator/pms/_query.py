"""What a Plex Media Server does with a listing's query string: filter, sort, limit and page.

Filters follow Plex's "media queries": ``year=1982``, ``year>>=2000`` (the key arrives as
``year>>``), ``title=harbor`` (contains), ``title==Dustline`` (is), ``genre=101`` (a tag id or
name), ``genre!=101``, comma lists meaning "any of". A field may be prefixed with a type
(``artist.id=1001`` lists the albums of that artist; ``show.title=`` the episodes of a show).
Paging comes from ``X-Plex-Container-Start``/``-Size`` headers or query parameters.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from collections.abc import Sequence
from typing import Any

from ._library import MediaItem, Tag

__all__ = ["Paging", "Query", "apply_filters", "sort_items"]

# Query keys that are not filters.
_CONTROL_KEYS = {
    "type", "sort", "limit", "includeGuids", "includeMeta", "includeAdvanced", "includeCollections",
    "includeExternalMedia", "excludeAllLeaves", "includeFields", "includeBandwidths", "includeChapters",
    "includeGeolocation", "includeLoudnessRamps", "includeMarkers", "includeExtras",
    "includeRelated", "includePopularLeaves", "includeReviews", "includeOnDeck", "includeChildren",
    "includeConcerts", "includePreferences", "includeStations", "asyncAugmentMetadata",
    "checkFiles", "group", "having", "unmatched",
}
_TYPE_PREFIXES = ("movie", "show", "season", "episode", "artist", "album", "track", "collection")
_FIELD_PATTERN = re.compile(r"(?:(?P<libtype>[a-zA-Z]+)\.)?(?P<field>[a-zA-Z0-9]+)(?P<op>[!<>=]*)")
_RELATIVE_DATE = re.compile(r"-?(\d+)(mon|[smhdwy])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400, "mon": 30 * 86_400, "y": 365 * 86_400}
# Filter names that read an item's tags, by XML tag kind.
TAG_FIELDS = {"genre": "Genre", "director": "Director", "writer": "Writer", "actor": "Role", "country": "Country",
              "style": "Style", "collection": "Collection", "label": "Label"}


@dataclasses.dataclass(frozen=True)
class Paging:
    """``X-Plex-Container-Start`` and ``-Size`` (``size=None``: everything)."""

    start: int = 0
    size: int | None = None

    def page(self, items: Sequence[Any]) -> list[Any]:
        if self.size is None:
            return list(items[self.start:])
        return list(items[self.start:self.start + self.size])


@dataclasses.dataclass(frozen=True)
class Filter:
    libtype: str | None
    field: str
    op: str  # "=", "!", ">>", "<<", "==", "!==", "<", ">"
    values: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Query:
    """A listing request's filters, sort, type and limit."""

    filters: tuple[Filter, ...]
    sort: tuple[tuple[str, bool], ...]  # (field, descending)
    type_code: int | None
    limit: int | None

    @classmethod
    def parse(cls, params: dict[str, list[str]]) -> Query:
        filters: list[Filter] = []
        for key, values in params.items():
            if key in _CONTROL_KEYS or key.lower().startswith("x-plex-"):
                continue
            match = _FIELD_PATTERN.fullmatch(key)
            if not match:
                continue
            for value in values:
                # python-plexapi URL-encodes "studio==x" as key "studio=", value "x"; written by
                # hand it arrives as key "studio", value "=x". Both mean "is".
                op = match["op"]
                if value.startswith("="):
                    op, value = op + "=", value[1:]
                op = {"": "=", "=": "==", "!=": "!=="}.get(op, op)
                filters.append(Filter(match["libtype"], match["field"], op, tuple(value.split(","))))
        sort: list[tuple[str, bool]] = []
        for part in ",".join(params.get("sort", [])).split(","):
            field, _, direction = part.strip().partition(":")
            if field:
                sort.append((field.split(".")[-1], direction == "desc"))
        type_code = _int(params.get("type"))
        limit = _int(params.get("limit"))
        return cls(tuple(filters), tuple(sort), type_code, limit)


def _int(values: list[str] | None) -> int | None:
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def _subjects(item: MediaItem, libtype: str | None) -> list[MediaItem]:
    """The items whose field a filter reads: the item, an ancestor, or its descendants."""
    if libtype is None or libtype == item.type or libtype not in _TYPE_PREFIXES:
        return [item]
    for ancestor in item.ancestors:
        if ancestor.type == libtype:
            return [ancestor]
    below: list[MediaItem] = []
    stack = list(item.children)
    while stack:
        node = stack.pop()
        if node.type == libtype:
            below.append(node)
        stack.extend(node.children)
    return below


def _values_of(item: MediaItem, field: str) -> list[Any]:
    if field in TAG_FIELDS:
        kind = TAG_FIELDS[field]
        return [t for t in item.tags if t.kind == kind]
    if field == "id":
        return [item.rating_key]
    if field == "title":
        return [item.title]
    if field == "decade":
        year = item.fields.get("year")
        return [year - year % 10] if isinstance(year, int) else []
    if field in ("unwatched", "unplayed"):
        return [0 if item.fields.get("viewCount") else 1]
    if field == "originallyAvailableAt":
        text = item.fields.get(field)
        if not text:
            return []
        day = _dt.date.fromisoformat(text)
        return [int(_dt.datetime(day.year, day.month, day.day, tzinfo=_dt.timezone.utc).timestamp())]
    value = item.fields.get(field)
    return [] if value is None else [value]


def _number(text: str, now: float) -> float | None:
    match = _RELATIVE_DATE.fullmatch(text)
    if match:  # "-30d": thirty days ago
        return now - int(match[1]) * _UNIT_SECONDS[match[2]]
    try:
        return float(text)
    except ValueError:
        return None


def _matches_one(value: Any, op: str, wanted: str, now: float) -> bool:
    if isinstance(value, Tag):
        return wanted == str(value.id) or wanted.lower() == value.tag.lower()
    if isinstance(value, str):
        text, target = value.lower(), wanted.lower()
        if op in ("=", "!"):
            return target in text
        if op in ("==", "!=="):
            return text == target
        if op == "<":
            return text.startswith(target)
        if op == ">":
            return text.endswith(target)
        return False
    number = _number(wanted, now)
    if number is None:
        return False
    value = float(value)
    if op in ("=", "!", "==", "!=="):
        return value == number
    if op in (">>", ">"):
        return value > number if op == ">>" else value >= number
    if op in ("<<", "<"):
        return value < number if op == "<<" else value <= number
    return False


def _matches(item: MediaItem, flt: Filter, now: float) -> bool:
    values = [v for subject in _subjects(item, flt.libtype) for v in _values_of(subject, flt.field)]
    hit = any(_matches_one(value, flt.op, wanted, now) for value in values for wanted in flt.values)
    return not hit if flt.op.startswith("!") else hit


def apply_filters(items: Sequence[MediaItem], query: Query, now: float) -> list[MediaItem]:
    """The items every filter of ``query`` keeps (``now`` resolves relative dates like ``-30d``)."""
    return [item for item in items if all(_matches(item, f, now) for f in query.filters)]


def _sort_value(item: MediaItem, field: str) -> Any:
    if field in ("titleSort", "title"):
        title = item.title
        return (title[4:] if title.startswith("The ") else title).lower()
    if field == "id":
        return item.rating_key
    return item.fields.get(field)


def sort_items(items: list[MediaItem], sort: Sequence[tuple[str, bool]]) -> list[MediaItem]:
    """Stable multi-key sort; items without the field go last whichever the direction."""
    result = list(items)
    for field, descending in reversed(sort):
        present = [i for i in result if _sort_value(i, field) is not None]
        missing = [i for i in result if _sort_value(i, field) is None]
        present.sort(key=lambda i: _sort_value(i, field), reverse=descending)
        result = present + missing
    return result
