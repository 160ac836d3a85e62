"""The Plex Media Server stand-in, read by python-plexapi exactly as it reads a real server.

Sign-in runs in-process against the plex.tv emulator; the media server listens on loopback,
because python-plexapi talks HTTP through ``requests``. Every python-plexapi call here is one an
analyst makes, and the request log shows it makes no more requests than a real server would need.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from plexpin_widget import PlexPinLogin
from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator
from plexpin_widget.emulator.pms import DEMO_SEED, Library, PlexMediaServerEmulator

plexapi_server = pytest.importorskip("plexapi.server")
from plexapi.exceptions import NotFound, Unauthorized  # noqa: E402

TODAY = _dt.date(2026, 3, 14)


@pytest.fixture(scope="module")
def plex_tv() -> PlexTvEmulator:
    emulator = PlexTvEmulator(username="analyst")
    emulator.auto_claim(0)
    return emulator


@pytest.fixture(scope="module")
def pms(plex_tv: PlexTvEmulator) -> PlexMediaServerEmulator:
    return PlexMediaServerEmulator(plex_tv, library=Library(today=TODAY, owner="analyst"))


@pytest.fixture(scope="module")
def served(pms: PlexMediaServerEmulator) -> Iterator[EmulatorServer]:
    with pms.server() as running:
        yield running


@pytest.fixture(scope="module")
def login(plex_tv: PlexTvEmulator, served: EmulatorServer, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[PlexPinLogin]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLEXPIN_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
        patch.setenv("PLEXPIN_KEYRING", "0")
        for name in ("PLEX_TOKEN", "PLEXPIN_BASE_URL", "PLEXPIN_CLIENT_IDENTIFIER"):
            patch.delenv(name, raising=False)
        signed_in = PlexPinLogin(product="PMS tests", poll_interval=0.05, transport=plex_tv.transport())
        signed_in.wait(10)
        yield signed_in
        signed_in.close()


@pytest.fixture(scope="module")
def plex(login: PlexPinLogin) -> Any:
    return login.server()


@pytest.fixture
def log(pms: PlexMediaServerEmulator) -> PlexMediaServerEmulator:
    """The server with an empty request log, to count what one call costs."""
    pms.clear_log()
    return pms


def paths(pms: PlexMediaServerEmulator) -> list[str]:
    return [entry.path for entry in pms.request_log()]


def client(pms: PlexMediaServerEmulator, token: str | None = None, **headers: str) -> httpx.Client:
    if token:
        headers["X-Plex-Token"] = token
    return httpx.Client(transport=pms.transport(), base_url="http://pms.invalid", headers=headers)


# --------------------------------------------------------------------------- sign-in to server


def test_the_account_lists_the_stand_in_with_its_real_address(
    login: PlexPinLogin, pms: PlexMediaServerEmulator, served: EmulatorServer
) -> None:
    (server,) = [r for r in login.resources() if r.is_server]
    assert server.name == pms.name == "Demo Server"
    assert server.owned is True
    assert server.client_identifier == pms.machine_identifier
    assert server.access_token == pms.access_token
    first = server.connections[0]
    assert (first.uri, first.address, first.port, first.local) == (served.url, "127.0.0.1", served.port, True)


def test_login_server_returns_a_plexserver_on_the_working_connection(
    plex: Any, pms: PlexMediaServerEmulator, served: EmulatorServer
) -> None:
    assert isinstance(plex, plexapi_server.PlexServer)
    assert plex.friendlyName == "Demo Server"
    assert plex.machineIdentifier == pms.machine_identifier
    assert plex._baseurl == served.url
    assert plex._token == pms.access_token  # the server's own token, not the account's


def test_requests_without_or_with_a_wrong_token_get_401(pms: PlexMediaServerEmulator, served: EmulatorServer) -> None:
    for headers in ({}, {"X-Plex-Token": "wrong-token"}):
        response = requests.get(f"{served.url}/library/sections", headers=headers, timeout=5)
        assert response.status_code == 401
        assert "401 Unauthorized" in response.text and response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(Unauthorized):
        plexapi_server.PlexServer(served.url, "wrong-token")
    with client(pms) as http:
        assert http.get("/status/sessions").status_code == 401
        assert http.get("/identity").status_code == 200  # like a real server, no token needed


def test_the_owner_account_token_is_accepted_until_revoked(plex_tv: PlexTvEmulator, served: EmulatorServer) -> None:
    other = plex_tv.add_account("someone else")
    assert plexapi_server.PlexServer(served.url, plex_tv.demo_token).friendlyName == "Demo Server"
    with pytest.raises(Unauthorized):
        plexapi_server.PlexServer(served.url, other)  # a token, but not of the owner
    assert requests.get(f"{served.url}/?X-Plex-Token={plex_tv.demo_token}", timeout=5).status_code == 200


def test_token_in_the_query_string_is_accepted(pms: PlexMediaServerEmulator) -> None:
    with client(pms) as http:
        assert http.get("/library/sections", params={"X-Plex-Token": pms.access_token}).status_code == 200


# --------------------------------------------------------------------------- sections, listings


def test_sections_and_their_sizes(plex: Any, log: PlexMediaServerEmulator) -> None:
    sections = plex.library.sections()
    assert [(s.title, s.type) for s in sections] == [("Movies", "movie"), ("TV Shows", "show"), ("Music", "artist")]
    assert [s.totalSize for s in sections] == [40, 5, 3]
    assert plex.library.section("TV Shows").totalViewSize(libtype="episode") == 24 + 20 + 24 + 6 + 16


def test_movies_list_carries_everything_a_dataframe_needs_without_reloads(
    plex: Any, log: PlexMediaServerEmulator
) -> None:
    movies = plex.library.section("Movies").all()
    before = len(paths(log))
    rows = [
        (m.title, m.year, [g.tag for g in m.genres], [d.tag for d in m.directors], m.studio, m.contentRating,
         m.rating, m.audienceRating, m.duration, m.addedAt, m.viewCount, m.isPlayed, [r.tag for r in m.roles])
        for m in movies
    ]
    assert len(paths(log)) == before, "reading listed fields reloaded items: " + ", ".join(paths(log)[before:])
    assert len(rows) == 40 and len({r[0] for r in rows}) == 40
    assert len({year // 10 for _, year, *_ in rows}) >= 3
    assert all(r[2] and r[3] and r[4] and r[5] and r[12] for r in rows)
    assert all(1 <= r[6] <= 10 and 1 <= r[7] <= 10 for r in rows)
    assert all(78 * 60_000 <= r[8] <= 172 * 60_000 for r in rows)
    watched = [r for r in rows if r[11]]
    assert 16 <= len(watched) <= 32  # about 60 %
    assert all(m.lastViewedAt is not None for m in movies if m.isPlayed)


def test_search_really_filters(plex: Any) -> None:
    movies = plex.library.section("Movies")
    everything = movies.all()
    assert [m.title for m in movies.search(title="harbor")] == ["The Quiet Harbor"]
    assert [m.title for m in movies.search(year=1982)] == ["Copper Sky"]
    comedies = movies.search(genre="Comedy")
    expected = sorted(m.title for m in everything if "Comedy" in [g.tag for g in m.genres])
    assert sorted(m.title for m in comedies) == expected and 0 < len(comedies) < 40
    recent = movies.search(**{"year>>": 2015})
    assert recent and all(m.year > 2015 for m in recent)
    assert {m.title for m in movies.search(genre="Drama", year=1982)} == {"Copper Sky"}
    assert movies.search(title="no such film") == []
    assert movies.get("Dustline").year == 1994


def test_recently_added_is_newest_first(plex: Any) -> None:
    movies = plex.library.section("Movies")
    recent = movies.recentlyAdded(maxresults=5)
    newest = sorted(movies.all(), key=lambda m: m.addedAt, reverse=True)[:5]
    assert [m.ratingKey for m in recent] == [m.ratingKey for m in newest]
    assert all(a.addedAt >= b.addedAt for a, b in zip(recent, recent[1:]))


def test_library_wide_search_recently_added_and_on_deck(plex: Any) -> None:
    assert [m.title for m in plex.library.search(title="harbor", libtype="movie")] == ["The Quiet Harbor"]
    assert [s.title for s in plex.library.search(title="harbor", libtype="show")] == ["Harbor Lights"]
    found = plex.search("harbor")
    assert {(item.type, item.title) for item in found if item.type in ("movie", "show")} == {
        ("movie", "The Quiet Harbor"), ("show", "Harbor Lights")}
    assert all("harbor" in item.title.lower() for item in found)
    assert [item.title for item in plex.search("harbor", mediatype="show")] == ["Harbor Lights"]
    recent = plex.library.recentlyAdded()
    assert {item.type for item in recent} == {"movie", "episode", "album"}
    assert all(a.addedAt >= b.addedAt for a, b in zip(recent, recent[1:]))
    deck = plex.library.onDeck()
    # Started but not finished: Pocket Universe (13 of 20), The Night Desk (10 of 24), Ironwood (4 of 16).
    assert sorted((e.grandparentTitle, e.seasonNumber, e.index) for e in deck) == [
        ("Ironwood", 1, 5), ("Pocket Universe", 2, 4), ("The Night Desk", 2, 5)]


def test_paging_through_a_section(plex: Any, log: PlexMediaServerEmulator) -> None:
    movies = plex.library.section("Movies")
    paged = movies.search(container_size=15)
    assert len(paged) == 40 and [m.ratingKey for m in paged] == [m.ratingKey for m in movies.all()]
    assert len([p for p in paths(log) if p.startswith("/library/sections/1/all")]) == 3 + 1


@pytest.mark.parametrize("where", ["headers", "query"])
def test_container_start_and_size_from_headers_or_query(pms: PlexMediaServerEmulator, where: str) -> None:
    paging = {"X-Plex-Container-Start": "10", "X-Plex-Container-Size": "5"}
    with client(pms, pms.access_token) as http:
        if where == "headers":
            response = http.get("/library/sections/1/all", headers=paging)
        else:
            response = http.get("/library/sections/1/all", params=paging)
        body = response.text
    assert re.search(r'<MediaContainer[^>]* size="5" totalSize="40" offset="10"', body)
    assert body.count("<Video ") == 5
    assert response.headers["X-Plex-Container-Total-Size"] == "40"


def test_count_only_request_has_total_size_and_no_items(pms: PlexMediaServerEmulator) -> None:
    with client(pms, pms.access_token) as http:
        body = http.get("/library/sections/1/all?X-Plex-Container-Start=0&X-Plex-Container-Size=0").text
    assert 'totalSize="40"' in body and "<Video " not in body


def test_json_when_asked(pms: PlexMediaServerEmulator) -> None:
    with client(pms, pms.access_token, Accept="application/json") as http:
        response = http.get("/library/sections/1/all", params={"X-Plex-Container-Size": "2"})
    assert response.headers["Content-Type"].startswith("application/json")
    container = response.json()["MediaContainer"]
    assert container["size"] == 2 and container["totalSize"] == 40
    first = container["Metadata"][0]
    assert isinstance(first["ratingKey"], str) and isinstance(first["year"], int)
    assert first["Genre"][0]["tag"] and first["Media"][0]["Part"][0]["key"].startswith("/library/parts/")


# --------------------------------------------------------------------------- shows and music


def test_shows_seasons_and_episodes(plex: Any, log: PlexMediaServerEmulator) -> None:
    shows = plex.library.section("TV Shows").all()
    assert len(shows) == 5
    harbor = next(s for s in shows if s.title == "Harbor Lights")
    seasons = harbor.seasons()
    assert [s.index for s in seasons] == [1, 2, 3] and harbor.childCount == 3
    episodes = seasons[0].episodes()
    assert [e.index for e in episodes] == list(range(1, 9))
    assert episodes[0].title == "Pilot" and episodes[0].grandparentTitle == "Harbor Lights"
    assert len(harbor.episodes()) == 24 and harbor.isPlayed  # watched through
    shown = repr(episodes) + repr(seasons)  # what Jupyter shows for a list
    assert "Harbor-Lights" in shown
    reloads = [p for p in paths(log) if re.fullmatch(r"/library/metadata/\d+(\?includeBandwidths.*)?", p)]
    assert reloads == [], "python-plexapi reloaded listed items"
    # Checked after the reloads: show() is an explicit fetch, and python-plexapi 4.15 asks for the
    # bare /library/metadata/<id> (4.18 adds ?includeGuids=1), which the pattern above would count.
    assert episodes[0].show().ratingKey == harbor.ratingKey


def test_artists_albums_and_tracks(plex: Any) -> None:
    artists = plex.library.section("Music").all()
    assert [a.title for a in artists] == ["The Fennel Quartet", "Mara Lindqvist", "Static Orchard"]  # by titleSort
    fennel = next(a for a in artists if a.title == "The Fennel Quartet")
    albums = fennel.albums()
    assert sorted(a.title for a in albums) == ["Low Country", "Tin Roof"]
    low_country = next(a for a in albums if a.title == "Low Country")
    tracks = low_country.tracks()
    assert [t.trackNumber for t in tracks] == list(range(1, 11))
    assert all(t.grandparentTitle == "The Fennel Quartet" and 150_000 <= t.duration <= 370_000 for t in tracks)


# --------------------------------------------------------------------------- history, sessions, images


def test_history_has_weeks_of_plays_newest_first(plex: Any) -> None:
    history = plex.history()
    assert len(history) >= 100
    viewed = [h.viewedAt for h in history]
    assert viewed == sorted(viewed, reverse=True)
    assert (viewed[0] - viewed[-1]).days >= 28
    assert {h.type for h in history} == {"movie", "episode", "track"}
    assert {h.accountID for h in history} == {1, 2, 3}
    robin = plex.history(accountID=2)
    assert robin and {h.accountID for h in robin} == {2}
    since = viewed[0] - _dt.timedelta(days=14)
    assert {h.viewedAt >= since for h in plex.history(mindate=since)} == {True}
    movie = next(h for h in history if h.type == "movie").source()
    assert {h.ratingKey for h in movie.history()} == {movie.ratingKey}
    assert len(plex.history(maxresults=7)) == 7


def test_sessions_show_what_is_playing(plex: Any) -> None:
    (session,) = plex.sessions()
    assert session.title == "The Quiet Harbor" and session.usernames == ["robin"]
    assert session.players[0].title == "Chrome" and 0 < session.viewOffset < session.duration


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_thumb_url_serves_a_png_card(plex: Any, served: EmulatorServer) -> None:
    movie = plex.library.section("Movies").get("Copper Sky")
    response = requests.get(movie.thumbUrl, timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert png_size(response.content) == (150, 225)
    other = requests.get(plex.library.section("Movies").get("Dustline").thumbUrl, timeout=5).content
    assert other != response.content  # a card of its own per title
    track = plex.library.section("Music").all()[0].albums()[0].tracks()[0]
    assert requests.get(track.thumbUrl, timeout=5).status_code == 200
    without_token = movie.thumbUrl.split("?")[0]
    assert requests.get(without_token, timeout=5).status_code == 401


def test_unknown_item_is_404(plex: Any) -> None:
    with pytest.raises(NotFound):
        plex.fetchItem(999_999)


# --------------------------------------------------------------------------- the demo data


def test_library_is_deterministic_and_seeded() -> None:
    def summary(library: Library) -> list[tuple[Any, ...]]:
        return [(i.title, i.fields.get("year"), i.fields.get("rating"), i.fields.get("addedAt"))
                for i in library.iter_items()] + [(p.item.title, p.viewed_at) for p in library.history]

    assert DEMO_SEED == 7
    assert summary(Library(today=TODAY)) == summary(Library(today=TODAY))
    assert summary(Library(today=TODAY, seed=8)) != summary(Library(today=TODAY))


def test_history_agrees_with_view_counts(pms: PlexMediaServerEmulator) -> None:
    library = pms.library
    for movie in library.sections[0].items:
        plays = [p for p in library.history if p.item is movie]
        assert movie.fields.get("viewCount", 0) == len(plays)
        if plays:
            assert movie.fields["lastViewedAt"] == max(p.viewed_at for p in plays)
            assert movie.fields["addedAt"] < min(p.viewed_at for p in plays)


def test_the_emulator_command_starts_and_stops_the_media_server(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "plexpin_widget.emulator", "--port", "0", "--auto-claim", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as process:
        try:
            assert process.stdout is not None
            tv_url = re.search(r"listening on (\S+)", process.stdout.readline())
            pms_url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", process.stdout.readline())
            assert tv_url and pms_url
            with httpx.Client(base_url=tv_url.group(1)) as http:
                pin = http.post("/api/v2/pins", headers={"X-Plex-Client-Identifier": "cli-test",
                                                          "Accept": "application/json"}).json()
                token = http.get(f"/api/v2/pins/{pin['id']}", headers={
                    "X-Plex-Client-Identifier": "cli-test", "Accept": "application/json"}).json()["authToken"]
                resources = http.get("/api/v2/resources", headers={"X-Plex-Token": token,
                                                                    "Accept": "application/json"}).json()
            (server,) = resources
            assert server["connections"][0]["uri"] == pms_url.group(1)
            sections = httpx.get(f"{pms_url.group(1)}/library/sections",
                                 headers={"X-Plex-Token": server["accessToken"]})
            assert sections.status_code == 200 and 'title="Movies"' in sections.text
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"{pms_url.group(1)}/identity")
        finally:
            if process.poll() is None:
                process.kill()
