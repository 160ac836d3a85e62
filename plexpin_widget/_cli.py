"""The ``plexpin`` command: ``login``, ``logout``, ``emulator`` and ``demo``.

This file parses arguments and dispatches; the work is in ``_cli_login.py`` and ``_demo.py``.
Like the widget, the command sits on the drivers and never imports the widget.

Exit codes (``_exit_codes.py``): 0 done; 1 not signed in (code expired, cancelled, refused);
2 usage error; 3 plex.tv could not be reached; 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from collections.abc import Sequence

from ._errors import ConfigurationError
from ._exit_codes import EXIT_INTERRUPTED, EXIT_USAGE
from ._identity import DEFAULT_PRODUCT

__all__ = ["build_parser", "main"]

# ConfigurationError names the argument in the library's terms; say it in the command's.
_FLAGS = {
    "product": "--product",
    "client_identifier": "--client-identifier",
    "base_url": "--base-url",
    "timeout": "--timeout",
    "port": "--port",
    "jwt": "--jwt",
}


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, not {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 0 and 65535, not {value}")
    return value


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url", default=None,
        help="plex.tv base URL (default: $PLEXPIN_BASE_URL or https://plex.tv; http only for loopback)",
    )
    parser.add_argument(
        "--client-identifier", default=None,
        help="client identifier (default: $PLEXPIN_CLIENT_IDENTIFIER or the one stored in your config dir)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``plexpin``."""
    parser = argparse.ArgumentParser(prog="plexpin", description="Sign in to Plex with a link code.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    login = commands.add_parser(
        "login", help="sign in with a code shown in the terminal",
        description="Sign in to Plex: shows a code, a link and a QR code, and waits for approval. "
        "Messages go to stderr; with --print-token the token alone goes to stdout, so "
        "`export PLEX_TOKEN=$(plexpin login --print-token)` works.",
    )
    login.add_argument("--print-token", action="store_true", help="write the token (only) to stdout")
    login.add_argument("--remember", action="store_true", help="remember the sign-in on this computer")
    login.add_argument("--strong", action="store_true", help="use a long code carried in the link")
    login.add_argument(
        "--jwt", action="store_true",
        help="use Plex's JWT sign-in: a device key, and a 7-day Plex JWT as the token (needs "
        "plexpin-widget[jwt]); with --remember the device key is kept, never the token",
    )
    login.add_argument("--product", default=DEFAULT_PRODUCT, help="name shown among your authorized devices")
    login.add_argument(
        "--timeout", type=_positive_seconds, default=None, metavar="SECONDS",
        help="give up after this many seconds (default: when the code expires)",
    )
    login.add_argument(
        "--fresh", action="store_true",
        help="ignore $PLEX_TOKEN and any remembered sign-in; always ask for a new code",
    )
    _add_target(login)

    logout = commands.add_parser(
        "logout", help="revoke the remembered sign-in at plex.tv and forget it on this computer",
    )
    _add_target(logout)

    commands.add_parser(
        "emulator", help="serve the local plex.tv stand-in (options: plexpin emulator --help)",
        add_help=False,
    )

    demo = commands.add_parser(
        "demo", help="JupyterLab with the quickstart notebook, signed in against the emulator",
        description="Start the plex.tv emulator and JupyterLab on 127.0.0.1 and open the quickstart "
        "notebook. Ctrl-C stops both.",
    )
    demo.add_argument("--real", action="store_true", help="use the real plex.tv instead of the emulator")
    demo.add_argument("--port", type=_port, default=0, help="JupyterLab port (default: any free port)")
    demo.add_argument("--emulator-port", type=_port, default=0, help="emulator port (default: any free port)")
    demo.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    demo.add_argument(
        "--auto-claim", type=float, default=None, metavar="SECONDS",
        help="have the emulator approve each code by itself after SECONDS",
    )
    return parser


def _usage_error(parser: argparse.ArgumentParser, command: str, exc: ConfigurationError) -> int:
    message = str(exc)
    prefix = f"{exc.name}: "
    if message.startswith(prefix):
        message = message[len(prefix):]
    # An option gets argparse's wording; an environment variable (PLEXPIN_BASE_URL...) its name.
    where = f"argument {_FLAGS[exc.name]}" if exc.name in _FLAGS else exc.name
    subparser = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    subparser.print_usage(sys.stderr)
    sys.stderr.write(f"plexpin {command}: error: {where}: {message}\n")
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``plexpin`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["emulator"]:
        # Every option belongs to the emulator's own parser.
        from .emulator import main as emulator_main

        return emulator_main(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C must stop us even when started from a shell that ignores SIGINT for
        # background jobs (Python keeps an inherited "ignore" otherwise).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if args.command == "login":
            from ._cli_login import run_login

            return run_login(args)
        if args.command == "logout":
            from ._cli_login import run_logout

            return run_logout(args)
        if args.command == "demo":
            from ._demo import run_demo

            return run_demo(args)
    except ConfigurationError as exc:
        return _usage_error(parser, args.command, exc)
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted.\n")
        return EXIT_INTERRUPTED
    parser.error(f"unknown command {args.command!r}")
    return EXIT_USAGE  # not reached: parser.error exits


if __name__ == "__main__":
    sys.exit(main())
