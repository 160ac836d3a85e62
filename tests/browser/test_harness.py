"""Smoke test of the browser harness itself, independent of plexpin_widget's widget code:
a toy ipywidgets notebook (HTML label, QR Image, Button) in JupyterLab 4, Notebook 7 and Voilà."""

from __future__ import annotations

import json
import uuid

from playwright.sync_api import expect

from .conftest import screenshot_qr, write_notebook

QR_TEXT = "http://127.0.0.1:9/link/?pin=HRNS"

TOY_CELL = f"""
import html, io, os
import ipywidgets as W
import qrcode, qrcode.image.pure

_buf = io.BytesIO()
qrcode.make({QR_TEXT!r}, image_factory=qrcode.image.pure.PyPNGImage, box_size=6).save(_buf)
label = W.HTML(value="<b>harness label " + html.escape(os.environ.get("HARNESS_MARK", "missing")) + "</b>")
label.add_class("harness-label")
qr = W.Image(value=_buf.getvalue(), format="png", width=200, height=200)
qr.add_class("harness-qr")
btn = W.Button(description="Click me")
btn.add_class("harness-btn")
btn.on_click(lambda b: setattr(label, "value", "<b>clicked</b>"))
box = W.VBox([label, qr, btn])
box.add_class("harness-box")
box
"""


def test_toy_widget_renders_decodes_and_clicks(frontend, page_watch, tmp_path):
    page = page_watch.page
    mark = uuid.uuid4().hex[:8]
    # The kernel gets HARNESS_MARK only through the per-test kernelspec: proves the env mechanism.
    kernel = frontend.install_kernelspec({"HARNESS_MARK": mark})
    name = f"harness-{mark}.ipynb"
    write_notebook(frontend.root / name, [TOY_CELL], kernel_name=kernel)

    frontend.open_and_run(page, name)

    label = frontend.locator(page, ".harness-label")
    expect(label).to_have_text(f"harness label {mark}", timeout=30_000)
    qr = frontend.locator(page, "img.harness-qr")
    expect(qr).to_be_visible()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=qr.element_handle())

    box = frontend.locator(page, ".harness-box")
    assert screenshot_qr(box, tmp_path / "box.png") == [QR_TEXT]

    frontend.locator(page, ".harness-btn").click()
    expect(label).to_have_text("clicked", timeout=5_000)

    if frontend.kind in ("lab", "notebook"):
        saved = frontend.save(page, name)
        state = saved["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        assert state, "saveState is on, so the saved notebook must carry widget state"
        assert "clicked" in json.dumps(state), "saved widget state must be the current one"

    assert page_watch.dialogs == []
