"""Where this Python runs, and so whether a widget will be seen: :func:`detect_host`.

A login needs someone to see its code. In a notebook front end the widget shows it; in a plain
script, terminal IPython, or a kernel that nobody renders (nbclient, papermill, ``jupyter
execute``, ``jupyter console``, qtconsole) it must be written to the terminal instead. This is
the one place that decides which, in the order that the well-known logins use (marimo first,
because every IPython-based check misses it; then the IPython shell class, like
huggingface_hub and kagglehub; then who sent the running cell).

How a kernel with no widget front end is told apart: a kernel cannot ask its client which comm
targets it has, but every request carries the client's message id, and the two families of
clients make them differently. Python's ``jupyter_client`` (under nbclient, papermill, ``jupyter
execute``/``console``, qtconsole and Spyder) makes ``<session uuid>_<pid>_<n>``; the browser
front ends (JupyterLab, Notebook 6 and 7, VS Code, all through ``@jupyterlab/services`` or the
classic notebook's ``utils.uuid``) make a plain UUID. Voilà runs the notebook through
nbclient on the server but renders its widgets in the page, so it is recognised first by the
``SERVER_SOFTWARE=voila/…`` variable it puts in its kernels' environment; Colab by its module.
"""

from __future__ import annotations

import enum
import os
import re
import sys
from typing import Any

__all__ = ["Host", "detect_host"]

# jupyter_client's Session.msg_id: f"{self.session}_{os.getpid()}_{message_number}".
_JUPYTER_CLIENT_MSG_ID = re.compile(r"^[0-9a-fA-F-]{32,36}_\d+_\d+$")


class Host(enum.Enum):
    """The kinds of place a login can run in."""

    #: A notebook front end that renders core ipywidgets: JupyterLab, Notebook 6/7, VS Code,
    #: Colab, JupyterLite.
    JUPYTER_FRONTEND = "jupyter_frontend"
    #: A Voilà dashboard: renders widgets, runs the notebook before the page shows it.
    VOILA = "voila"
    #: marimo (``marimo edit`` / ``marimo run``): renders anywidgets only.
    MARIMO = "marimo"
    #: An ipykernel whose client shows no widgets (nbclient, papermill, jupyter console, ...).
    HEADLESS_KERNEL = "headless_kernel"
    #: IPython in a terminal.
    TERMINAL_IPYTHON = "terminal_ipython"
    #: Plain ``python``: a script or the standard REPL.
    SCRIPT = "script"

    @property
    def shows_widgets(self) -> bool:
        """True where a widget front end will show the login to a person."""
        return self in (Host.JUPYTER_FRONTEND, Host.VOILA, Host.MARIMO)


def _marimo_notebook() -> bool:
    # Only ever true where marimo is already loaded: it runs the code. Its kernel has no
    # IPython shell, so this must come before the IPython checks.
    marimo = sys.modules.get("marimo")
    if marimo is None:
        return False
    try:
        return bool(marimo.running_in_notebook())
    except Exception:  # an older or partial marimo: it is not running this code then
        return False


def _ipython_shell() -> Any:
    ipython = sys.modules.get("IPython")  # not imported: no IPython can be running
    if ipython is None:
        return None
    try:
        return ipython.get_ipython()
    except Exception:
        return None


def _is_kernel_shell(shell: Any) -> bool:
    # By class name, as huggingface_hub does: subclasses (Colab's, Spyder's) count too.
    return any(cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__)


def _current_request_id(shell: Any) -> str:
    """The message id of the request the kernel is handling now (the running cell's)."""
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return ""
    try:
        parent = kernel.get_parent() if hasattr(kernel, "get_parent") else kernel._parent_header
    except Exception:
        return ""
    header = (parent or {}).get("header") or {}
    return str(header.get("msg_id") or "")


def detect_host() -> Host:
    """The kind of place this code runs in right now (see the module's docstring for how)."""
    if _marimo_notebook():
        return Host.MARIMO
    if sys.platform == "emscripten":  # JupyterLite's Pyodide kernel: always in a browser page
        return Host.JUPYTER_FRONTEND
    shell = _ipython_shell()
    if shell is None:
        return Host.SCRIPT
    if not _is_kernel_shell(shell):
        return Host.TERMINAL_IPYTHON
    if os.environ.get("SERVER_SOFTWARE", "").startswith("voila/"):
        return Host.VOILA
    if "google.colab" in sys.modules:
        return Host.JUPYTER_FRONTEND
    if _JUPYTER_CLIENT_MSG_ID.match(_current_request_id(shell)):
        return Host.HEADLESS_KERNEL
    return Host.JUPYTER_FRONTEND
