"""Remembering a JWT sign-in's device key: private files, its own names, unreadable entries dropped."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from plexpin_widget._jwk import DeviceKey
from plexpin_widget._sources import find_device_key
from plexpin_widget._store import DeviceKeyStore, TokenStore

CLIENT = "client-key-1"
BASE = "http://127.0.0.1:5"

pytestmark = pytest.mark.usefixtures("private_config")


def test_a_device_key_round_trips_through_a_private_file(private_config: Path) -> None:
    key = DeviceKey.generate()
    store = DeviceKeyStore()
    where = store.save(key.to_jwk_bytes().decode("ascii"), CLIENT, BASE)
    assert "private file" in where
    path = store.path_for(CLIENT, BASE)
    assert path.parent == private_config / "device-keys" and path.name.startswith("device-key-")
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = json.loads(path.read_text())
    assert "token" not in saved and "device_key" in saved
    found = find_device_key(client_identifier=CLIENT, base_url=BASE)
    assert found is not None and found.key == key and found.location == "file"
    assert key.to_jwk_bytes().decode() not in repr(found) and "key=" not in repr(found)


def test_key_and_token_entries_do_not_collide() -> None:
    keys, tokens = DeviceKeyStore(), TokenStore()
    assert keys.path_for(CLIENT, BASE) != tokens.path_for(CLIENT, BASE)
    keys.save(DeviceKey.generate().to_jwk_bytes().decode(), CLIENT, BASE)
    assert tokens.load(CLIENT, BASE) is None
    tokens.save("classic-token-123", CLIENT, BASE)
    assert tokens.delete(CLIENT, BASE)
    assert find_device_key(client_identifier=CLIENT, base_url=BASE) is not None


def test_an_unreadable_key_entry_is_deleted() -> None:
    store = DeviceKeyStore()
    store.save("not a key at all", CLIENT, BASE)
    assert find_device_key(client_identifier=CLIENT, base_url=BASE, store=store) is None
    assert not store.path_for(CLIENT, BASE).exists()


def test_repr_names_the_kind_of_store() -> None:
    assert repr(DeviceKeyStore()).startswith("DeviceKeyStore(folder=")
