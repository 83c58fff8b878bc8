# SPDX-License-Identifier: Apache-2.0
"""Run the benchmarks on the lab, one after another (`make bench`).

    .venv/bin/python bench/run.py [--only p1,roll,p2,p3] [--rounds N]

Each benchmark is its own script (bench/p1_dataplane.py, roll_loss.py, p2_drain.py, p3_overhead.py) and writes
bench/results/<name>[-<backend>].json and .md, on the running lab's network backend; this runner checks the lab is
healthy, runs them, writes bench/results/summary.json (bench/summary.py), prints every table and exits 1 if one of
them failed (a missed goal is a result, not a failure). bench/lab_up.py (it takes the lab down and up) runs only by
hand. docs/benchmarks.md explains the tables.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BENCHMARKS = {"p1": "p1_dataplane", "roll": "roll_loss", "p2": "p2_drain", "p3": "p3_overhead"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="p1,roll,p2,p3", help="benchmarks to run, comma-separated")
    ap.add_argument("--rounds", type=int, help="rounds of every benchmark (default: each script's own, 5)")
    args = ap.parse_args()
    status = subprocess.run([sys.executable, str(REPO / "tests" / "lab" / "labctl.py"), "status"], capture_output=True, text=True)
    if status.returncode != 0:
        print(f"The lab is not up or not healthy: run `make lab-up` first.\n{status.stdout[-1500:]}", file=sys.stderr)
        return 2
    failed = []
    started = time.monotonic()
    for key in args.only.split(","):
        name = BENCHMARKS[key.strip()]
        argv = [sys.executable, str(HERE / f"{name}.py")] + (["--rounds", str(args.rounds)] if args.rounds else [])
        print(f"=== {name}", flush=True)
        t0 = time.monotonic()
        if subprocess.run(argv, cwd=REPO).returncode != 0:
            failed.append(name)
        print(f"=== {name}: {time.monotonic() - t0:.0f} s{' (FAILED)' if name in failed else ''}", flush=True)
    subprocess.run([sys.executable, str(HERE / "summary.py")], cwd=REPO, check=False)
    print(f"All benchmarks: {time.monotonic() - started:.0f} s; results in {HERE / 'results'}"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
