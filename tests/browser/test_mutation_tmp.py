from .test_widget_browser import plex_factory, plex  # noqa: F401
from . import test_widget_browser as T
from .conftest import wait_until

def test_detectors_fire_on_unescaped(frontend, page_watch, plex_factory, monkeypatch):
    monkeypatch.setattr(T, "LOGIN_CELL", 'import plexpin_widget._view as v\nv.html.escape = lambda s, quote=True: s\n' + T.LOGIN_CELL)
    plex = plex_factory(username=T.HOSTILE_USERNAME)
    login = T.open_login(frontend, page_watch, plex)
    plex.emu.claim(code=login.first_code)
    wait_until(lambda: page_watch.dialogs, timeout=10, message="a dialog", page=login.page)
    assert login.root.locator("img[src='x']").count() > 0
    print("DIALOGS", page_watch.dialogs)
