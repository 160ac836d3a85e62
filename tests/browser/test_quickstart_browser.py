"""The quickstart notebook in JupyterLab, end to end: Run All, approve the code on the
emulator's ``/link`` page, and see the film table and the chart that the media server stand-in's
library gives.

The README's ``docs/quickstart.png`` (table above chart) is taken on every run and checked; only
``PLEXPIN_UPDATE_SCREENSHOT=1`` writes it into the work tree.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import REPO_ROOT, FrontEnd, PageWatch, approve_on_link_page, wait_until

QUICKSTART = REPO_ROOT / "notebooks" / "quickstart.ipynb"
README_SCREENSHOT = REPO_ROOT / "docs" / "quickstart.png"
# Long enough for sign-in, connecting, a few listings and drawing the chart on a busy CI machine.
RUN_TIMEOUT_MS = 90_000


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator
    from plexpin_widget.emulator.pms import PlexMediaServerEmulator

    plex_tv = PlexTvEmulator(username="quickstart-tester")
    media_server = PlexMediaServerEmulator(plex_tv)
    with EmulatorServer(plex_tv) as tv, media_server.server():
        config = tmp_path / "plexpin-config"
        config.mkdir()
        yield {
            "plex_tv": plex_tv,
            "url": tv.url,
            "kernel_env": {
                "PLEXPIN_BASE_URL": tv.url,
                "PLEXPIN_CLIENT_IDENTIFIER": f"quickstart-{uuid.uuid4().hex[:12]}",
                "PLEXPIN_CONFIG_DIR": str(config),
                # JupyterLab's own default, stated so that an MPLBACKEND in the outer
                # environment cannot turn the chart into nothing.
                "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            },
        }


def png_rows(data: bytes) -> tuple[int, int, list[bytearray]]:
    import png

    width, height, rows, _ = png.Reader(bytes=data).asRGBA8()
    return width, height, [bytearray(row) for row in rows]


def stack_pngs(parts: list[bytes], gap: int = 12) -> bytes:
    """The images one above the other on white (pypng, no Pillow)."""
    import io

    import png

    decoded = [png_rows(part) for part in parts]
    width = max(w for w, _, _ in decoded)
    white = bytearray(b"\xff" * 4 * width)
    rows: list[bytearray] = []
    for index, (w, _, image_rows) in enumerate(decoded):
        if index:
            rows += [white] * gap
        rows += [row + bytearray(b"\xff" * 4 * (width - w)) for row in image_rows]
    buffer = io.BytesIO()
    png.Writer(width, len(rows), greyscale=False, alpha=True).write(buffer, rows)
    return buffer.getvalue()


@pytest.mark.parametrize("frontend", ["lab"], indirect=True)
def test_quickstart_signs_in_and_shows_a_table_and_a_chart(
    frontend: FrontEnd, page_watch: PageWatch, new_page: Any, demo: dict[str, Any], tmp_path: Path
) -> None:
    page = page_watch.page
    # Tall enough that the table and the chart fit on screen together for the README picture.
    page.set_viewport_size({"width": 1400, "height": 2000})
    kernel = frontend.install_kernelspec(demo["kernel_env"])
    notebook = json.loads(QUICKSTART.read_text(encoding="utf-8"))
    notebook["metadata"]["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    name = f"quickstart-{uuid.uuid4().hex[:8]}.ipynb"
    (frontend.root / name).write_text(json.dumps(notebook), encoding="utf-8")

    # As FrontEnd.open_and_run, but without awaiting run-all: its promise settles only when every
    # cell is done, and the second cell waits for the approval this test gives below.
    frontend.delete_sessions()
    page.goto(frontend.notebook_url(name), wait_until="domcontentloaded", timeout=60_000)
    frontend.wait_kernel_ready(page, name)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    code_box = frontend.locator(page, ".plexpin-code")
    expect(code_box).to_have_count(1, timeout=60_000)
    # text_content, not inner_text: run-all scrolls the widget out of view, and JupyterLab does
    # not lay out cells out of view (content-visibility), so their inner text reads empty.
    code = wait_until(lambda: (code_box.text_content() or "").strip(), timeout=30, message="a link code", page=page)

    # A person opens /link in another tab, types the code and approves.
    approve_on_link_page(new_page().page, demo["url"], code)

    outputs = frontend.locator(page, ".jp-OutputArea-output")
    chart = frontend.locator(page, ".jp-OutputArea-output img[src^='data:image/png']")
    expect(chart).to_have_count(1, timeout=RUN_TIMEOUT_MS)
    expect(outputs.filter(has_text="Connected to Demo Server")).to_have_count(1)
    table = frontend.locator(page, ".jp-OutputArea-output table.dataframe")
    expect(table).to_have_count(1)
    expect(table.locator("tbody tr")).to_have_count(12)
    expect(table.locator("thead")).to_contain_text("audience")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 600", arg=chart.element_handle())
    errors = frontend.locator(page, "[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, errors.all_inner_texts()
    assert outputs.filter(has_text="Could not connect").count() == 0

    # The chart is the notebook's own PNG output, drawn by matplotlib: check its pixels are real.
    source = chart.get_attribute("src") or ""
    width, height, _ = png_rows(base64.b64decode(source.split(",", 1)[1]))
    assert width > 600 and height > 200

    # README screenshot: the table output above the chart output, taken once the layout is still
    # (JupyterLab lays cells out again as they scroll into view).
    table_output = frontend.locator(page, ".jp-OutputArea-output:has(table.dataframe)")
    chart_output = frontend.locator(page, ".jp-OutputArea-output:has(img[src^='data:image/png'])")
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    table_output.scroll_into_view_if_needed()
    boxes: list[Any] = []

    def layout_still() -> bool:
        boxes.append((table_output.bounding_box(), chart_output.bounding_box()))
        return len(boxes) >= 3 and boxes[-1] == boxes[-2] == boxes[-3]

    wait_until(layout_still, timeout=10, interval=0.2, message="the notebook layout to settle", page=page)
    shot = stack_pngs([table_output.screenshot(), chart_output.screenshot()])
    target = README_SCREENSHOT if os.environ.get("PLEXPIN_UPDATE_SCREENSHOT") == "1" else tmp_path / "quickstart.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(shot)
    shot_width, shot_height, _ = png_rows(target.read_bytes())
    assert shot_width > 600 and shot_height > 500
    assert page_watch.dialogs == []
