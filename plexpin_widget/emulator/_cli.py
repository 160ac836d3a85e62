"""``python -m plexpin_widget.emulator``: serve the plex.tv emulator and the demo account's media
server stand-in on loopback until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from ._app import PlexTvEmulator
from ._server import EmulatorServer
from .pms import PlexMediaServerEmulator

__all__ = ["build_parser", "main"]


def _rate_limit(text: str) -> tuple[int, float]:
    count, sep, seconds = text.partition("/")
    try:
        parsed = (int(count), float(seconds) if sep else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N/SECONDS such as 10/1, not {text!r}") from None
    if parsed[0] < 1 or not parsed[1] > 0:
        raise argparse.ArgumentTypeError("N must be >= 1 and SECONDS > 0")
    return parsed


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("seconds must not be negative")
    return value


def _lifetime(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole seconds, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("a lifetime must be at least 1 second")
    return value


def _loopback(host: str) -> str:
    """Where the media server listens: the emulator's own address if that is loopback, else 127.0.0.1."""
    return host if host in ("127.0.0.1", "::1", "localhost") else "127.0.0.1"


def build_parser(prog: str = "python -m plexpin_widget.emulator") -> argparse.ArgumentParser:
    """The emulator's command-line options (reused by ``plexpin emulator``)."""
    parser = argparse.ArgumentParser(prog=prog, description="Serve a local plex.tv stand-in for PIN logins.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    parser.add_argument(
        "--auto-claim", type=_seconds, default=None, metavar="SECONDS",
        help="approve every new pin this many seconds after it is created",
    )
    parser.add_argument("--username", default="demo", help="username of the demo account (default demo)")
    parser.add_argument("--short-lifetime", type=_lifetime, default=900, metavar="S", help="4-character pin lifetime")
    parser.add_argument("--strong-lifetime", type=_lifetime, default=1800, metavar="S", help="strong pin lifetime")
    parser.add_argument(
        "--rate-limit", type=_rate_limit, default=None, metavar="N/S",
        help="answer 429 when one client identifier sends more than N requests in S seconds",
    )
    parser.add_argument("--public-url", default=None, help="base URL put in each pin's qr link")
    parser.add_argument(
        "--jwt-lifetime", type=_lifetime, default=7 * 86_400, metavar="S",
        help="lifetime of the Plex JWTs it issues (default 604800, 7 days)",
    )
    parser.add_argument(
        "--pms-accept-jwt", action="store_true",
        help="let the media server stand-in accept Plex JWTs (by default it answers them 401, as real servers did)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGINT or SIGTERM; returns the exit status (0 on a clean stop)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    emulator = PlexTvEmulator(
        short_lifetime=args.short_lifetime,
        strong_lifetime=args.strong_lifetime,
        rate_limit=args.rate_limit,
        public_url=args.public_url,
        username=args.username,
        jwt_lifetime=args.jwt_lifetime,
    )
    if args.auto_claim is not None:
        emulator.auto_claim(args.auto_claim)
    server = EmulatorServer(emulator, host=args.host, port=args.port)
    try:
        server.start()
    except OSError as exc:
        sys.stderr.write(f"plex.tv emulator: cannot listen on {args.host}:{args.port}: {exc}\n")
        return 1
    # The demo account's "Demo Server": a media server stand-in on loopback, on a port of its own.
    media_server = PlexMediaServerEmulator(emulator, accept_jwt=args.pms_accept_jwt).server(_loopback(args.host))
    try:
        media_server.start()
    except OSError as exc:
        server.stop()
        sys.stderr.write(f"media server stand-in: cannot listen on loopback: {exc}\n")
        return 1

    stop = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        print(f"plex.tv emulator listening on {server.url}", flush=True)
        print(f"Plex Media Server stand-in ({media_server.emulator.name!r}) listening on {media_server.url}", flush=True)
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        media_server.stop()
        server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
