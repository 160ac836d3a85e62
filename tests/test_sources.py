"""Token sources: argument, PLEX_TOKEN, the Colab secret and the remembered token, in that order."""

from __future__ import annotations

import sys
import threading
import types
from pathlib import Path

import pytest

from plexpin_widget import ConfigurationError
from plexpin_widget._sources import (
    FoundToken,
    _forget_colab_answer,
    colab_secret,
    find_token,
    forget_rejected,
)
from plexpin_widget._store import TokenStore

CID = "client-abc"
BASE = "http://127.0.0.1:32500"


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PLEXPIN_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PLEXPIN_KEYRING", "0")
    monkeypatch.delenv("PLEX_TOKEN", raising=False)
    _forget_colab_answer()
    yield
    _forget_colab_answer()


class _SecretNotFoundError(Exception):
    pass


def _fake_colab(monkeypatch: pytest.MonkeyPatch, answer: object) -> list[str]:
    """Pretend to run in Colab; ``answer`` is the secret's value or an exception to raise."""
    asked: list[str] = []

    def get(name: str) -> str:
        asked.append(name)
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[return-value]

    userdata = types.SimpleNamespace(get=get)
    colab = types.ModuleType("google.colab")
    colab.userdata = userdata  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    return asked


def _find(**kwargs: object) -> FoundToken | None:
    return find_token(client_identifier=CID, base_url=BASE, **kwargs)  # type: ignore[arg-type]


def test_nothing_found() -> None:
    assert _find() is None


def test_order_argument_env_colab_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    TokenStore().save("tok-remembered", CID, BASE)
    found = _find()
    assert found is not None and (found.source, found.token, found.location) == ("remembered", "tok-remembered", "file")

    _fake_colab(monkeypatch, "tok-colab")
    found = _find()
    assert found is not None and (found.source, found.token) == ("colab", "tok-colab")

    monkeypatch.setenv("PLEX_TOKEN", "  tok-env  ")
    found = _find()
    assert found is not None and (found.source, found.token) == ("environment", "tok-env")

    found = _find(explicit="tok-arg")
    assert found is not None and (found.source, found.token) == ("argument", "tok-arg")
    assert "tok-arg" not in repr(found)
    assert found.description == "the token= argument"


def test_empty_env_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEX_TOKEN", "   ")
    assert _find() is None


@pytest.mark.parametrize("bad", ["", "has space", "tab\there", 12345])
def test_bad_explicit_token_names_the_argument(bad: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        _find(explicit=bad)
    assert info.value.name == "token"


def test_bad_env_token_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEX_TOKEN", "two words")
    with pytest.raises(ConfigurationError) as info:
        _find()
    assert info.value.name == "PLEX_TOKEN"
    assert "two words" not in str(info.value)


def test_remembered_entry_for_another_base_url_is_not_used() -> None:
    TokenStore().save("tok-emulator", CID, BASE)
    assert find_token(client_identifier=CID, base_url="https://plex.tv") is None


def test_use_flags_skip_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    TokenStore().save("tok-remembered", CID, BASE)
    monkeypatch.setenv("PLEX_TOKEN", "tok-env")
    assert _find(use_environment=False).source == "remembered"  # type: ignore[union-attr]
    assert _find(use_environment=False, use_remembered=False) is None


# --------------------------------------------------------------------------- Colab


def test_colab_not_consulted_outside_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert colab_secret() is None


def test_colab_secret_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _fake_colab(monkeypatch, "tok-colab")
    assert colab_secret() == "tok-colab"
    assert colab_secret() == "tok-colab"
    assert _find().token == "tok-colab"  # type: ignore[union-attr]
    assert asked == ["PLEX_TOKEN"]


@pytest.mark.parametrize(
    "answer", [_SecretNotFoundError("no secret"), PermissionError("NotebookAccessError"), RuntimeError("boom"), None, ""]
)
def test_colab_errors_mean_no_secret(monkeypatch: pytest.MonkeyPatch, answer: object) -> None:
    asked = _fake_colab(monkeypatch, answer)
    TokenStore().save("tok-remembered", CID, BASE)
    assert colab_secret() is None
    found = _find()
    assert found is not None and found.source == "remembered"
    assert asked == ["PLEX_TOKEN"]  # a failure is remembered too: no second consent prompt


def test_colab_is_not_asked_from_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _fake_colab(monkeypatch, "tok-colab")
    results: list[str | None] = []
    thread = threading.Thread(target=lambda: results.append(colab_secret()))
    thread.start()
    thread.join()
    assert results == [None]
    assert asked == []
    assert colab_secret() == "tok-colab"  # the main thread still gets it afterwards


def test_bad_colab_secret_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_colab(monkeypatch, "not a token")
    assert _find() is None


# --------------------------------------------------------------------------- rejection


def test_rejected_remembered_token_is_deleted() -> None:
    store = TokenStore()
    store.save("tok-old", CID, BASE)
    found = _find()
    assert forget_rejected(found, client_identifier=CID, base_url=BASE) is True
    assert store.load(CID, BASE) is None
    assert _find() is None


def test_rejected_env_token_deletes_only_an_identical_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    store = TokenStore()
    store.save("tok-remembered", CID, BASE)
    monkeypatch.setenv("PLEX_TOKEN", "tok-env")
    assert forget_rejected(_find(), client_identifier=CID, base_url=BASE) is False
    assert store.load(CID, BASE).token == "tok-remembered"  # type: ignore[union-attr]
    store.save("tok-env", CID, BASE)
    assert forget_rejected(_find(), client_identifier=CID, base_url=BASE) is True
    assert store.load(CID, BASE) is None
    assert forget_rejected(None, client_identifier=CID, base_url=BASE) is False


def test_unusable_remembered_entry_is_deleted() -> None:
    store = TokenStore()
    store.save("has space inside", CID, BASE)
    assert _find() is None
    assert not store.path_for(CID, BASE).exists()
