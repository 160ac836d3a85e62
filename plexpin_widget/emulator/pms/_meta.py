"""The ``<Meta>`` block (``includeMeta=1``) and filter-choice lists python-plexapi validates
``search()`` against: per type its filters, sorts and fields, and each field type's operators.

A field missing here makes python-plexapi raise ``NotFound('Unknown filter field')`` before it
sends the search, so every field ``_query`` understands is listed.
"""

from __future__ import annotations

from ._library import SECTION_TYPES, TYPE_CODES, Library, Section
from ._query import TAG_FIELDS
from ._render import Element

__all__ = ["choices_element", "meta_element"]

# (field, type, title) per libtype; tag fields also get a <Filter> with a choice list.
_FIELDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "movie": (
        ("title", "string", "Title"), ("studio", "string", "Studio"), ("year", "integer", "Year"),
        ("decade", "integer", "Decade"), ("contentRating", "string", "Content Rating"),
        ("genre", "tag", "Genre"), ("director", "tag", "Director"), ("actor", "tag", "Actor"),
        ("country", "tag", "Country"), ("duration", "integer", "Duration"),
        ("viewCount", "integer", "Plays"), ("unwatched", "boolean", "Unplayed"),
        ("addedAt", "date", "Date Added"), ("lastViewedAt", "date", "Last Played"),
        ("originallyAvailableAt", "date", "Release Date"),
    ),
    "show": (
        ("title", "string", "Title"), ("studio", "string", "Studio"), ("network", "string", "Network"),
        ("year", "integer", "Year"), ("contentRating", "string", "Content Rating"), ("genre", "tag", "Genre"),
        ("actor", "tag", "Actor"), ("unwatched", "boolean", "Unplayed"), ("addedAt", "date", "Date Added"),
        ("lastViewedAt", "date", "Last Played"),
    ),
    "season": (("title", "string", "Title"), ("unwatched", "boolean", "Unplayed")),
    "episode": (
        ("title", "string", "Title"), ("year", "integer", "Year"), ("director", "tag", "Director"),
        ("writer", "tag", "Writer"), ("viewCount", "integer", "Plays"), ("unwatched", "boolean", "Unplayed"),
        ("addedAt", "date", "Date Added"), ("lastViewedAt", "date", "Last Played"),
        ("originallyAvailableAt", "date", "Air Date"),
    ),
    "artist": (
        ("title", "string", "Title"), ("genre", "tag", "Genre"), ("country", "tag", "Country"),
        ("addedAt", "date", "Date Added"), ("lastViewedAt", "date", "Last Played"),
    ),
    "album": (
        ("title", "string", "Title"), ("year", "integer", "Year"), ("decade", "integer", "Decade"),
        ("genre", "tag", "Genre"), ("studio", "string", "Record Label"), ("addedAt", "date", "Date Added"),
        ("lastViewedAt", "date", "Last Played"),
    ),
    "track": (
        ("title", "string", "Title"), ("viewCount", "integer", "Plays"), ("addedAt", "date", "Date Added"),
        ("lastViewedAt", "date", "Last Played"),
    ),
}
# (key, default direction, title).
_SORTS = (
    ("titleSort", "asc", "Title"), ("addedAt", "desc", "Date Added"), ("year", "desc", "Year"),
    ("originallyAvailableAt", "desc", "Release Date"), ("rating", "desc", "Critic Rating"),
    ("audienceRating", "desc", "Audience Rating"), ("duration", "desc", "Duration"),
    ("viewCount", "desc", "Plays"), ("lastViewedAt", "desc", "Last Played"),
)
_OPERATORS = {
    "tag": (("=", "is"), ("!=", "is not")),
    "integer": (("=", "is"), ("!=", "is not"), (">>=", "is greater than"), ("<<=", "is less than")),
    "string": (("=", "contains"), ("!=", "does not contain"), ("==", "is"), ("!==", "is not"),
               ("<=", "begins with"), (">=", "ends with")),
    "boolean": (("=", "is true"), ("!=", "is false")),
    "date": (("=", "is"), ("!=", "is not"), (">>=", "is after"), ("<<=", "is before")),
}
_TYPE_TITLES = {"movie": "Movies", "show": "TV Shows", "season": "Seasons", "episode": "Episodes",
                "artist": "Artists", "album": "Albums", "track": "Tracks"}


def meta_element(section: Section) -> Element:
    meta = Element("Meta")
    main = section.type
    for libtype in SECTION_TYPES[section.type]:
        code = TYPE_CODES[libtype]
        kind = meta.add("Type", key=f"/library/sections/{section.key}/all?type={code}", type=libtype,
                        title=_TYPE_TITLES[libtype], active=libtype == main)
        prefix = "" if libtype == "movie" else f"{libtype}."
        for field, field_type, title in _FIELDS[libtype]:
            if field_type == "tag":
                kind.add("Filter", filter=field, filterType="string", title=title, type="filter",
                         key=f"/library/sections/{section.key}/{field}?type={code}")
        for key, direction, title in _SORTS:
            kind.add("Sort", key=key, defaultDirection=direction, descKey=f"{key}:desc", title=title)
        for field, field_type, title in _FIELDS[libtype]:
            kind.add("Field", key=prefix + field, title=title, type=field_type)
    for field_type, operators in _OPERATORS.items():
        holder = meta.add("FieldType", type=field_type)
        for key, title in operators:
            holder.add("Operator", key=key, title=title)
    return meta


def choices_element(library: Library, section: Section, field: str, type_code: int | None) -> Element | None:
    """``GET /library/sections/{id}/{field}?type=N``: the values to filter by, or ``None``."""
    libtype = next((name for name, code in TYPE_CODES.items() if code == type_code), section.type)
    root = Element("MediaContainer", {"librarySectionID": section.key, "title1": section.title})
    if field in TAG_FIELDS:
        for tag in library.tags_of_kind(section, TAG_FIELDS[field], libtype):
            root.add("Directory", key=tag.id, title=tag.tag,
                     fastKey=f"/library/sections/{section.key}/all?{field}={tag.id}")
    elif field in ("year", "decade", "contentRating", "studio"):
        values = set()
        for item in section.of_type(libtype):
            value = item.fields.get("year" if field == "decade" else field)
            if value is not None:
                values.add(value - value % 10 if field == "decade" else value)
        for value in sorted(values):
            root.add("Directory", key=value, title=f"{value}s" if field == "decade" else value,
                     fastKey=f"/library/sections/{section.key}/all?{field}={value}")
    else:
        return None
    root.attrs["size"] = len(root.children)
    return root
