"""A real ipykernel for tests: start it, run cells, and follow the widget models it sends.

:class:`KernelSession` starts ``ipykernel_launcher`` with *this* interpreter (``sys.executable``,
so the kernel sees the same venv and the editable package), through a private kernelspec,
connection file and ``IPYTHONDIR`` under a temporary folder. It keeps every IOPub message it
reads and folds widget ``comm_open`` / ``comm_msg`` updates into :attr:`KernelSession.models`,
the synced state a front end would hold, so tests can check what reached the "browser".
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

__all__ = ["CellResult", "KernelError", "KernelSession", "WIDGET_VIEW_MIME"]

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
_KERNEL_NAME = "plexpin-test"

Message = dict[str, Any]


class KernelError(AssertionError):
    """A cell raised, or the kernel did not answer in time."""


@dataclasses.dataclass
class CellResult:
    """What one cell produced: its ``execute_reply``, its stdout and its IOPub messages."""

    msg_id: str
    reply: Message
    stdout: str
    messages: list[Message]
    #: Seconds from sending the request to receiving ``execute_reply`` (reported, not asserted).
    reply_after: float

    @property
    def widget_model_ids(self) -> list[str]:
        """Model ids of the widget views the cell displayed."""
        ids = []
        for msg in self.messages:
            if msg["msg_type"] in ("display_data", "execute_result"):
                view = msg["content"].get("data", {}).get(WIDGET_VIEW_MIME)
                if view:
                    ids.append(view["model_id"])
        return ids


class KernelSession:
    """One ipykernel subprocess and a blocking client talking to it."""

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        spec_dir = workdir / "kernels" / _KERNEL_NAME
        spec_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        spec = {"argv": argv, "display_name": "plexpin test kernel", "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
        ipython_dir = workdir / "ipython"
        ipython_dir.mkdir(exist_ok=True)
        full_env = dict(os.environ)
        full_env.update(env)
        full_env["IPYTHONDIR"] = str(ipython_dir)
        full_env["PYTHONUNBUFFERED"] = "1"
        self.km = KernelManager(
            kernel_name=_KERNEL_NAME,
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(workdir / "kernels")]),
            connection_file=str(workdir / "connection.json"),
            # Unix sockets in the private folder: no TCP ports to race for, nothing on the network.
            transport="ipc",
            ip=str(workdir / "kernel-ipc"),
        )
        self.km.start_kernel(env=full_env, cwd=str(workdir))
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=60)
        except RuntimeError:
            self.shutdown()
            raise
        #: Every IOPub message read so far, in arrival order.
        self.iopub: list[Message] = []
        #: comm_id -> the synced state of that widget model, as a front end would hold it.
        self.models: dict[str, dict[str, Any]] = {}
        self._replies: dict[str, Message] = {}

    # ----------------------------------------------------------------- running cells

    def submit(self, code: str, subshell_id: str | None = None, *, as_browser: bool = False) -> str:
        """Send a cell (to a subshell, if given) and return its msg_id without waiting for it.

        ``as_browser`` gives the request a plain-UUID message id, as the browser front ends
        make them: the kernel then takes its client for a widget front end (see
        ``plexpin_widget._hosts``), where jupyter_client's own ids mark a headless client."""
        if subshell_id is None and not as_browser:
            return self.kc.execute(code, store_history=False, allow_stdin=False)
        content = {
            "code": code, "silent": False, "store_history": False,
            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True,
        }
        msg = self.kc.session.msg("execute_request", content)
        if as_browser:
            msg["header"]["msg_id"] = msg["msg_id"] = str(uuid.uuid4())
        if subshell_id is not None:
            msg["header"]["subshell_id"] = subshell_id
        self.kc.shell_channel.send(msg)
        return str(msg["header"]["msg_id"])

    def wait_reply(self, msg_id: str, timeout: float = 30.0) -> Message:
        """The ``execute_reply`` to ``msg_id``; replies to other cells (a subshell's and the
        main shell's may cross) are kept for their own ``wait_reply``."""
        deadline = time.monotonic() + timeout
        while msg_id not in self._replies:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelError(f"no execute_reply within {timeout} s")
            try:
                msg = self.kc.get_shell_msg(timeout=remaining)
            except queue.Empty:
                continue
            self._replies[msg["parent_header"].get("msg_id")] = msg
        return self._replies.pop(msg_id)

    def execute(
        self, code: str, timeout: float = 30.0, subshell_id: str | None = None, *, as_browser: bool = False
    ) -> CellResult:
        """Run a cell to the end (its reply and its IOPub ``idle``); raise if it failed."""
        started = time.monotonic()
        msg_id = self.submit(code, subshell_id, as_browser=as_browser)
        reply = self.wait_reply(msg_id, timeout)
        reply_after = time.monotonic() - started
        return self.finish(msg_id, reply, reply_after, timeout)

    def finish(self, msg_id: str, reply: Message, reply_after: float, timeout: float = 30.0) -> CellResult:
        """Read IOPub up to the cell's ``idle`` and build its :class:`CellResult`."""
        if not self._idle_seen(msg_id):
            self.read_until(lambda m: self._is_idle(m, msg_id), timeout)
        # Messages a test read earlier (with read_until) belong to the cell as well.
        own = [m for m in self.iopub if m["parent_header"].get("msg_id") == msg_id]
        stdout = "".join(
            m["content"]["text"] for m in own if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )
        if reply["content"]["status"] != "ok":
            errors = [m["content"] for m in own if m["msg_type"] == "error"]
            detail = errors[0] if errors else reply["content"]
            raise KernelError(f"cell failed: {detail.get('ename')}: {detail.get('evalue')}")
        return CellResult(msg_id, reply, stdout, own, reply_after)

    @staticmethod
    def _is_idle(msg: Message, msg_id: str) -> bool:
        return (
            msg["msg_type"] == "status"
            and msg["parent_header"].get("msg_id") == msg_id
            and msg["content"]["execution_state"] == "idle"
        )

    def _idle_seen(self, msg_id: str) -> bool:
        return any(self._is_idle(m, msg_id) for m in self.iopub)

    def idle_index(self, msg_id: str) -> int:
        """Position in :attr:`iopub` of the ``idle`` that ended cell ``msg_id``."""
        return next(i for i, m in enumerate(self.iopub) if self._is_idle(m, msg_id))

    def update_index(self, model_id: str, name: str, value: Any) -> int:
        """Position in :attr:`iopub` of the first update setting ``name`` of ``model_id`` to ``value``."""
        return next(
            i
            for i, m in enumerate(self.iopub)
            if m["msg_type"] == "comm_msg"
            and m["content"].get("comm_id") == model_id
            and m["content"].get("data", {}).get("state", {}).get(name, object()) == value
        )

    # ----------------------------------------------------------------- widget events

    def create_subshell(self, timeout: float = 10.0) -> str:
        """A kernel subshell (JEP 91): its own thread, as JupyterLab >= 4.4 uses for comms."""
        msg = self.kc.session.msg("create_subshell_request", {})
        self.kc.control_channel.send(msg)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply = self.kc.get_control_msg(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                continue
            if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                return str(reply["content"]["subshell_id"])
        raise KernelError("no create_subshell_reply")

    def set_state(self, model_id: str, **state: Any) -> None:
        """Send the message a front end sends when a person changes a control (a checkbox)."""
        content = {"comm_id": model_id, "data": {"method": "update", "state": state, "buffer_paths": []}}
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", content))

    def click(self, button_model_id: str, subshell_id: str | None = None) -> None:
        """Send the message a front end sends when a Button is clicked.

        With ``subshell_id`` the message names that subshell, as JupyterLab >= 4.4 does; note
        that ipykernel 7.4 still routes it to whichever shell last published on the button's
        comm (the main shell, for a widget made in a cell)."""
        content = {"comm_id": button_model_id, "data": {"method": "custom", "content": {"event": "click"}}}
        msg = self.kc.session.msg("comm_msg", content)
        if subshell_id is not None:
            msg["header"]["subshell_id"] = subshell_id
        self.kc.shell_channel.send(msg)

    def find_part(self, root_model_id: str, css_class: str) -> str:
        """The model id of the widget with ``css_class`` inside the widget ``root_model_id``."""
        todo, found = [root_model_id], []
        while todo:
            model_id = todo.pop()
            state = self.models.get(model_id, {})
            if css_class in state.get("_dom_classes", ()):
                found.append(model_id)
            todo.extend(ref[len("IPY_MODEL_"):] for ref in state.get("children", ()))
        if len(found) != 1:
            raise KernelError(f"expected one {css_class} in {root_model_id}, found {len(found)}")
        return found[0]

    # ----------------------------------------------------------------- IOPub

    def next_iopub(self, timeout: float) -> Message | None:
        """The next IOPub message (also recorded and folded into :attr:`models`), or None."""
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return None
        self.iopub.append(msg)
        self._track(msg)
        return msg

    def read_until(self, predicate: Callable[[Message], bool], timeout: float) -> Message:
        """Read IOPub until a message satisfies ``predicate``; KernelError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelError(f"no matching IOPub message within {timeout} s")
            msg = self.next_iopub(min(remaining, 0.5))
            if msg is not None and predicate(msg):
                return msg

    def wait_model(
        self, model_id: str, predicate: Callable[[dict[str, Any]], bool], timeout: float
    ) -> Message | None:
        """Read IOPub until the state of ``model_id`` satisfies ``predicate``; returns the message
        that made it so (None if it already did)."""
        if predicate(self.models.get(model_id, {})):
            return None
        return self.read_until(
            lambda m: m["msg_type"] in ("comm_open", "comm_msg")
            and m["content"].get("comm_id") == model_id
            and predicate(self.models.get(model_id, {})),
            timeout,
        )

    def _track(self, msg: Message) -> None:
        content = msg["content"]
        if msg["msg_type"] == "comm_open" and content.get("target_name") == "jupyter.widget":
            self.models[content["comm_id"]] = dict(content.get("data", {}).get("state", {}))
        elif msg["msg_type"] == "comm_msg":
            data = content.get("data", {})
            if data.get("method") == "update" and content.get("comm_id") in self.models:
                self.models[content["comm_id"]].update(data.get("state", {}))

    # ----------------------------------------------------------------- the end

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)
