"""The benchmark command runs end to end at tiny sizes and writes a well-formed report.

Benchmarks are not tests: nothing here looks at how fast anything was. This only checks that
``python bench/run.py --smoke --output PATH`` works against the emulator and that its Markdown
has every section, a table row for every measurement, and numbers that parse and are ordered
(min <= p25 <= median <= p75 <= max).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEADER = ["Measurement", "Client", "Condition", "n", "Median", "IQR (p25 – p75)", "Range (min – max)", "p95",
          "Unit", "Target", "Result"]
HEADINGS = [
    "# Benchmarks: plexpin_widget and python-plexapi's pin login",
    "## Targets",
    "## Machine and versions",
    "## 1. Cell return time",
    "## 2. Time to code",
    "## 3. Approval-detection latency",
    "## 4a. Requests per approved login",
    "## 4b. Requests over a whole pin lifetime, nobody approving",
    "## 5. Waiting cost",
    "### Where a waiting login's CPU goes",
    "## 6. Scale",
    "### How cost grows with the number of logins",
    "## 7. Import time",
]
# Every measurement the report promises, by section: (measurement prefix, client prefix).
EXPECTED = {
    "## 1. Cell return time": [("cell return (first login", "plexpin_widget"), ("cell return (later", "plexpin_widget"),
                               ("cell return (first login", "python-plexapi"),
                               ("cell return (first login in a fresh process, PLEXPIN_KEYRING=0)", "plexpin_widget")],
    "## 2. Time to code": [("time to code", "plexpin_widget"), ("time to code", "python-plexapi")],
    "## 3. Approval-detection latency": [("approval → token", "plexpin_widget"), ("approval → token", "python-plexapi"),
                                         ("time between pin checks", "plexpin_widget")],
    "## 4a. Requests per approved login": [("requests per approved login", "plexpin_widget"),
                                           ("requests per approved login", "python-plexapi")],
    "## 4b. Requests over a whole pin lifetime, nobody approving": [
        ("requests in one unapproved pin lifetime", "plexpin_widget"),
        ("requests in one unapproved pin lifetime", "python-plexapi"),
        ("requests after expiry", "plexpin_widget"), ("requests in one 4 s lifetime", "plexpin_widget")],
    "## 5. Waiting cost": [("CPU time per login per waiting minute", "plexpin_widget LoginSession"),
                           ("CPU time per login per waiting minute", "plexpin_widget PlexPinLogin"),
                           ("CPU time per login per waiting minute", "python-plexapi"),
                           ("threads added by the logins", "plexpin_widget LoginSession"),
                           ("threads added by the logins", "plexpin_widget PlexPinLogin"),
                           ("open TCP sockets while waiting", "plexpin_widget"),
                           ("CPU per pin check", "plexpin_widget")],
    "## 6. Scale": [("tokens delivered", "plexpin_widget LoginSession"), ("peak RSS", "plexpin_widget LoginSession"),
                    ("tokens delivered", "plexpin_widget PlexPinLogin"), ("CPU per login", "plexpin_widget PlexPinLogin"),
                    ("threads in the process", "plexpin_widget PlexPinLogin")],
    "## 7. Import time": [("from plexpin_widget import PlexPinLogin", "plexpin_widget"),
                          ("import ipywidgets", "ipywidgets"),
                          ("from plexpin_widget import PlexPinLogin − import ipywidgets", "plexpin_widget"),
                          ("import plexpin_widget alone", "plexpin_widget")],
}
NUMBER = r"-?\d+(?:\.\d+)?"
PAIR = re.compile(rf"^({NUMBER}) – ({NUMBER})$")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split(" | ")]


def _sections(text: str) -> dict[str, list[str]]:
    """Lines of the report under each heading."""
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("#"):
            current = line.strip()
            out[current] = []
        else:
            out.setdefault(current, []).append(line)
    return out


def _result_rows(lines: list[str]) -> list[list[str]]:
    """The data rows of every results table in ``lines`` (tables whose header is HEADER)."""
    rows, in_table = [], False
    for line in lines:
        if not line.startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if cells == HEADER:
            in_table = True
        elif in_table and not set(line) <= set("|-"):
            assert len(cells) == len(HEADER), f"a row with {len(cells)} cells: {line}"
            rows.append(cells)
    return rows


def _check_numbers(row: list[str]) -> None:
    n = int(row[3])
    assert n >= 1, row
    median, p95 = float(row[4]), float(row[7])
    p25, p75 = (float(x) for x in PAIR.match(row[5]).groups())  # type: ignore[union-attr]
    low, high = (float(x) for x in PAIR.match(row[6]).groups())  # type: ignore[union-attr]
    assert low <= p25 <= median <= p75 <= high, row
    assert low <= p95 <= high, row
    assert row[8], f"no unit: {row}"
    assert row[10] in ("—", "met", "MISSED") or row[10].startswith(("met", "MISSED")), row


@pytest.mark.timeout(600)
def test_smoke_run_writes_a_well_formed_report(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "benchmarks.md"
    env = dict(os.environ, PLEXPIN_CONFIG_DIR=str(tmp_path / "config"))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--output", str(out)],
        check=False, capture_output=True, text=True, timeout=570, env=env, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    text = out.read_text(encoding="utf-8")
    assert "`python bench/run.py --smoke`" in text and "(smoke run" in text

    positions = [text.find(heading + "\n") for heading in HEADINGS]
    assert all(p >= 0 for p in positions), [h for h, p in zip(HEADINGS, positions) if p < 0]
    assert positions == sorted(positions), "sections out of order"

    sections = _sections(text)
    for heading, expected in EXPECTED.items():
        rows = _result_rows(sections[heading])
        assert rows, f"no results table under {heading}"
        for row in rows:
            _check_numbers(row)
        for measurement, client in expected:
            assert any(r[0].startswith(measurement) and r[1].startswith(client) for r in rows), (
                f"{heading}: no row for {measurement!r} / {client!r}")

    targets = [_cells(line) for line in sections["## Targets"] if line.startswith("| ") and not line.startswith("| #")]
    assert {row[0].split(" ")[0] for row in targets} == {"1", "3", "4", "5", "6", "7"}
    assert all(row[3].startswith(("met", "MISSED")) for row in targets), targets

    machine = "\n".join(sections["## Machine and versions"])
    for item in ("| Python |", "| CPU |", "| plexapi |", "| plexpin-widget |", "| ipywidgets |"):
        assert item in machine, item

    # The waiting targets compare the three clients measured in this run, not a fixed number.
    waiting_rows = _result_rows(sections["## 5. Waiting cost"])
    cpu = {r[1]: r for r in waiting_rows if r[0] == "CPU time per login per waiting minute"}
    theirs = float(cpu["python-plexapi"][4])
    for client, row in cpu.items():
        if client != "python-plexapi":
            assert row[9].endswith(f"python-plexapi ({theirs:.3f})") and row[10] in ("met", "MISSED"), row
    target5 = next(row for row in targets if row[0] == "5")
    assert "python-plexapi" in target5[2] and "widget" in target5[2] and "engine" in target5[2], target5
    layers = [_cells(line) for line in sections["### Where a waiting login's CPU goes"] if line.startswith("| ")]
    assert layers[0][1:] == ["python-plexapi", "plexpin_widget LoginSession (engine only)",
                             "plexpin_widget PlexPinLogin (engine + widget)"], layers[0]
    assert any(row[0] == "httpcore" for row in layers) and any(row[0] == "requests" for row in layers), layers

    growth = [line for line in sections["### How cost grows with the number of logins"] if line.startswith("| ")]
    assert len(growth) == 1 + 3  # header + session 10, session 20, widget 10
    for line in growth[1:]:
        for cell in _cells(line)[1:]:
            float(cell)
