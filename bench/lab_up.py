# SPDX-License-Identifier: Apache-2.0
"""Lab up: how long `labctl up` takes on each network backend, warm (every cache built: images, venvs, database
snapshot) and, once, cold; and the memory the whole lab uses once it is up.

    .venv/bin/python bench/lab_up.py --network ovn [--rounds 2]
    .venv/bin/python bench/lab_up.py --network ovn --cold-seconds 912   # record a cold bring-up timed elsewhere

Per round, with the lab lock held: `labctl down`, then `labctl up --network <backend>` timed; then the lab's memory:
the RSS summed over every process that did not exist before the up (control plane, MariaDB, RabbitMQ, the test
hosts' containers with OVS, the controller and nova-compute), and the drop in MemAvailable. A cold bring-up needs
the caches under /var/cache/ndu-lab removed, which this script never does: the first `make lab-up` of a fresh
machine is the cold figure, given with --cold-seconds (and where it came from with --cold-note).
The lab is left up with the backend measured.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import REPO, VENV, exit_cleanly_on_term, fmt, header, lab_lock, loadavg, log, machine, md_table, now, stats, write_results

NAME = "lab_up"
LABCTL = [str(VENV / "bin" / "python"), str(REPO / "tests" / "lab" / "labctl.py")]


def pids() -> set[int]:
    return {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def mem_available_kib() -> int:
    return next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemAvailable"))


def one_round(network: str) -> dict[str, Any]:
    down = subprocess.run([*LABCTL, "down"], capture_output=True, text=True, timeout=900, check=False)
    if down.returncode != 0:
        raise RuntimeError(f"labctl down failed:\n{(down.stdout + down.stderr)[-2000:]}")
    time.sleep(5)
    before, avail_before = pids(), mem_available_kib()
    started = time.monotonic()
    up = subprocess.run([*LABCTL, "up", "--network", network], capture_output=True, text=True, timeout=2400, check=False)
    seconds = round(time.monotonic() - started, 1)
    if up.returncode != 0:
        raise RuntimeError(f"labctl up --network {network} failed:\n{(up.stdout + up.stderr)[-3000:]}")
    time.sleep(20)  # let the services settle (workers forked, agents reported)
    new = pids() - before
    return {"up_s": seconds, "rss_mib": round(sum(rss_kib(p) for p in new) / 1024, 1), "processes": len(new),
            "mem_available_drop_mib": round((avail_before - mem_available_kib()) / 1024, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", choices=("ovn", "ovs"), required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cold-seconds", type=float, help="a cold bring-up of this backend timed elsewhere (fresh caches)")
    ap.add_argument("--cold-note", default="", help="where the cold figure comes from")
    args = ap.parse_args()
    exit_cleanly_on_term()
    doc: dict[str, Any] = {"benchmark": NAME, "backend": args.network, "machine": machine(), "started": now(), "load_start": loadavg(),
                           "rounds": args.rounds, "cold_up_s": args.cold_seconds, "cold_note": args.cold_note, "round_results": []}
    for n in range(args.rounds):
        with lab_lock() as waited:
            log(f"lab up ({args.network}) round {n + 1}/{args.rounds} (waited {waited:.0f} s for the lab lock)")
            doc["round_results"].append({"round": n + 1, **one_round(args.network)})
            log(f"  {doc['round_results'][-1]}")
    rr = doc["round_results"]
    doc.update(finished=now(), load_end=loadavg(), summary={
        "warm_up_s": stats([r["up_s"] for r in rr]), "rss_mib": stats([r["rss_mib"] for r in rr]),
        "mem_available_drop_mib": stats([r["mem_available_drop_mib"] for r in rr]), "cold_up_s": args.cold_seconds})
    s = doc["summary"]
    cold = f"{args.cold_seconds:.0f} ({args.cold_note})" if args.cold_seconds else "not measured here"
    table = md_table(["figure", "value"], [["warm `labctl up` (s)", fmt(s["warm_up_s"])],
                                           ["cold `labctl up` (s)", cold],
                                           ["RSS of the lab's processes (MiB)", fmt(s["rss_mib"], 0)],
                                           ["MemAvailable drop (MiB)", fmt(s["mem_available_drop_mib"], 0)]])
    path = write_results(f"{NAME}-{args.network}", doc, header(f"Lab up ({args.network})", doc) + "\n" + table + "\n")
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
