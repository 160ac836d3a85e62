"""``plexpin login`` and ``plexpin logout``: the PIN login in a terminal.

The login runs on :class:`~plexpin_widget._session.LoginSession` in blocking mode; its
``on_change`` callback, a :class:`~plexpin_widget._terminal.TerminalProgress`, draws the code,
the link, a QR code and a countdown on stderr. Only the token (with ``--print-token``) ever goes
to stdout. ``--jwt`` uses Plex's JWT sign-in; with
``--remember`` it keeps the device key, never the token. ``plexpin logout`` revokes what was
remembered at plex.tv before deleting it.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ._errors import (
    LoginCancelledError,
    LoginFailedError,
    PinExpiredError,
    PlexPinError,
    PlexTvUnreachableError,
)
from ._exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_NETWORK, EXIT_OK
from ._identity import ClientIdentity
from ._session import LoginSession
from ._sources import FoundKey, FoundToken, find_device_key, find_token, forget_rejected
from ._store import DeviceKeyStore, TokenStore
from ._terminal import TerminalProgress, describe, network_trouble, printable
from ._urls import resolve_base_url

__all__ = ["OFFLINE_GIVE_UP", "UNREACHABLE_GIVE_UP", "run_login", "run_logout"]

#: Give up (exit 3) when plex.tv has not answered at all within this many seconds: a person
#: with no network learns it at once. Decided by the flow; once a code is shown it keeps trying.
UNREACHABLE_GIVE_UP = 15.0
#: Without --timeout, give up after this many seconds of plex.tv answering but not giving a
#: code (5xx, 429...).
OFFLINE_GIVE_UP = 60.0
#: Without a terminal, one countdown line every this many seconds.
_LINE_EVERY = 10.0


def _store_token(store: TokenStore, token: str, identity: ClientIdentity, base_url: str, err: TextIO) -> None:
    try:
        where = store.save(token, identity.client_identifier, base_url)
    except OSError as exc:
        err.write(f"Could not remember the sign-in on this computer ({type(exc).__name__}).\n")
        return
    if "keyring" not in where:
        where = f"a private file in {store.folder}"  # a terminal may show the path; a notebook not
    err.write(f"Remembered on this computer, in {where}. `plexpin logout` forgets it.\n")


def run_login(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Carry out ``plexpin login``; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    identity = ClientIdentity.create(product=args.product, client_identifier=args.client_identifier)
    base_url = resolve_base_url(args.base_url)
    jwt = bool(getattr(args, "jwt", False))
    if jwt:
        from ._jwk import require_jwt

        require_jwt()  # a usage error naming the extra, before anything is asked of plex.tv
    store = TokenStore()
    key_store = DeviceKeyStore()
    found: FoundToken | None = None
    found_key: FoundKey | None = None
    if jwt and not args.fresh:
        found_key = find_device_key(client_identifier=identity.client_identifier, base_url=base_url, store=key_store)
    elif not args.fresh:
        found = find_token(client_identifier=identity.client_identifier, base_url=base_url, store=store)
    request_timeout = 10.0 if args.timeout is None else min(10.0, args.timeout)
    progress = TerminalProgress(
        err, product=identity.product, strong=args.strong,
        give_up_after=OFFLINE_GIVE_UP if args.timeout is None else None, countdown_every=_LINE_EVERY,
    )
    session = LoginSession(
        identity, base_url=base_url, strong=args.strong, request_timeout=request_timeout, on_change=progress,
        give_up_unreachable_after=UNREACHABLE_GIVE_UP,
        jwt=jwt,
    )
    progress.session = session
    if found is not None:
        err.write(f"Checking {found.description}…\n")
    if found_key is not None:
        assert session.device is not None
        session.device.use_key(found_key.key)
        err.write(f"Signing in with {found_key.description}…\n")

    def key_rejected() -> None:
        if key_store.delete(identity.client_identifier, base_url):
            err.write("Deleted the device key remembered on this computer.\n")

    progress.on_key_rejected = key_rejected
    try:
        session.start(token=found.token if found else None, by_key=found_key is not None)
        token = session.wait(args.timeout)
    except KeyboardInterrupt:
        progress.finish()
        err.write("Cancelled.\n")
        return EXIT_INTERRUPTED
    except TimeoutError:
        progress.finish()
        if network_trouble(session.flow):
            err.write(f"Gave up after {args.timeout:g} s: cannot reach {base_url} "
                      f"({describe(session.flow.error)}).\n")
            return EXIT_NETWORK
        err.write(f"Gave up after {args.timeout:g} s without an approval.\n")
        return EXIT_FAILED
    except PinExpiredError:
        progress.finish()
        err.write("The code expired before it was approved. Run `plexpin login` again for a new one.\n")
        return EXIT_FAILED
    except LoginCancelledError:
        progress.finish()
        if progress.gave_up_offline:
            err.write(f"Gave up: cannot reach {base_url} ({describe(session.flow.error)}).\n")
            return EXIT_NETWORK
        err.write("Sign-in cancelled.\n")
        return EXIT_FAILED
    except LoginFailedError as exc:
        progress.finish()
        cause = exc.__cause__
        if isinstance(cause, PlexTvUnreachableError):
            err.write(f"Gave up: cannot reach {base_url}; no answer in {cause.waited:.0f} s "
                      f"({describe(cause.last_error)}). Check the network connection and try again.\n")
            return EXIT_NETWORK
        err.write(f"Sign-in failed: {describe(cause)}\n")
        if isinstance(cause, PlexPinError) and cause.retryable:
            return EXIT_NETWORK
        return EXIT_FAILED
    finally:
        session.close()
    progress.finish()
    flow = session.flow
    if flow.token_rejected and found is not None:
        deleted = forget_rejected(found, client_identifier=identity.client_identifier, base_url=base_url, store=store)
        err.write(f"plex.tv did not accept {found.description}"
                  f"{' (deleted it)' if deleted else ''}; signed in with a code instead.\n")
    who = flow.user.display_name if flow.user is not None else None
    if who is not None:
        err.write(f"Signed in as {printable(who)}.\n")
    else:
        err.write(f"Signed in, but the account could not be verified yet ({describe(flow.error)}).\n")
    if jwt:
        if args.remember:
            _store_device_key(key_store, session, identity, base_url, err, found_key)
        if flow.token_expires_at is not None:
            err.write(f"The Plex JWT expires at {flow.token_expires_at:%Y-%m-%d %H:%M} UTC; "
                      "`plexpin login --jwt` again renews it.\n")
        if args.print_token:
            out.write(token + "\n")
            out.flush()
        return EXIT_OK
    used_stored = found is not None and found.source == "remembered" and token == found.token
    from_pin = flow.pin is not None and flow.pin.auth_token == token
    if args.remember and not used_stored:
        if flow.verified or from_pin:
            _store_token(store, token, identity, base_url, err)
        else:
            err.write("Not remembered: plex.tv has not confirmed the token yet.\n")
    if args.print_token:
        out.write(token + "\n")
        out.flush()
    return EXIT_OK


def _store_device_key(
    store: DeviceKeyStore, session: LoginSession, identity: ClientIdentity, base_url: str, err: TextIO,
    found_key: FoundKey | None,
) -> None:
    device = session.device
    assert device is not None
    key = device.key
    if found_key is not None and found_key.key == key:
        return  # signed in with it: it is remembered already
    try:
        where = store.save(key.to_jwk_bytes().decode("ascii"), identity.client_identifier, base_url)
    except OSError as exc:
        err.write(f"Could not remember the device key on this computer ({type(exc).__name__}).\n")
        return
    if "keyring" not in where:
        where = f"a private file in {store.folder}"
    err.write(f"Remembered the device key (not the token) on this computer, in {where}. "
              "`plexpin logout` forgets it.\n")


def _revoke(token: str, identity: ClientIdentity, base_url: str) -> str | None:
    """``None`` once plex.tv revoked ``token``; otherwise why not (the error's name)."""
    from ._account import revoke_token

    try:
        revoke_token(token, identity=identity, base_url=base_url)
    except PlexPinError as exc:
        return type(exc).__name__
    return None


def _token_for_key(found: FoundKey, identity: ClientIdentity, base_url: str) -> str:
    """A current Plex JWT for a remembered device key (to revoke it)."""
    from ._client import PlexTvClient
    from ._device_auth import DeviceAuth, run_steps

    device = DeviceAuth(identity.client_identifier, base_url)
    device.use_key(found.key)
    with PlexTvClient(identity, base_url=base_url) as client:
        token = run_steps(device.refresh(), client).token
    device.forget()
    return token


def run_logout(args: argparse.Namespace, *, err: TextIO | None = None) -> int:
    """Carry out ``plexpin logout``: revoke the remembered sign-in at plex.tv (a token, or a
    JWT fetched with the remembered device key), then delete it, even if plex.tv cannot be
    reached."""
    err = err or sys.stderr
    identity = ClientIdentity.create(client_identifier=args.client_identifier)
    base_url = resolve_base_url(args.base_url)
    tokens, keys = TokenStore(), DeviceKeyStore()
    forgot = False
    stored = tokens.load(identity.client_identifier, base_url)
    if stored is not None:
        failure = _revoke(stored.token, identity, base_url)
        _say_revoked(err, "token", failure)
    if tokens.delete(identity.client_identifier, base_url):
        forgot = True
    found_key: FoundKey | None = None
    try:
        found_key = find_device_key(client_identifier=identity.client_identifier, base_url=base_url, store=keys)
    except PlexPinError:  # no PyJWT: the key cannot sign, but it is still deleted below
        found_key = None
    if found_key is not None:
        try:
            failure = _revoke(_token_for_key(found_key, identity, base_url), identity, base_url)
        except PlexPinError as exc:
            failure = type(exc).__name__
        _say_revoked(err, "device's sign-in", failure)
    if keys.delete(identity.client_identifier, base_url):
        forgot = True
    if forgot:
        err.write(f"Forgot the sign-in remembered on this computer for {base_url}.\n")
    else:
        err.write(f"No sign-in was remembered on this computer for {base_url}.\n")
    return EXIT_OK


def _say_revoked(err: TextIO, what: str, failure: str | None) -> None:
    if failure is None:
        err.write(f"plex.tv revoked the remembered {what}.\n")
    else:
        err.write(f"Could not revoke the remembered {what} at plex.tv ({failure}); it was NOT revoked "
                  "and stays valid there until it expires or you remove the device under Authorized Devices.\n")
