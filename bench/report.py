"""Turn the collected rows into docs/benchmarks.md: machine, versions, one table per measurement."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import Row, Summary

HEADER = ("Measurement", "Client", "Condition", "n", "Median", "IQR (p25 – p75)", "Range (min – max)", "p95",
          "Unit", "Target", "Result")

#: (section key, heading, what was done and how to read it)
SECTIONS: list[tuple[str, str, str]] = [
    ("cell_return", "1. Cell return time",
     ("From constructing the login to control returning to the caller. `PlexPinLogin(...)` is built "
     "inside a running asyncio loop, as in a kernel (no front end is connected, so no comm messages "
     "are sent). python-plexapi has no background start: the figure is `MyPlexPinLogin(...)` plus its "
     "first read of `.pin`, which blocks until plex.tv has created the pin. \"Pin creation 2 s\" is an "
     "emulator latency fault on `POST /api/v2/pins`. The target is judged on the p95.")),
    ("time_to_code", "2. Time to code",
     ("From construction until the `code` trait is set (seen by a traitlets observer). For "
     "python-plexapi the code is there when `.pin` returns, so this equals its cell return time. "
     "The QR image is rendered right after the trait is set and is not part of this figure.")),
    ("approval", "3. Approval-detection latency",
     ("From the claim (the moment the emulator's claim hook answered) to the token being available "
     "in the client process. Claims are placed at evenly spread phases of each login's poll cycle "
     "(stratified, read from the emulator's log), so the median is the p50 and the p95 column is the "
     "p95 over that distribution. \"Time between pin checks\" is the poll cycle seen by the emulator "
     "(interval + one round trip); the claim hook's own round trip bounds how early the true claim "
     "could have been.")),
    ("requests", "4a. Requests per approved login",
     ("Counted in the emulator's log for the logins of section 3 (each login has its own client "
     "identifier). plexpin_widget also reads `/api/v2/user` once after sign-in, to show who signed "
     "in; python-plexapi users do the same with `MyPlexAccount(token)`, outside the login.")),
    ("lifetime", "4b. Requests over a whole pin lifetime, nobody approving",
     ("Simulated rows run the clients' real scheduling code on a virtual clock against an in-process "
     "emulator (900 s pins): `PinFlow` for plexpin_widget, `MyPlexPinLogin._pollLogin` for "
     "python-plexapi. Emulator rows are real logins against the emulator process with short-lived "
     "pins, counted in its log (3 logins each). \"After expiry\" counts requests the server "
     "received after the pin had expired (each gets a 404).")),
    ("waiting", "5. Waiting cost",
     ("n logins waiting, unapproved, in one process per client: python-plexapi "
     "(`MyPlexPinLogin.run(timeout=None)`, a thread per login), the bare engine (`LoginSession`) and the "
     "widget (`PlexPinLogin`, countdown and all, no front end connected), the three side by side in the "
     "same run against one emulator process. CPU is `time.process_time()` of the whole process over equal "
     "slices of the window, divided by n and scaled to a minute; threads and TCP sockets are sampled with "
     "psutil at each slice end. \"Threads added\" subtracts the count before the logins existed. The "
     "targets compare the clients with each other, not with a fixed number.")),
    ("scale", "6. Scale",
     ("n logins in one process on one event loop, each with its own client identifier; every pin is "
     "approved at a random moment within the window by the benchmark runner (another process). CPU "
     "is the worker's `time.process_time()` from the first login to the last token; peak RSS is "
     "`ru_maxrss`. The emulator runs in its own process; its CPU use shows whether it was the "
     "bottleneck. Each row is one run (n = 1 in the table). Runs of at most 100 logins were run side "
     "by side (each in its own worker and emulator process) to save wall-clock time; the larger ones "
     "ran alone. Approval → token is measured here from the moment the runner saw the claim hook's "
     "answer; on a busy machine that moment can be recorded a few ms late, so a value may come out "
     "slightly negative.")),
    ("import", "7. Import time",
     ("Each sample is a fresh interpreter timing only the import statement, with bytecode already "
     "compiled (as pip leaves an installed package; the run keeps it in a private cache, "
     "`PYTHONPYCACHEPREFIX`). The modules are timed in turn in each round; the difference is taken "
     "per round. The package loads its widget and HTTP clients on first use, so the target is judged "
     "on `from plexpin_widget import PlexPinLogin`, which loads all a login needs; a bare "
     "`import plexpin_widget` is shown too. One row imports the widget after `ipykernel.kernelapp` and "
     "ipywidgets, which is what the first cell of a notebook pays.")),
]


def fmt(value: float) -> str:
    """A number people can read and a parser can parse: no exponent, sensible precision."""
    size = abs(value)
    if size >= 100 or value == int(value):
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: Sequence[Row]) -> list[str]:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for row in rows:
        s: Summary = row.summary
        cells = [row.measurement, row.client, row.condition, str(s.n), fmt(s.median),
                 f"{fmt(s.p25)} – {fmt(s.p75)}", f"{fmt(s.low)} – {fmt(s.high)}", fmt(s.p95), row.unit,
                 row.target or "—", row.verdict or "—"]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _kv_table(title: tuple[str, str], items: Sequence[tuple[str, str]]) -> list[str]:
    lines = [f"| {title[0]} | {title[1]} |", "|---|---|"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in items]
    return lines


def render(
    *,
    rows: Sequence[Row],
    machine: Sequence[tuple[str, str]],
    versions: Sequence[tuple[str, str]],
    targets: Sequence[tuple[str, str, str, str]],
    growth: dict[str, list[dict[str, float]]],
    breakdown: Sequence[tuple[str, float]],
    analysis: Sequence[str],
    changes: Sequence[str],
    waiting_profile: dict[str, Any] | None = None,
    mode: str,
    command: str,
    started: _dt.datetime,
    duration_s: float,
) -> str:
    out: list[str] = [
        "# Benchmarks: plexpin_widget and python-plexapi's pin login",
        "",
        (f"Generated by `{command}` on {started:%Y-%m-%d %H:%M} UTC ({mode} run, {duration_s / 60:.1f} min). "
        "Every figure below comes from that run; regenerate rather than edit. Both clients talk to the "
        "plex.tv emulator (`python -m plexpin_widget.emulator`) on loopback, served from a separate "
        "process, at an added server latency of 0 ms and 100 ms (an emulator latency fault: the "
        "request is handled on arrival and the answer held back)."),
        "",
        ("Each figure is a median with its spread: the interquartile range, the range and the p95 "
        "over n samples. Benchmarks are not tests: nothing in the test suite asserts a time."),
        "",
    ]
    if any("the machine was shared" in value for _, value in machine):
        out += [
            ("**The machine was shared with other work during this run** (see *Machine and versions*): "
            "wall-clock figures carry that noise; CPU time, memory, thread and request counts much less so."),
            "",
        ]
    out += [
        "## Targets",
        "",
        "| # | Target | Measured | Result |",
        "|---|---|---|---|",
    ]
    out += [f"| {_cell(a)} | {_cell(b)} | {_cell(c)} | {_cell(d)} |" for a, b, c, d in targets]
    if analysis:
        out += ["", "### Where targets are missed or close, and why", ""]
        out += [f"- {line}" for line in analysis]
    if changes:
        out += ["", "### Code changes made because of these measurements", ""]
        out += [f"- {line}" for line in changes]
    out += ["", "## Machine and versions", ""]
    out += _kv_table(("Machine", "Value"), machine)
    out += [""]
    out += _kv_table(("Package", "Version"), versions)
    for key, heading, text in SECTIONS:
        section_rows = [r for r in rows if r.section == key]
        if not section_rows:
            continue
        out += ["", f"## {heading}", "", text, ""]
        out += table(section_rows)
        if key == "waiting" and waiting_profile:
            out += ["", "### Where a waiting login's CPU goes", ""]
            out += profile_table(waiting_profile)
        if key == "scale" and growth:
            out += ["", "### How cost grows with the number of logins", ""]
            out += growth_table(growth)
        if key == "import" and breakdown:
            out += ["", "### Where the extra import time goes", "",
                    ("Self time under `python -X importtime` (inflated by the tracing itself; median of runs) "
                    "of modules that `from plexpin_widget import PlexPinLogin` loads and `import ipywidgets` does not."), "",
                    "| Module or package | ms |", "|---|---|"]
            out += [f"| {_cell(name)} | {fmt(ms)} |" for name, ms in breakdown]
    out.append("")
    return "\n".join(out)


def profile_table(profile: dict[str, Any]) -> list[str]:
    """Share of each layer in the CPU of each client's waiting process, under cProfile."""
    clients: dict[str, Any] = profile.get("clients") or {}
    names = list(clients)
    largest: dict[str, float] = {}
    for entry in clients.values():
        for layer, share in entry["layers"].items():
            largest[layer] = max(largest.get(layer, 0.0), share)
    lines = [
        (f"The three processes again, side by side, {fmt(profile.get('logins', 0))} logins each, for "
         f"{fmt(profile.get('seconds', 0))} s under cProfile with a CPU-time clock (`time.thread_time`; every "
         "poller thread of python-plexapi is profiled). Each cell is a layer's share of the process's "
         "profiled time; a C function (a socket call, `isinstance`) counts for the package that called it. "
         "The profiler slows pure-Python code more than C, so the shares matter, not the profiled totals "
         "(last row, for reference). `python bench/profile_waiting.py KIND --profile` lists the functions."),
        "",
        "| Layer | " + " | ".join(_cell(n) for n in names) + " |",
        "|---|" + "|".join("---" for _ in names) + "|",
    ]
    for layer in sorted(largest, key=lambda name: -largest[name]):
        cells = [f"{clients[n]['layers'][layer] * 100:.1f} %" if layer in clients[n]["layers"] else "—"
                 for n in names]
        lines.append(f"| {_cell(layer)} | " + " | ".join(cells) + " |")
    totals = [fmt(c[len(c) // 2]) if (c := clients[n]["cpu_per_login_min"]) else "—" for n in names]
    lines.append("| CPU-s per login-minute while profiled (median slice) | " + " | ".join(totals) + " |")
    return lines


def growth_table(growth: dict[str, list[dict[str, float]]]) -> list[str]:
    head = ("Client", "n", "CPU-s", "CPU-ms per login", "RSS KiB per login", "Peak RSS MiB", "Threads",
            "Tokens", "Create all s", "All codes s", "Loop lag p95 ms", "Approval → token p95 ms",
            "Check interval ms", "Emulator % of a core")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    names = {"session": "LoginSession (engine)", "widget": "PlexPinLogin (engine + widget)"}
    for kind, entries in growth.items():
        for e in sorted(entries, key=lambda item: item["n"]):
            cells = [names.get(kind, kind), fmt(e["n"]), fmt(e["cpu_s"]), fmt(e["cpu_ms_per_login"]),
                     fmt(e["rss_kib_per_login"]), fmt(e["peak_rss_mib"]), fmt(e["threads"]), fmt(e["delivered"]),
                     fmt(e["create_s"]), fmt(e["codes_s"]), fmt(e["lag_p95_ms"]), fmt(e["latency_p95_ms"]),
                     fmt(e["interval_median_ms"]), fmt(e["emulator_busy"] * 100)]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def rows_to_json(rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(r) for r in rows]
