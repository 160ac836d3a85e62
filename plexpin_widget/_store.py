"""Remembered tokens: "Remember me on this computer", in the OS keyring or a private file.

A token is remembered only when the person asks for it. It is kept under a key made of the
client identifier *and* the base URL, so a token issued by the local emulator is never sent to
plex.tv (and the reverse), and two products with different identifiers do not share one.

Where it goes: the OS keyring when the ``keyring`` package is installed and has a backend that
works (not on most headless servers and containers, where keyring answers with its "fail" or
"null" backend or raises ``NoKeyringError``); otherwise a file readable only by you (mode 0600)
in a folder only you can enter (mode 0700) under :func:`~plexpin_widget._identity.config_dir`,
written atomically. ``PLEXPIN_KEYRING=0`` skips the keyring and always uses the file.

The keyring is only ever opened for someone who asked to be remembered: a token saved there
leaves an empty marker file beside where the file store would keep it, and reading or deleting
asks the keyring only when that marker exists. (Opening a keyring costs most of a second, and
on a desktop it may ask to unlock it; a widget that merely starts must do neither.)

Nothing here logs or raises the token: messages name the store and the file path only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._identity import config_dir

__all__ = ["KEYRING_ENV", "KEYRING_SERVICE", "DeviceKeyStore", "StoredToken", "TokenStore", "entry_name"]

logger = logging.getLogger("plexpin_widget.store")

KEYRING_ENV = "PLEXPIN_KEYRING"
KEYRING_SERVICE = "plexpin_widget"
_TOKENS_FOLDER = "tokens"
_FORMAT = 1
_FILE_DESCRIPTION = "a private file in your plexpin_widget config folder"
_OFF = {"0", "false", "no", "off"}


def entry_name(client_identifier: str, base_url: str) -> str:
    """The name a token is stored under: the client identifier and the base URL together."""
    return f"{client_identifier} {base_url.rstrip('/')}"


@dataclasses.dataclass(frozen=True)
class StoredToken:
    """A remembered token and where it was found (``"keyring"`` or ``"file"``)."""

    token: str = dataclasses.field(repr=False)
    location: str


def _keyring_disabled() -> bool:
    return os.environ.get(KEYRING_ENV, "").strip().lower() in _OFF


def usable_keyring() -> Any | None:
    """The keyring backend to use, or ``None`` when there is no working one.

    ``keyring`` is imported only here, so the package works without it. Its "fail" and "null"
    backends, a chainer with nothing to chain, and any error while choosing a backend (such as
    ``NoKeyringError`` on a headless server) all mean "no keyring".
    """
    if _keyring_disabled():
        return None
    try:
        import keyring
        import keyring.backends.chainer as chainer
        import keyring.backends.fail as fail
        import keyring.backends.null as null

        backend = keyring.get_keyring()
        if isinstance(backend, (fail.Keyring, null.Keyring)):
            return None
        if isinstance(backend, chainer.ChainerBackend) and not list(backend.backends):
            return None
        return backend
    except Exception as exc:  # keyring's own errors and broken third-party backends alike
        logger.debug("plexpin_widget: no usable keyring (%s)", type(exc).__name__)
        return None


def _describe_backend(backend: Any) -> str:
    name = getattr(backend, "name", "") or type(backend).__name__
    return f"the system keyring ({name})"


class TokenStore:
    """Remember, recall and forget a token for one client identifier and base URL.

    ``folder`` is where the file store lives (default ``<config dir>/tokens``). ``use_keyring``
    is ``None`` to decide per call (a usable keyring, unless ``PLEXPIN_KEYRING=0``), or
    ``False`` to always use the file.
    """

    #: Where the file store lives under the config dir, how its files and keyring entries are
    #: named, and the JSON member that holds the secret (:class:`DeviceKeyStore` differs).
    _FOLDER = _TOKENS_FOLDER
    _FILE_PREFIX = "token"
    _ENTRY_SUFFIX = ""
    _SECRET_FIELD = "token"

    def __init__(self, folder: Path | str | None = None, *, use_keyring: bool | None = None) -> None:
        self._folder = Path(folder) if folder is not None else None
        self._use_keyring = use_keyring

    # ----------------------------------------------------------------- where

    @property
    def folder(self) -> Path:
        """The private folder of the file store."""
        return self._folder if self._folder is not None else config_dir() / self._FOLDER

    def path_for(self, client_identifier: str, base_url: str) -> Path:
        """The file a token for this identifier and base URL is kept in (when not in a keyring)."""
        digest = hashlib.sha256(self._entry(client_identifier, base_url).encode("utf-8")).hexdigest()
        return self.folder / f"{self._FILE_PREFIX}-{digest[:32]}.json"

    def _entry(self, client_identifier: str, base_url: str) -> str:
        return entry_name(client_identifier, base_url) + self._ENTRY_SUFFIX

    def marker_for(self, client_identifier: str, base_url: str) -> Path:
        """The empty file that says "this entry is in the keyring" (it holds no secret)."""
        return self.path_for(client_identifier, base_url).with_suffix(".keyring")

    def _keyring(self) -> Any | None:
        if self._use_keyring is False:
            return None
        return usable_keyring()

    def describe(self) -> str:
        """Where :meth:`save` would put a token right now, in words (no path: this text may be
        shown in a notebook, and a home folder's path names its owner)."""
        backend = self._keyring()
        if backend is not None:
            return _describe_backend(backend)
        return _FILE_DESCRIPTION

    # ----------------------------------------------------------------- operations

    def load(self, client_identifier: str, base_url: str) -> StoredToken | None:
        """The remembered token, or ``None``. Never raises: an unreadable store means "none"."""
        name = self._entry(client_identifier, base_url)
        marked = self.marker_for(client_identifier, base_url).exists()
        backend = self._keyring() if marked else None
        if backend is not None:
            try:
                token = backend.get_password(KEYRING_SERVICE, name)
            except Exception as exc:
                logger.debug("plexpin_widget: keyring read failed (%s)", type(exc).__name__)
                token = None
            if isinstance(token, str) and token.strip():
                return StoredToken(token.strip(), "keyring")
        token = self._read_file(client_identifier, base_url)
        return StoredToken(token, "file") if token else None

    def save(self, token: str, client_identifier: str, base_url: str) -> str:
        """Remember ``token``; returns where it went, in words (for a status message; see
        :meth:`describe`).

        The keyring is tried first; if it fails, the private file is used. Raises
        :class:`OSError` only when the file cannot be written either.
        """
        if not isinstance(token, str) or not token.strip():
            raise ValueError("token: must be a non-empty string")
        name = self._entry(client_identifier, base_url)
        backend = self._keyring()
        if backend is not None:
            try:
                backend.set_password(KEYRING_SERVICE, name, token)
            except Exception as exc:
                logger.info("plexpin_widget: keyring write failed (%s); using a private file",
                            type(exc).__name__)
            else:
                # A copy left in a file from a keyring-less day would otherwise outlive this one.
                self._remove_file(client_identifier, base_url)
                self._write_marker(client_identifier, base_url)
                return _describe_backend(backend)
        self._write_file(token, client_identifier, base_url)
        return _FILE_DESCRIPTION

    def delete(self, client_identifier: str, base_url: str) -> bool:
        """Forget the token in every place it may be; True if something was deleted."""
        deleted = False
        marker = self.marker_for(client_identifier, base_url)
        backend = self._keyring() if marker.exists() else None
        if backend is not None:
            name = self._entry(client_identifier, base_url)
            try:
                if backend.get_password(KEYRING_SERVICE, name) is not None:
                    backend.delete_password(KEYRING_SERVICE, name)
                    deleted = True
            except Exception as exc:
                logger.info("plexpin_widget: keyring delete failed (%s)", type(exc).__name__)
        try:
            marker.unlink()
        except OSError:
            pass
        return self._remove_file(client_identifier, base_url) or deleted

    # ----------------------------------------------------------------- the file store

    def _ensure_folder(self) -> Path:
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if sys.platform != "win32":
            # mkdir's mode is filtered by the umask and ignored for an existing folder.
            mode = stat.S_IMODE(folder.stat().st_mode)
            if mode != 0o700:
                os.chmod(folder, 0o700)
        return folder

    def _write_file(self, token: str, client_identifier: str, base_url: str) -> None:
        folder = self._ensure_folder()
        path = self.path_for(client_identifier, base_url)
        payload = json.dumps(
            {
                "format": _FORMAT,
                "client_identifier": client_identifier,
                "base_url": base_url.rstrip("/"),
                "saved_at": int(time.time()),
                self._SECRET_FIELD: token,
            }
        ).encode("utf-8")
        # mkstemp creates the file with mode 0600; os.replace makes the write all-or-nothing.
        fd, tmp_name = tempfile.mkstemp(prefix=".token-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            if sys.platform != "win32":
                os.chmod(tmp_name, 0o600)
            os.replace(tmp_name, path)
        except BaseException:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
            raise

    def _write_marker(self, client_identifier: str, base_url: str) -> None:
        try:
            self._ensure_folder()
            self.marker_for(client_identifier, base_url).touch(mode=0o600)
        except OSError as exc:
            # Without the marker the keyring entry is not found again; say so, do not fail.
            logger.warning("plexpin_widget: could not note the keyring entry (%s)", type(exc).__name__)

    def _read_file(self, client_identifier: str, base_url: str) -> str | None:
        path = self.path_for(client_identifier, base_url)
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.info("plexpin_widget: ignoring unreadable %s (%s)", path, type(exc).__name__)
            return None
        if (
            not isinstance(data, dict)
            or data.get("client_identifier") != client_identifier
            or data.get("base_url") != base_url.rstrip("/")
        ):
            return None
        token = data.get(self._SECRET_FIELD)
        if not isinstance(token, str) or not token.strip():
            return None
        if sys.platform != "win32":
            try:
                if stat.S_IMODE(path.stat().st_mode) & 0o077:
                    # Someone loosened it; tighten it again rather than keep a readable secret.
                    os.chmod(path, 0o600)
            except OSError:
                pass
        return token.strip()

    def _remove_file(self, client_identifier: str, base_url: str) -> bool:
        try:
            self.path_for(client_identifier, base_url).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            logger.info("plexpin_widget: could not delete a remembered token (%s)", type(exc).__name__)
            return False
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}(folder={str(self.folder)!r})"


class DeviceKeyStore(TokenStore):
    """Remember a JWT sign-in's device key (never a JWT): the same keyring-or-0600-file rules
    as :class:`TokenStore`, under names of its own (``<config dir>/device-keys``).

    What is kept is the serialized private key (a private JWK with its ``kid``); a later
    process signs in with it by refreshing, with no code.
    """

    _FOLDER = "device-keys"
    _FILE_PREFIX = "device-key"
    _ENTRY_SUFFIX = " device-key"
    _SECRET_FIELD = "device_key"
