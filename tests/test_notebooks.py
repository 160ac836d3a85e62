"""The committed notebooks: clean on disk, and the quickstart runs headless against the emulator."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from plexpin_widget.emulator import EmulatorServer, PlexTvEmulator
from plexpin_widget.emulator.pms import PlexMediaServerEmulator

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert any(path.name == "quickstart.ipynb" for path in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_has_no_outputs_and_no_widget_state(path: Path) -> None:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert "widgets" not in notebook.get("metadata", {}), "widget state must not be committed"
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        assert cell.get("outputs") == [], f"cell {index} of {path.name} has outputs"
        assert cell.get("execution_count") is None, f"cell {index} of {path.name} has an execution count"


@pytest.mark.kernel
def test_quickstart_runs_headless_against_the_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = PlexTvEmulator(username="notebook analyst")
    # The notebook's own cells do the waiting; the emulator approves each pin a moment after it exists.
    emulator.auto_claim(0.5)
    media_server = PlexMediaServerEmulator(emulator)
    with EmulatorServer(emulator) as server, media_server.server():
        monkeypatch.setenv("PLEXPIN_BASE_URL", server.url)
        # Headless, and still image/png outputs: the inline backend renders with Agg into the
        # notebook, as in JupyterLab (plain "Agg" would draw nowhere).
        monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        monkeypatch.setenv("PLEXPIN_CONFIG_DIR", str(tmp_path / "config"))
        monkeypatch.setenv("PLEXPIN_KEYRING", "0")
        monkeypatch.delenv("PLEX_TOKEN", raising=False)
        notebook = nbformat.read(NOTEBOOKS[[p.name for p in NOTEBOOKS].index("quickstart.ipynb")], as_version=4)
        client = NotebookClient(
            notebook,
            timeout=120,
            kernel_name="python3",
            store_widget_state=True,
            resources={"metadata": {"path": str(tmp_path)}},
        )
        client.execute()
        issued = {pin.auth_token for pin in emulator.pins.values() if pin.auth_token}

    out_path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, out_path)
    saved = out_path.read_text(encoding="utf-8")

    outputs = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
    assert "Signed in as notebook analyst" in outputs
    assert "Connected to Demo Server" in outputs and "Could not connect" not in outputs
    assert "- Movies: 40 items (movie)" in outputs
    rich = [output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", [])]
    tables = [data["text/html"] for data in rich if "<table" in data.get("text/html", "")]
    assert len(tables) == 1 and all(f"<th>{column}</th>" in tables[0] for column in ("title", "audience", "watched"))
    assert tables[0].split("<tbody>")[1].count("<tr>") == 12  # a dozen films
    charts = [data["image/png"] for data in rich if "image/png" in data]
    assert len(charts) == 1
    assert base64.b64decode(charts[0])[:8] == b"\x89PNG\r\n\x1a\n"
    stderr = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for output in cell.get("outputs", []) if output.get("name") == "stderr")
    assert stderr == "", stderr
    assert issued, "the emulator issued no token, so the notebook never signed in"
    for token in issued:
        assert token not in saved, "the token leaked into the executed notebook"
    assert "metadata" in json.loads(saved)
    print(f"quickstart ran with {sys.executable}; {len(notebook.cells)} cells")
