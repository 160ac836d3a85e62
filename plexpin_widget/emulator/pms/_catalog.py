"""The demo library's invented names: films, shows, music, people, studios. No real metadata.

Titles, years and genres of the first dozen films and the shapes of the shows and albums are
fixed (the reference's §10 names them); everything else is drawn from these lists with a
seeded random generator in ``_library``.
"""

from __future__ import annotations

__all__ = [
    "ACCOUNTS",
    "ALBUMS",
    "CONTENT_RATINGS",
    "DEVICES",
    "FIRST_NAMES",
    "FIXED_MOVIES",
    "GENRES",
    "LAST_NAMES",
    "MORE_MOVIE_TITLES",
    "SHOWS",
    "STUDIOS",
    "TITLE_WORDS",
]

GENRES = (
    "Drama", "Comedy", "Thriller", "Science Fiction", "Animation",
    "Romance", "Documentary", "Action", "Horror", "Family",
)

CONTENT_RATINGS = ("G", "PG", "PG-13", "R", "NR")

STUDIOS = (
    "Blue Harbor Films", "Northlight Pictures", "Tin Whistle Studios",
    "Meridian Works", "Kestrel & Vane", "Lantern Hill Media",
)

FIRST_NAMES = (
    "Ida", "Tomas", "Maren", "Otto", "Lena", "Felix", "Nora", "Jasper", "Wren", "Ines",
    "Anselm", "Clio", "Bram", "Selma", "Rufus", "Tove", "Edda", "Lucan", "Pia", "Soren",
)

LAST_NAMES = (
    "Marsh", "Vell", "Okafor", "Lindgren", "Castell", "Brandt", "Hollis", "Quill", "Varga",
    "Amsel", "Roque", "Thorne", "Calloway", "Ferrand", "Ness", "Abelard", "Kovac", "Winter",
)

# (title, year, genres, critic rating): the films the reference names.
FIXED_MOVIES: tuple[tuple[str, int, tuple[str, ...], float], ...] = (
    ("Copper Sky", 1982, ("Drama", "Romance"), 8.3),
    ("The Quiet Harbor", 2009, ("Drama",), 7.4),
    ("Null Meridian", 2016, ("Science Fiction", "Thriller"), 6.9),
    ("Paper Lanterns", 2003, ("Animation", "Family"), 8.8),
    ("Dustline", 1994, ("Action",), 5.2),
    ("Salt & Cedar", 2021, ("Documentary",), 7.9),
    ("Glass Orchard", 1977, ("Horror",), 6.1),
    ("Second Breakfast Club", 2012, ("Comedy",), 6.4),
    ("Larkspur Station", 1999, ("Thriller", "Drama"), 7.1),
    ("Blue Hour Rally", 2019, ("Comedy", "Action"), 5.8),
    ("The Cartographer's Daughter", 2007, ("Drama",), 8.1),
    ("Meltwater", 2024, ("Science Fiction",), 7.0),
)

# 28 more invented titles; their years, genres and ratings come from the seeded generator.
MORE_MOVIE_TITLES = (
    "Amber Static", "The Long Thaw", "Foxglove Summer", "Iron Lullaby", "Parallel Gardens",
    "The Weight of Feathers", "Night Ferry to Osk", "Marigold Protocol", "Under the Tin Moon",
    "Hollow Creek", "The Lighthouse Accountant", "Saltwater Letters", "Cinder Valley",
    "Quarter Past Never", "The Velvet Signal", "Small Hours", "Kingfisher Road",
    "The Map Room", "Orbit of Sparrows", "Ghost Tram", "Brass Horizon", "The Patient Storm",
    "Lemon Tree Heist", "Fathom", "The Ninth Balloon", "Cobalt Dreams", "Wild Rye",
    "Echo Park Avenue",
)

# (title, genre, first year, episodes per season, content rating).
SHOWS: tuple[tuple[str, str, int, tuple[int, ...], str], ...] = (
    ("Harbor Lights", "Drama", 2018, (8, 8, 8), "TV-14"),
    ("Pocket Universe", "Science Fiction", 2020, (10, 10), "TV-PG"),
    ("The Night Desk", "Comedy", 2015, (6, 6, 6, 6), "TV-14"),
    ("Field Notes", "Documentary", 2022, (6,), "TV-G"),
    ("Ironwood", "Thriller", 2019, (8, 8), "TV-MA"),
)

# (artist, genre, ((album, year, track count), ...)).
ALBUMS: tuple[tuple[str, str, tuple[tuple[str, int, int], ...]], ...] = (
    ("The Fennel Quartet", "Jazz", (("Low Country", 2011, 10), ("Tin Roof", 2015, 9))),
    ("Mara Lindqvist", "Folk", (("Northbound", 2019, 12),)),
    ("Static Orchard", "Electronic", (("Signal Fires", 2008, 11),)),
)

# Words for episode and track titles ("The Tidewater", "Lantern at Dusk"...).
TITLE_WORDS = (
    "Tidewater", "Lantern", "Dusk", "Harbor", "Signal", "Cedar", "Ember", "Glass", "Orchard",
    "Compass", "Fog", "Meridian", "Copper", "Sparrow", "Ledger", "Threshold", "Undertow",
    "Paper", "Lighthouse", "Static", "Winter", "Ferry", "Quarry", "Thistle", "Aurora",
    "Cipher", "Anchor", "Hollow", "Marigold", "Drift",
)

# (account id, name); account 1 is the server's owner.
ACCOUNTS = ((1, "demo"), (2, "robin"), (3, "kai"))

# (device id, name, platform, product).
DEVICES = (
    (1, "Living Room TV", "Roku", "Plex for Roku"),
    (2, "Chrome", "Chrome", "Plex Web"),
    (3, "iPhone", "iOS", "Plex for iOS"),
    (4, "Shield", "Android", "Plex for Android (TV)"),
)
