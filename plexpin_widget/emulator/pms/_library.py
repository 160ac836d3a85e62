"""The demo library: sections, items (films, shows, seasons, episodes, artists, albums, tracks),
watch history and a playing session, all invented and drawn from ``random.Random(seed)``.

Everything is plain data; ``_render`` turns it into Plex's XML/JSON and ``_query`` filters it.
Dates are fixed offsets from ``today`` (default: the current UTC day), so the library is the same
for a given day and always looks recent: films added over the last 400 days, plays over the
last 120.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import random
import uuid as _uuid
from collections.abc import Iterator
from typing import Any

from . import _catalog

__all__ = ["DEMO_SEED", "Account", "Device", "Library", "MediaItem", "Play", "Section", "Session", "Tag"]

DEMO_SEED = 7
_DAY = 86_400
_UTC = _dt.timezone.utc

# Plex's numeric type codes (``type=N`` in queries).
TYPE_CODES = {"movie": 1, "show": 2, "season": 3, "episode": 4, "artist": 8, "album": 9, "track": 10}
TYPE_NAMES = {code: name for name, code in TYPE_CODES.items()}
# The types below each section type, outermost first.
SECTION_TYPES = {"movie": ("movie",), "show": ("show", "season", "episode"), "artist": ("artist", "album", "track")}


@dataclasses.dataclass(frozen=True)
class Tag:
    """A genre, director, role... ``kind`` is the XML element name (``Genre``, ``Role``)."""

    id: int
    kind: str
    tag: str
    role: str | None = None


@dataclasses.dataclass(eq=False)
class MediaItem:
    """One library item. ``fields`` holds the wire attributes (camelCase, typed values)."""

    rating_key: int
    type: str
    title: str
    section_key: int
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    tags: list[Tag] = dataclasses.field(default_factory=list)
    parent: MediaItem | None = None
    children: list[MediaItem] = dataclasses.field(default_factory=list)

    @property
    def key(self) -> str:
        return f"/library/metadata/{self.rating_key}"

    @property
    def ancestors(self) -> list[MediaItem]:
        """Parent first, then grandparent."""
        chain, node = [], self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain

    def leaves(self) -> list[MediaItem]:
        """The playable items under this one (itself if it is playable)."""
        if not self.children:
            return [self]
        return [leaf for child in self.children for leaf in child.leaves()]

    def tag_names(self, kind: str) -> list[str]:
        return [t.tag for t in self.tags if t.kind == kind]


@dataclasses.dataclass
class Section:
    key: int
    title: str
    type: str  # movie, show or artist
    agent: str
    scanner: str
    uuid: str
    location: str
    created_at: int
    items: list[MediaItem] = dataclasses.field(default_factory=list)

    def of_type(self, libtype: str) -> list[MediaItem]:
        """Every item of ``libtype`` in the section, in library order."""
        found: list[MediaItem] = []

        def walk(items: list[MediaItem]) -> None:
            for item in items:
                if item.type == libtype:
                    found.append(item)
                walk(item.children)

        walk(self.items)
        return found


@dataclasses.dataclass(frozen=True)
class Account:
    id: int
    name: str


@dataclasses.dataclass(frozen=True)
class Device:
    id: int
    name: str
    platform: str
    product: str


@dataclasses.dataclass(frozen=True)
class Play:
    """One row of watch history."""

    history_id: int
    item: MediaItem
    viewed_at: int
    account_id: int
    device_id: int


@dataclasses.dataclass(frozen=True)
class Session:
    """Something playing right now."""

    session_key: int
    item: MediaItem
    account: Account
    device: Device
    view_offset: int


class Library:
    """The whole demo library. ``Library(seed=7, today=date(2026, 1, 31), owner="demo")``."""

    def __init__(self, *, seed: int = DEMO_SEED, today: _dt.date | None = None, owner: str = "demo") -> None:
        self.seed = seed
        day = today or _dt.datetime.now(_UTC).date()
        # Midnight UTC starting ``today``: every play and every addition lies before it.
        self.now = int(_dt.datetime(day.year, day.month, day.day, tzinfo=_UTC).timestamp())
        self._rng = random.Random(seed)
        self._tag_ids: dict[tuple[str, str], int] = {}
        self._next_key = 1000
        self.accounts = [Account(i, owner if i == 1 else name) for i, name in _catalog.ACCOUNTS]
        self.devices = [Device(*device) for device in _catalog.DEVICES]
        self.sections = [
            self._section(1, "Movies", "movie", "tv.plex.agents.movie", "Plex Movie"),
            self._section(2, "TV Shows", "show", "tv.plex.agents.series", "Plex TV Series"),
            self._section(3, "Music", "artist", "tv.plex.agents.music", "Plex Music"),
        ]
        self._build_movies(self.sections[0])
        self._build_shows(self.sections[1])
        self._build_music(self.sections[2])
        self.items: dict[int, MediaItem] = {}
        for section in self.sections:
            for libtype in SECTION_TYPES[section.type]:
                for item in section.of_type(libtype):
                    self.items[item.rating_key] = item
        self.history = self._build_history()
        self._apply_history()
        self.sessions = self._build_sessions()

    # ------------------------------------------------------------------ lookups

    def section(self, key: int) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    def tag_id(self, kind: str, name: str) -> int:
        """A stable id per (kind, name), as PMS's tag table has."""
        ident = self._tag_ids.get((kind, name))
        if ident is None:
            ident = self._tag_ids[(kind, name)] = 100 + len(self._tag_ids)
        return ident

    def tags_of_kind(self, section: Section, kind: str, libtype: str) -> list[Tag]:
        """The distinct tags of ``kind`` used by ``libtype`` items in ``section``, by name."""
        seen: dict[int, Tag] = {}
        for item in section.of_type(libtype):
            for tag in item.tags:
                if tag.kind == kind:
                    seen.setdefault(tag.id, Tag(tag.id, kind, tag.tag))
        return sorted(seen.values(), key=lambda t: t.tag)

    def iter_items(self) -> Iterator[MediaItem]:
        return iter(self.items.values())

    # ------------------------------------------------------------------ building

    def _section(self, key: int, title: str, libtype: str, agent: str, scanner: str) -> Section:
        return Section(
            key=key, title=title, type=libtype, agent=agent, scanner=scanner,
            uuid=str(_uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            location=f"/data/{title.replace(' ', '')}", created_at=self.now - 500 * _DAY,
        )

    def _new_key(self) -> int:
        self._next_key += 1
        return self._next_key

    def _tag(self, kind: str, name: str, role: str | None = None) -> Tag:
        return Tag(self.tag_id(kind, name), kind, name, role)

    def _person(self) -> str:
        return f"{self._rng.choice(_catalog.FIRST_NAMES)} {self._rng.choice(_catalog.LAST_NAMES)}"

    def _item(self, libtype: str, title: str, section: Section, parent: MediaItem | None = None,
              **fields: Any) -> MediaItem:
        item = MediaItem(self._new_key(), libtype, title, section.key, dict(fields), parent=parent)
        item.fields.setdefault("updatedAt", item.fields.get("addedAt", self.now))
        if parent is None:
            section.items.append(item)
        else:
            parent.children.append(item)
        return item

    def _random_year(self) -> int:
        # Weighted towards the 2000s and 2010s, as most libraries are.
        decade = self._rng.choices((1970, 1980, 1990, 2000, 2010, 2020), weights=(1, 1.5, 2, 3.5, 3.5, 1.5))[0]
        return min(2024, decade + self._rng.randrange(10))

    def _build_movies(self, section: Section) -> None:
        rng = self._rng
        fixed = list(_catalog.FIXED_MOVIES)
        more = [
            (title, self._random_year(), tuple(rng.sample(_catalog.GENRES, rng.choice((1, 1, 2, 2, 3)))),
             round(rng.uniform(4.0, 9.6), 1))
            for title in _catalog.MORE_MOVIE_TITLES
        ]
        for title, year, genres, rating in fixed + more:
            minutes = rng.randint(78, 172)
            added = self.now - rng.randint(1, 400) * _DAY - rng.randint(0, _DAY - 1)
            released = _dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
            audience = round(min(10.0, max(1.0, rating + rng.uniform(-1.5, 1.5))), 1)
            movie = self._item(
                "movie", title, section,
                year=year, studio=rng.choice(_catalog.STUDIOS), contentRating=rng.choice(_catalog.CONTENT_RATINGS),
                rating=rating, audienceRating=audience, duration=minutes * 60_000,
                originallyAvailableAt=released.isoformat(), addedAt=added,
                summary=f"An invented {genres[0].lower()} film for the plexpin demo library.",
                tagline=f"{title}.",
            )
            movie.tags = [self._tag("Genre", g) for g in genres]
            movie.tags.append(self._tag("Director", self._person()))
            movie.tags += [self._tag("Role", self._person(), role=rng.choice(_catalog.FIRST_NAMES)) for _ in range(3)]
            movie.tags.append(self._tag("Country", rng.choice(("Netherlands", "Norway", "Canada", "Portugal"))))

    def _words_title(self) -> str:
        first, second = self._rng.sample(_catalog.TITLE_WORDS, 2)
        return self._rng.choice((f"The {first}", f"{first} and {second}", f"{first} at {second}", first))

    def _build_shows(self, section: Section) -> None:
        rng = self._rng
        for title, genre, first_year, seasons, rating in _catalog.SHOWS:
            added = self.now - rng.randint(150, 380) * _DAY
            minutes = rng.randint(22, 58)
            show = self._item(
                "show", title, section, year=first_year, studio=rng.choice(_catalog.STUDIOS), contentRating=rating,
                rating=round(rng.uniform(6.0, 9.2), 1), audienceRating=round(rng.uniform(6.0, 9.5), 1),
                originallyAvailableAt=f"{first_year}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                addedAt=added, network=rng.choice(("Northlight TV", "Channel Kestrel", "Harbor+")),
                summary=f"An invented {genre.lower()} series.", duration=minutes * 60_000,
            )
            show.tags = [self._tag("Genre", genre), self._tag("Role", self._person(), role=self._person())]
            for season_index, episode_count in enumerate(seasons, start=1):
                year = first_year + season_index - 1
                season = self._item("season", f"Season {season_index}", section, parent=show,
                                    index=season_index, year=year, addedAt=added)
                for episode_index in range(1, episode_count + 1):
                    aired = _dt.date(year, 1 + (episode_index - 1) % 12, rng.randint(1, 28))
                    episode = self._item(
                        "episode", "Pilot" if (season_index, episode_index) == (1, 1) else self._words_title(),
                        section, parent=season, index=episode_index, year=year,
                        duration=(minutes + rng.randint(-3, 3)) * 60_000, originallyAvailableAt=aired.isoformat(),
                        contentRating=rating, addedAt=added + season_index * 3600 + episode_index,
                        summary="An invented episode.",
                    )
                    episode.tags = [self._tag("Director", self._person()), self._tag("Writer", self._person())]

    def _build_music(self, section: Section) -> None:
        rng = self._rng
        for artist_name, genre, albums in _catalog.ALBUMS:
            added = self.now - rng.randint(60, 300) * _DAY
            artist = self._item("artist", artist_name, section, addedAt=added, summary=f"An invented {genre.lower()} act.")
            artist.tags = [self._tag("Genre", genre), self._tag("Country", rng.choice(("Sweden", "Ireland", "Chile")))]
            for album_title, year, track_count in albums:
                album = self._item("album", album_title, section, parent=artist, year=year, addedAt=added + year,
                                   originallyAvailableAt=f"{year}-0{rng.randint(1, 9)}-0{rng.randint(1, 9)}",
                                   studio=rng.choice(("Quiet Pier Records", "Moth Tapes")))
                album.tags = [self._tag("Genre", genre)]
                for index in range(1, track_count + 1):
                    self._item("track", self._words_title(), section, parent=album, index=index,
                               duration=rng.randint(150, 370) * 1000, addedAt=added + year + index)

    # ------------------------------------------------------------------ history

    def _evening(self, days_ago: int) -> int:
        """An evening (or a weekend afternoon) ``days_ago`` days before yesterday's midnight."""
        day = self.now - (days_ago + 1) * _DAY
        weekday = _dt.datetime.fromtimestamp(day, _UTC).weekday()
        hour = self._rng.randint(13, 22) if weekday >= 5 else self._rng.randint(18, 22)
        return day + hour * 3600 + self._rng.randint(0, 3599)

    def _build_history(self) -> list[Play]:
        rng = self._rng
        rows: list[tuple[int, MediaItem, int, int]] = []
        movies = self.sections[0].items
        for movie in rng.sample(movies, 24):  # about 60 % watched
            for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 5))):
                rows.append((self._evening(rng.randint(0, 119)), movie, rng.choice((1, 1, 2, 3)), rng.choice((1, 2, 4))))
        shows = {show.title: show for show in self.sections[1].items}
        # Harbor Lights and Field Notes watched through, Ironwood abandoned in season 1.
        binges = (("Harbor Lights", 24, 1), ("Field Notes", 6, 2), ("Pocket Universe", 13, 3),
                  ("The Night Desk", 10, 1), ("Ironwood", 4, 2))
        for title, count, account in binges:
            episodes = shows[title].leaves()[:count]
            day = rng.randint(count // 3 + 2, 80)
            position = 0
            while position < len(episodes):
                at = self._evening(day)
                for episode in episodes[position:position + rng.randint(2, 4)]:
                    rows.append((at, episode, account, rng.choice((1, 3, 4))))
                    at += int(episode.fields["duration"] / 1000) + rng.randint(30, 300)
                    position += 1
                day = max(0, day - rng.randint(1, 3))
        for album in self.sections[2].of_type("album"):
            for _ in range(rng.randint(1, 3)):
                at = self._evening(rng.randint(0, 119))
                account = rng.choice((1, 2, 3))
                for track in album.children:
                    rows.append((at, track, account, 3))
                    at += int(track.fields["duration"] / 1000)
        rows = [row for row in rows if row[0] <= self.now]
        rows.sort(key=lambda row: row[0])
        return [Play(i, item, at, account, device) for i, (at, item, account, device) in enumerate(rows, start=1)]

    def _apply_history(self) -> None:
        """Plays set each item's viewCount and lastViewedAt; containers count viewed leaves."""
        for play in self.history:
            fields = play.item.fields
            fields["viewCount"] = fields.get("viewCount", 0) + 1
            fields["lastViewedAt"] = max(fields.get("lastViewedAt", 0), play.viewed_at)
            # Nobody plays a film before it is in the library.
            fields["addedAt"] = min(fields["addedAt"], play.viewed_at - _DAY)
        for item in self.items.values():
            if item.children:
                leaves = item.leaves()
                item.fields["leafCount"] = len(leaves)
                item.fields["viewedLeafCount"] = sum(1 for leaf in leaves if leaf.fields.get("viewCount"))
                if item.type in ("show", "artist"):
                    item.fields["childCount"] = len(item.children)
                viewed = [leaf.fields["lastViewedAt"] for leaf in leaves if "lastViewedAt" in leaf.fields]
                if viewed:
                    item.fields["lastViewedAt"] = max(viewed)

    def _build_sessions(self) -> list[Session]:
        movie = next(m for m in self.sections[0].items if m.title == "The Quiet Harbor")
        return [Session(17, movie, self.accounts[1], self.devices[1], int(movie.fields["duration"] * 0.4))]
