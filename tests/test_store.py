"""Remembered tokens: the 0600 file store, the keyring store, and how they fall back."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
import pytest

from plexpin_widget._store import KEYRING_SERVICE, TokenStore, entry_name, usable_keyring

CID = "client-1234"
PLEX = "https://plex.tv"
EMU = "http://127.0.0.1:32500"
TOKEN = "tok-AbCdEf0123456789"

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


@pytest.fixture(autouse=True)
def _private_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PLEXPIN_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PLEXPIN_KEYRING", "0")
    return tmp_path / "config"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A working keyring that lives in a dict."""

    # Negative: keyring discovers every backend subclass, and this one must never be chosen
    # automatically by code that runs later in the same test process.
    priority = -10  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError(username) from None


class BrokenKeyring(MemoryKeyring):
    """A backend that looks fine but fails on use, like SecretService without D-Bus."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("no D-Bus")


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch):
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    monkeypatch.delenv("PLEXPIN_KEYRING")
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


# --------------------------------------------------------------------------- file store


def test_file_round_trip_and_delete() -> None:
    store = TokenStore()
    assert store.load(CID, PLEX) is None
    where = store.save(TOKEN, CID, PLEX)
    assert "private file" in where
    stored = store.load(CID, PLEX)
    assert stored is not None and stored.token == TOKEN and stored.location == "file"
    assert TOKEN not in repr(stored)
    assert store.delete(CID, PLEX) is True
    assert store.load(CID, PLEX) is None
    assert store.delete(CID, PLEX) is False


@posix_only
def test_file_and_folder_permissions(_private_config: Path) -> None:
    previous = os.umask(0o022)  # a typical, permissive umask must not leak into the modes
    try:
        store = TokenStore()
        store.save(TOKEN, CID, PLEX)
    finally:
        os.umask(previous)
    path = store.path_for(CID, PLEX)
    assert path.parent == _private_config / "tokens"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # No temporary files are left behind by the atomic write.
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@posix_only
def test_existing_loose_folder_and_file_are_tightened(_private_config: Path) -> None:
    folder = _private_config / "tokens"
    folder.mkdir(parents=True, mode=0o755)
    os.chmod(folder, 0o755)
    store = TokenStore()
    store.save(TOKEN, CID, PLEX)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    path = store.path_for(CID, PLEX)
    os.chmod(path, 0o644)
    assert store.load(CID, PLEX).token == TOKEN  # type: ignore[union-attr]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_entries_are_keyed_by_identifier_and_base_url() -> None:
    store = TokenStore()
    store.save(TOKEN, CID, EMU)
    # An emulator token must never be offered to plex.tv, nor to another client identifier.
    assert store.load(CID, PLEX) is None
    assert store.load("other-client", EMU) is None
    assert store.load(CID, EMU + "/").token == TOKEN  # type: ignore[union-attr]
    store.save("tok-plex", CID, PLEX)
    assert store.load(CID, EMU).token == TOKEN  # type: ignore[union-attr]
    assert store.load(CID, PLEX).token == "tok-plex"  # type: ignore[union-attr]
    assert store.path_for(CID, EMU) != store.path_for(CID, PLEX)
    assert entry_name(CID, EMU) != entry_name(CID, PLEX)


def test_overwrite_replaces_the_token() -> None:
    store = TokenStore()
    store.save(TOKEN, CID, PLEX)
    store.save("tok-second", CID, PLEX)
    assert store.load(CID, PLEX).token == "tok-second"  # type: ignore[union-attr]


def test_corrupt_or_foreign_file_is_ignored() -> None:
    store = TokenStore()
    store.save(TOKEN, CID, PLEX)
    path = store.path_for(CID, PLEX)
    path.write_text("{not json")
    assert store.load(CID, PLEX) is None
    path.write_text(json.dumps({"client_identifier": "x", "base_url": PLEX, "token": TOKEN}))
    assert store.load(CID, PLEX) is None


def test_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        TokenStore().save("  ", CID, PLEX)


def test_concurrent_writers_leave_one_whole_file() -> None:
    store = TokenStore()
    tokens = [f"tok-{i:04d}" for i in range(16)]
    threads = [threading.Thread(target=store.save, args=(t, CID, PLEX)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.load(CID, PLEX).token in tokens  # type: ignore[union-attr]
    assert len(list(store.folder.iterdir())) == 1


@posix_only
def test_unwritable_folder_raises_oserror_without_the_token(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        store = TokenStore(blocker / "tokens")  # a folder below a file cannot exist, even for root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        store = TokenStore(locked / "tokens")
    with pytest.raises(OSError) as info:
        store.save(TOKEN, CID, PLEX)
    assert TOKEN not in str(info.value)


# --------------------------------------------------------------------------- keyring


def test_keyring_disabled_by_env_uses_the_file(memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXPIN_KEYRING", "0")
    store = TokenStore()
    assert usable_keyring() is None
    store.save(TOKEN, CID, PLEX)
    assert memory_keyring.entries == {}
    assert store.path_for(CID, PLEX).exists()


def test_working_keyring_is_used_and_no_file_is_written(memory_keyring: MemoryKeyring) -> None:
    store = TokenStore()
    where = store.save(TOKEN, CID, EMU)
    assert "keyring" in where
    assert memory_keyring.entries == {(KEYRING_SERVICE, entry_name(CID, EMU)): TOKEN}
    assert not store.path_for(CID, EMU).exists()
    marker = store.marker_for(CID, EMU)
    assert marker.exists() and marker.read_bytes() == b""  # says "in the keyring", holds no secret
    stored = store.load(CID, EMU)
    assert stored is not None and stored.token == TOKEN and stored.location == "keyring"
    assert store.load(CID, PLEX) is None
    assert store.delete(CID, EMU) is True
    assert memory_keyring.entries == {}
    assert not marker.exists()
    assert store.load(CID, EMU) is None


def test_keyring_is_not_opened_unless_something_was_saved_there(monkeypatch: pytest.MonkeyPatch) -> None:
    import plexpin_widget._store as store_module

    monkeypatch.delenv("PLEXPIN_KEYRING")

    def must_not_open() -> None:
        raise AssertionError("the keyring was opened")

    monkeypatch.setattr(store_module, "usable_keyring", must_not_open)
    store = TokenStore()
    assert store.load(CID, PLEX) is None
    assert store.delete(CID, PLEX) is False
    TokenStore(use_keyring=False).save(TOKEN, CID, PLEX)
    assert store.load(CID, PLEX).token == TOKEN  # type: ignore[union-attr]
    assert store.delete(CID, PLEX) is True


def test_keyring_save_removes_an_older_file_copy(memory_keyring: MemoryKeyring) -> None:
    TokenStore(use_keyring=False).save("tok-old", CID, PLEX)
    store = TokenStore()
    assert store.load(CID, PLEX).token == "tok-old"  # type: ignore[union-attr]  # found in the file
    store.save(TOKEN, CID, PLEX)
    assert not store.path_for(CID, PLEX).exists()
    assert store.load(CID, PLEX).token == TOKEN  # type: ignore[union-attr]


def test_failing_keyring_falls_back_to_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(BrokenKeyring())
    monkeypatch.delenv("PLEXPIN_KEYRING")
    try:
        store = TokenStore()
        where = store.save(TOKEN, CID, PLEX)
        assert "private file" in where
        assert store.load(CID, PLEX).token == TOKEN  # type: ignore[union-attr]
        assert store.delete(CID, PLEX) is True
    finally:
        keyring.set_keyring(previous)


@pytest.mark.parametrize("backend_name", ["fail", "null", "empty-chainer", "raises"])
def test_unusable_keyrings_are_detected(backend_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring.backends.chainer
    import keyring.backends.fail
    import keyring.backends.null

    monkeypatch.delenv("PLEXPIN_KEYRING")
    previous = keyring.get_keyring()
    if backend_name == "raises":
        def no_keyring() -> None:
            raise keyring.errors.NoKeyringError("no backend")

        monkeypatch.setattr(keyring, "get_keyring", no_keyring)
    elif backend_name == "fail":
        keyring.set_keyring(keyring.backends.fail.Keyring())
    elif backend_name == "null":
        keyring.set_keyring(keyring.backends.null.Keyring())
    else:
        monkeypatch.setattr(keyring.backends.chainer.ChainerBackend, "backends", [])
        keyring.set_keyring(keyring.backends.chainer.ChainerBackend())
    try:
        assert usable_keyring() is None
        store = TokenStore()
        assert "private file" in store.save(TOKEN, CID, PLEX)
        assert store.load(CID, PLEX).token == TOKEN  # type: ignore[union-attr]
    finally:
        keyring.set_keyring(previous)
