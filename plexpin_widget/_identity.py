"""Who we say we are to plex.tv: the stable client identifier and the ``X-Plex-*`` headers.

plex.tv binds a pin, and the token it yields, to the client identifier that created it. An
identifier that drifts between processes (one derived from a MAC address inside a container,
say) makes every later check answer 404 and the login never completes. So the identifier is a
random uuid4, made once, stored in the user's config directory and reused by every process.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import uuid
from pathlib import Path

import platformdirs

from ._errors import ConfigurationError
from ._version import __version__

__all__ = [
    "CLIENT_IDENTIFIER_ENV",
    "CONFIG_DIR_ENV",
    "ClientIdentity",
    "config_dir",
    "resolve_client_identifier",
    "validate_product",
]

CLIENT_IDENTIFIER_ENV = "PLEXPIN_CLIENT_IDENTIFIER"
CONFIG_DIR_ENV = "PLEXPIN_CONFIG_DIR"
DEFAULT_PRODUCT = "plexpin_widget"
MAX_HEADER_VALUE = 128
_IDENTIFIER_FILE = "client_identifier"
_IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def config_dir() -> Path:
    """The folder for the client identifier and remembered tokens.

    ``PLEXPIN_CONFIG_DIR`` overrides the platform default (``~/.config/plexpin_widget`` on Linux).
    """
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("plexpin_widget", appauthor=False))


def _check_identifier(name: str, value: str) -> str:
    value = value.strip()
    if not _IDENTIFIER_PATTERN.match(value):
        raise ConfigurationError(
            name,
            "a client identifier must be 1 to 128 characters of letters, digits and . _ : -",
        )
    return value


def resolve_client_identifier(explicit: str | None = None) -> str:
    """The client identifier to use, in order: ``explicit``, ``$PLEXPIN_CLIENT_IDENTIFIER``, the stored one.

    When none exists yet, a uuid4 is made and stored so that every later process reuses it.
    Creation is atomic, so two processes starting at once agree on one identifier.
    """
    if explicit is not None:
        return _check_identifier("client_identifier", explicit)
    from_env = os.environ.get(CLIENT_IDENTIFIER_ENV)
    if from_env:
        return _check_identifier(CLIENT_IDENTIFIER_ENV, from_env)
    folder = config_dir()
    path = folder / _IDENTIFIER_FILE
    return _read_identifier(path) or _publish_identifier(folder, path, str(uuid.uuid4()))


def _read_identifier(path: Path) -> str:
    try:
        stored = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return stored if _IDENTIFIER_PATTERN.match(stored) else ""


def _publish_identifier(folder: Path, path: Path, fresh: str) -> str:
    """Store ``fresh`` unless another process got there first; return whichever is stored.

    The identifier is written in full to a private temporary file and then hard-linked into
    place: ``link`` fails if the name exists, so a reader never sees a half-written file and two
    racing processes (or threads) always agree on one winner.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = folder / f".{_IDENTIFIER_FILE}.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        # A read-only home: the identifier still works for this process, it just will not persist.
        return fresh
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(fresh + "\n")
        try:
            os.link(tmp, path)
            return fresh
        except FileExistsError:
            stored = _read_identifier(path)
            if stored:
                return stored
            # The existing file is unreadable or garbage: replace it atomically.
            os.replace(tmp, path)
            return _read_identifier(path) or fresh
        except OSError:
            # No hard links on this file system: fall back to an atomic rename, which can
            # only lose a race that happens within the same instant.
            if _read_identifier(path):
                return _read_identifier(path)
            os.replace(tmp, path)
            return _read_identifier(path) or fresh
    except OSError:
        return fresh
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass


def validate_product(product: object, name: str = "product") -> str:
    """A product name fit for a header and for the Authorized Devices list on plex.tv."""
    if not isinstance(product, str):
        raise ConfigurationError(name, f"must be a string, not {type(product).__name__}")
    cleaned = product.strip()
    if not cleaned:
        raise ConfigurationError(name, "must not be empty")
    if len(cleaned) > MAX_HEADER_VALUE:
        raise ConfigurationError(
            name, f"is {len(cleaned)} characters long; at most {MAX_HEADER_VALUE} are allowed"
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in cleaned):
        raise ConfigurationError(name, "must not contain control characters such as newlines")
    return cleaned


def _header_safe(value: str) -> str:
    cleaned = "".join(ch for ch in value if 32 <= ord(ch) != 127)
    return cleaned[:MAX_HEADER_VALUE]


@dataclasses.dataclass(frozen=True)
class ClientIdentity:
    """The values of the ``X-Plex-*`` identity headers, built in this one place.

    ``product`` is what the person sees in plex.tv's list of authorized devices.
    """

    client_identifier: str
    product: str = DEFAULT_PRODUCT
    version: str = __version__
    platform: str = dataclasses.field(default_factory=lambda: platform.system() or "Python")
    platform_version: str = dataclasses.field(default_factory=lambda: platform.release() or "")
    device: str = "Jupyter"
    device_name: str = "plexpin_widget"

    @classmethod
    def create(
        cls,
        product: str = DEFAULT_PRODUCT,
        client_identifier: str | None = None,
        *,
        device_name: str | None = None,
    ) -> ClientIdentity:
        """Validate ``product`` and resolve the client identifier (see :func:`resolve_client_identifier`)."""
        return cls(
            client_identifier=resolve_client_identifier(client_identifier),
            product=validate_product(product),
            device_name=_header_safe(device_name) if device_name else f"{validate_product(product)}",
        )

    def headers(self) -> dict[str, str]:
        """Every identity header plus ``Accept: application/json``."""
        values = {
            "Accept": "application/json",
            "X-Plex-Client-Identifier": self.client_identifier,
            "X-Plex-Product": self.product,
            "X-Plex-Version": self.version,
            "X-Plex-Platform": self.platform,
            "X-Plex-Platform-Version": self.platform_version,
            "X-Plex-Device": self.device,
            "X-Plex-Device-Name": self.device_name,
        }
        return {key: _header_safe(value) for key, value in values.items()}
