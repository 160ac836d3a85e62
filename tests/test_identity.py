"""The client identifier is made once, stored, and reused; the identity headers are complete."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from plexpin_widget._errors import ConfigurationError
from plexpin_widget._identity import (
    CLIENT_IDENTIFIER_ENV,
    CONFIG_DIR_ENV,
    ClientIdentity,
    config_dir,
    resolve_client_identifier,
    validate_product,
)
from helpers import IDENTITY_HEADERS



@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv(CONFIG_DIR_ENV, str(folder))
    monkeypatch.delenv(CLIENT_IDENTIFIER_ENV, raising=False)
    return folder


def _stored(folder: Path) -> str:
    return (folder / "client_identifier").read_text(encoding="ascii").strip()


# ----------------------------------------------------------------------------- the identifier


def test_config_dir_honours_env(_isolated_config: Path) -> None:
    assert config_dir() == _isolated_config


def test_made_once_and_reused(_isolated_config: Path) -> None:
    assert not _isolated_config.exists()
    first = resolve_client_identifier()
    assert _stored(_isolated_config) == first
    assert resolve_client_identifier() == first
    assert ClientIdentity.create("x").client_identifier == first


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_stored_file_is_private(_isolated_config: Path) -> None:
    resolve_client_identifier()
    mode = stat.S_IMODE((_isolated_config / "client_identifier").stat().st_mode)
    assert mode & 0o077 == 0
    assert [p.name for p in _isolated_config.iterdir()] == ["client_identifier"]  # no temp left


def test_reused_by_another_process(_isolated_config: Path) -> None:
    mine = resolve_client_identifier()
    code = "from plexpin_widget._identity import resolve_client_identifier as r; print(r())"
    env = {**os.environ, CONFIG_DIR_ENV: str(_isolated_config)}
    env.pop(CLIENT_IDENTIFIER_ENV, None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == mine


def test_made_by_another_process_is_reused_here(_isolated_config: Path) -> None:
    code = "from plexpin_widget._identity import resolve_client_identifier as r; print(r())"
    env = {**os.environ, CONFIG_DIR_ENV: str(_isolated_config)}
    env.pop(CLIENT_IDENTIFIER_ENV, None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    assert resolve_client_identifier() == out.stdout.strip()


def test_racing_threads_agree(_isolated_config: Path) -> None:
    # Many first-time callers at once must all end up with the one stored identifier.
    results: list[str] = []
    barrier = threading.Barrier(8)

    def resolve() -> None:
        barrier.wait()
        results.append(resolve_client_identifier())

    threads = [threading.Thread(target=resolve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert set(results) == {_stored(_isolated_config)}


def test_is_a_uuid4_not_machine_derived(_isolated_config: Path) -> None:
    value = resolve_client_identifier()
    assert uuid.UUID(value).version == 4
    assert value != hex(uuid.getnode())
    assert hex(uuid.getnode())[2:] not in value.replace("-", "")
    assert value != socket.gethostname()


def test_fresh_config_dir_gives_a_new_identifier(
    _isolated_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = resolve_client_identifier()
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path / "other"))
    assert resolve_client_identifier() != first


def test_garbage_file_is_replaced(_isolated_config: Path) -> None:
    _isolated_config.mkdir(parents=True)
    (_isolated_config / "client_identifier").write_text("not an identifier!\n")
    value = resolve_client_identifier()
    assert uuid.UUID(value).version == 4
    assert _stored(_isolated_config) == value


def test_unwritable_config_dir_still_gives_an_identifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(CONFIG_DIR_ENV, str(blocker / "sub"))  # cannot mkdir under a file
    assert uuid.UUID(resolve_client_identifier()).version == 4


def test_argument_wins(_isolated_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CLIENT_IDENTIFIER_ENV, "from-env")
    assert resolve_client_identifier("from-arg") == "from-arg"
    assert not (_isolated_config / "client_identifier").exists()


def test_env_overrides_stored(_isolated_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = resolve_client_identifier()
    monkeypatch.setenv(CLIENT_IDENTIFIER_ENV, "from-env.1")
    assert resolve_client_identifier() == "from-env.1"
    assert ClientIdentity.create("x").client_identifier == "from-env.1"
    assert _stored(_isolated_config) == stored


@pytest.mark.parametrize("bad", ["", "   ", "has space", "a/b", "x" * 129, "new\nline", "é"])
def test_invalid_argument_rejected(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="client_identifier") as info:
        resolve_client_identifier(bad)
    assert info.value.name == "client_identifier"


@pytest.mark.parametrize("bad", ["has space", "a/b", "x" * 129, "é"])
def test_invalid_env_rejected(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CLIENT_IDENTIFIER_ENV, bad)
    with pytest.raises(ConfigurationError, match=CLIENT_IDENTIFIER_ENV) as info:
        resolve_client_identifier()
    assert info.value.name == CLIENT_IDENTIFIER_ENV


def test_identifier_whitespace_is_trimmed() -> None:
    assert resolve_client_identifier("  abc-123  ") == "abc-123"


# ----------------------------------------------------------------------------- product and headers


@pytest.mark.parametrize("bad", ["", "   ", "x" * 1000, "two\nlines", "tab\there", "nul\x00", None, 42])
def test_product_validation(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="product") as info:
        validate_product(bad)
    assert info.value.name == "product"
    with pytest.raises(ConfigurationError, match="product"):
        ClientIdentity.create(bad)  # type: ignore[arg-type]


def test_product_is_trimmed_and_kept() -> None:
    assert validate_product("  My analysis  ") == "My analysis"
    assert validate_product("Café ✓ <b>&") == "Café ✓ <b>&"


def test_headers_carry_the_seven_identity_headers_and_accept_json() -> None:
    identity = ClientIdentity.create("My analysis", client_identifier="cid-1")
    headers = identity.headers()
    assert headers["Accept"] == "application/json"
    assert set(headers) == {"Accept", *IDENTITY_HEADERS}
    assert headers["X-Plex-Client-Identifier"] == "cid-1"
    assert headers["X-Plex-Product"] == "My analysis"
    assert headers["X-Plex-Device-Name"] == "My analysis"
    for name in ("X-Plex-Version", "X-Plex-Platform", "X-Plex-Device"):
        assert headers[name], name
    assert "X-Plex-Token" not in headers


def test_device_name_is_header_safe() -> None:
    identity = ClientIdentity.create("p", client_identifier="c", device_name="line\nbreak" + "y" * 300)
    value = identity.headers()["X-Plex-Device-Name"]
    assert "\n" not in value and len(value) <= 128 and value.startswith("linebreak")


def test_default_identity_uses_stored_identifier(_isolated_config: Path) -> None:
    identity = ClientIdentity.create()
    assert identity.client_identifier == _stored(_isolated_config)
    assert identity.product == "plexpin_widget"
