"""Where a token can come from before any code is asked for, and in which order.

1. the ``token=`` argument;
2. the ``PLEX_TOKEN`` environment variable;
3. in Google Colab only, the Colab secret ``PLEX_TOKEN`` (read once per process);
4. a token remembered on this computer (see :mod:`plexpin_widget._store`).

The first one found is used; the login then checks it with ``GET /api/v2/user``. A token that
plex.tv rejects is dropped (and deleted, if it was the remembered one) and a code is asked for.

A JWT sign-in (``jwt=True``) remembers a device key instead of a token:
:func:`find_device_key` reads it back, and the login signs in by refreshing with it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
from typing import Literal

from typing import TYPE_CHECKING

from ._errors import ConfigurationError
from ._store import DeviceKeyStore, TokenStore

if TYPE_CHECKING:
    from ._jwk import DeviceKey

__all__ = [
    "TOKEN_ENV",
    "FoundKey",
    "FoundToken",
    "check_token_text",
    "colab_secret",
    "find_device_key",
    "find_token",
    "forget_rejected",
]

logger = logging.getLogger("plexpin_widget.sources")

TOKEN_ENV = "PLEX_TOKEN"
Source = Literal["argument", "environment", "colab", "remembered"]

_DESCRIPTIONS: dict[str, str] = {
    "argument": "the token= argument",
    "environment": f"the {TOKEN_ENV} environment variable",
    "colab": f"the Colab secret {TOKEN_ENV}",
    "remembered": "the token remembered on this computer",
}


@dataclasses.dataclass(frozen=True)
class FoundToken:
    """A token and the place it came from. The token is kept out of ``repr``."""

    token: str = dataclasses.field(repr=False)
    source: Source
    #: For a remembered token: ``"keyring"`` or ``"file"``.
    location: str = ""

    @property
    def description(self) -> str:
        """Where the token came from, in words."""
        return _DESCRIPTIONS[self.source]


def check_token_text(value: object, name: str) -> str:
    """``value`` as a token, or :class:`ConfigurationError` naming ``name`` (never showing it)."""
    if not isinstance(value, str):
        raise ConfigurationError(name, f"must be a string, not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ConfigurationError(name, "must not be empty")
    if any(ord(ch) < 33 or ord(ch) > 126 for ch in text):
        raise ConfigurationError(name, "contains spaces or characters a Plex token never has")
    return text


# --------------------------------------------------------------------------- Colab secrets

_UNREAD = object()
_colab_lock = threading.Lock()
_colab_value: object = _UNREAD


def colab_secret() -> str | None:
    """The Colab secret ``PLEX_TOKEN``, or ``None`` outside Colab or when it cannot be read.

    ``google.colab.userdata`` is not thread-safe (it can deadlock, huggingface_hub#1952), and
    asking may show the person a consent dialog: so it is asked once per process, from the main
    thread only, and any error (``SecretNotFoundError``, ``NotebookAccessError``, others) means
    "no secret".
    """
    global _colab_value
    if "google.colab" not in sys.modules:
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    with _colab_lock:
        if _colab_value is _UNREAD:
            value: object = None
            try:
                from google.colab import userdata  # type: ignore[import-not-found]

                value = userdata.get(TOKEN_ENV)
            except Exception as exc:
                logger.debug("plexpin_widget: no Colab secret %s (%s)", TOKEN_ENV, type(exc).__name__)
                value = None
            _colab_value = value.strip() if isinstance(value, str) and value.strip() else None
        return _colab_value  # type: ignore[return-value]


def _forget_colab_answer() -> None:
    """Ask Colab again next time (for tests)."""
    global _colab_value
    with _colab_lock:
        _colab_value = _UNREAD


# --------------------------------------------------------------------------- the search


def find_token(
    explicit: str | None = None,
    *,
    client_identifier: str,
    base_url: str,
    store: TokenStore | None = None,
    use_environment: bool = True,
    use_remembered: bool = True,
) -> FoundToken | None:
    """The first token available, in the order described in the module docstring.

    An ``explicit`` token or a ``PLEX_TOKEN`` that cannot be a token (spaces, control
    characters) is a :class:`ConfigurationError`; a bad Colab secret or remembered entry is
    skipped.
    """
    if explicit is not None:
        return FoundToken(check_token_text(explicit, "token"), "argument")
    if use_environment:
        from_env = os.environ.get(TOKEN_ENV)
        if from_env is not None and from_env.strip():
            return FoundToken(check_token_text(from_env, TOKEN_ENV), "environment")
        secret = colab_secret()
        if secret is not None:
            try:
                return FoundToken(check_token_text(secret, f"Colab secret {TOKEN_ENV}"), "colab")
            except ConfigurationError as exc:
                logger.warning("plexpin_widget: ignoring the Colab secret: %s", exc)
    if use_remembered:
        stored = (store or TokenStore()).load(client_identifier, base_url)
        if stored is not None:
            try:
                return FoundToken(check_token_text(stored.token, "remembered token"), "remembered", stored.location)
            except ConfigurationError:
                logger.warning("plexpin_widget: deleting a remembered token that cannot be a token")
                (store or TokenStore()).delete(client_identifier, base_url)
    return None


def forget_rejected(
    found: FoundToken | None,
    *,
    client_identifier: str,
    base_url: str,
    store: TokenStore | None = None,
) -> bool:
    """plex.tv rejected ``found``: delete the remembered copy if it is that token.

    Returns True if a remembered token was deleted. A token from the argument, the environment
    or Colab is left alone there (we cannot change those), but an identical remembered copy
    goes too.
    """
    if found is None:
        return False
    store = store or TokenStore()
    if found.source != "remembered":
        stored = store.load(client_identifier, base_url)
        if stored is None or stored.token != found.token:
            return False
    return store.delete(client_identifier, base_url)


# --------------------------------------------------------------------------- device keys


@dataclasses.dataclass(frozen=True)
class FoundKey:
    """A remembered device key and where it was found (``"keyring"`` or ``"file"``)."""

    key: DeviceKey = dataclasses.field(repr=False)
    location: str

    description = "the device key remembered on this computer"


def find_device_key(
    *, client_identifier: str, base_url: str, store: DeviceKeyStore | None = None
) -> FoundKey | None:
    """The device key remembered for this identifier and base URL, or ``None``.

    An entry that is not a readable Ed25519 key is deleted (it can never sign in)."""
    from ._jwk import DeviceKey

    store = store or DeviceKeyStore()
    stored = store.load(client_identifier, base_url)
    if stored is None:
        return None
    try:
        return FoundKey(DeviceKey.load(stored.token), stored.location)
    except ConfigurationError:
        logger.warning("plexpin_widget: deleting a remembered device key that cannot be read")
        store.delete(client_identifier, base_url)
        return None
