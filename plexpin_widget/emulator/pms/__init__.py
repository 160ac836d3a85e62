"""A Plex Media Server stand-in with an invented demo library, for python-plexapi and notebooks.

>>> from plexpin_widget.emulator import PlexTvEmulator
>>> from plexpin_widget.emulator.pms import PlexMediaServerEmulator
>>> plex_tv = PlexTvEmulator()
>>> pms = PlexMediaServerEmulator(plex_tv)   # becomes the demo account's "Demo Server"
>>> with pms.server() as server:             # loopback; listed in /api/v2/resources  # doctest: +SKIP
...     print(server.url)

It answers what python-plexapi asks a server for (``/``, ``/library/sections``, ``…/all`` with
filters, sorting and paging, ``/library/metadata/{id}`` and its children, history, sessions,
thumbnails) in XML, or JSON for ``Accept: application/json``, and only to an accepted
``X-Plex-Token`` (:meth:`PlexMediaServerEmulator.accepts`). Like the plex.tv emulator it
imports only ``plexpin_widget._models`` from the rest of the package.
"""

from ._app import PlexMediaServerEmulator
from ._library import DEMO_SEED, Library

__all__ = ["DEMO_SEED", "Library", "PlexMediaServerEmulator"]
