"""The one check of a request timeout, shared by the clients and the login session.

It sits on the lowest floor so that both may use it: the session checks ``request_timeout``
when it is built (a bad value found later would only surface inside a poll task, where a
kernel just logs it), and the clients check ``timeout`` again for callers who build one directly.
It never imports httpx: an ``httpx.Timeout`` can only be passed by someone who loaded httpx.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from ._errors import ConfigurationError

__all__ = ["check_request_timeout"]


def check_request_timeout(value: Any, name: str = "request_timeout") -> Any:
    """``value`` as a float of seconds, or unchanged if it is an ``httpx.Timeout``.

    Raises :class:`ConfigurationError` naming ``name`` unless it is a finite positive number.
    """
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(value, httpx.Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(name, f"must be a positive number of seconds, not {value!r}")
    return float(value)
