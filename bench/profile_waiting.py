"""Where a waiting login's CPU goes: n unapproved logins in one process, under cProfile.

    python bench/profile_waiting.py engine  --logins 50 --seconds 30
    python bench/profile_waiting.py widget  --logins 50 --seconds 30
    python bench/profile_waiting.py plexapi --logins 50 --seconds 30

The emulator runs in a process of its own (as in every benchmark); the logins run in a worker
process, which prints its CPU per login-minute (without the profiler: the figure to compare) and,
with ``--profile``, its cumulative time grouped by package and the top functions by own time.
This is a tool for finding costs, not a benchmark: docs/benchmarks.md comes from ``run.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import EmulatorProcess, run_worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("engine", "widget", "plexapi"))
    parser.add_argument("--logins", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--profile", action="store_true", help="run under cProfile and print the breakdown")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="plexpin-profile-") as tmp_name, EmulatorProcess(Path(tmp_name)) as emu:
        result = run_worker("measure_waiting.py", args.kind,
                            {"url": emu.url, "logins": args.logins, "seconds": args.seconds,
                             "profile": args.profile}, Path(tmp_name), timeout=args.seconds + 300)
    cpu = sorted(result["cpu_per_login_min"])
    print(f"{args.kind}: {args.logins} logins, CPU-s per login-minute by slice: "
          + ", ".join(f"{c:.4f}" for c in cpu) + f"  (median {cpu[len(cpu) // 2]:.4f})")
    if result.get("profile"):
        print(result["profile"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
