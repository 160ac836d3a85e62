"""The ``plexpin`` command's exit codes, in a module of their own so that every command's
module can use them without importing the argument parser that dispatches to it."""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_NETWORK", "EXIT_OK", "EXIT_USAGE"]

#: Done: signed in, signed out, or the demo ran.
EXIT_OK = 0
#: Not signed in: the code expired, the login was cancelled or refused.
EXIT_FAILED = 1
#: The command line was wrong.
EXIT_USAGE = 2
#: plex.tv could not be reached.
EXIT_NETWORK = 3
#: Interrupted with Ctrl-C.
EXIT_INTERRUPTED = 130
