# SPDX-License-Identifier: Apache-2.0
"""Roll loss: what every instance loses during a full roll of the lab with strategy evacuate, and which part of it
came from its live-migration moves, on the lab's network backend.

    .venv/bin/python bench/roll_loss.py [--rounds 3] [--per-host 1]

Per round, with the lab lock held: every compute reset to the original packages (as in P1), ``--per-host`` servers
booted on each compute with a port on the tenant network, then `ndu.dataplane.rolling_upgrade` to +lab1 with its
defaults (batches [1, 2, '25%'], strategy evacuate) and its per-instance probe from the lab's probe host (UDP 200
pkt/s round trip to each instance for the whole roll). From the roll's report: per instance, sent, lost, longest
gap, and each gap attributed to "live_migration" when it overlaps the live_migrate step (±1 s: the report's times are
whole seconds) of a host that moved this instance, "other" otherwise. Servers deleted and hosts reset afterwards.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import probe
from common import (DROPIN, LAB1, LAB_DIR, dataplane, ensure_lab, exit_cleanly_on_term, fmt, header, lab_connect, lab_lock, loadavg, log,
                    machine, md_table, now, playbook, reset, sh, stats, wait_quiet, write_results)

NAME = "roll_loss"
PREFIX = "ndu-bench-roll-"
LAB_VARS = {"ndu_reboot_boot_time_command": "cut -d' ' -f22 /proc/1/stat"}


def _epoch(stamp: str | None) -> float | None:
    return datetime.fromisoformat(stamp).timestamp() if stamp else None


def migration_windows(report: dict[str, Any], server_id: str) -> list[dict[str, Any]]:
    """The live_migrate steps (±1 s) of the hosts that moved ``server_id`` in this roll."""
    windows = []
    for entry in report["hosts"].values():
        if not any(i["id"] == server_id and i["status"] == "moved" for i in entry.get("instances_moved") or []):
            continue
        for step in entry.get("timeline") or []:
            if step["step"] == "live_migrate" and step["started"] and step["finished"]:
                windows.append({"label": "live_migration", "start": _epoch(step["started"]) - 1, "end": _epoch(step["finished"]) + 1})
    return windows


def analyse(report: dict[str, Any]) -> dict[str, Any]:
    section = report.get("probe") or {}
    if not section or section.get("failed"):
        raise RuntimeError(f"the roll's report has no probe figures: {section}")
    per = {}
    for server_id, entry in section["instances"].items():
        by = probe.udp_probe.attribute_gaps(entry["gaps"], migration_windows(report, server_id))
        per[server_id] = {"name": entry["name"], "host_at_start": entry.get("host_at_start"), "sent": entry["sent"], "lost": entry["lost"],
                          "longest_gap_ms": entry["longest_gap_ms"], "gaps_total": entry["gaps_total"],
                          "lost_in_migration": by.get("live_migration", {}).get("lost", 0), "lost_other": by.get("other", {}).get("lost", 0),
                          "moves": sum(1 for h in report["hosts"].values() for i in h.get("instances_moved") or []
                                       if i["id"] == server_id and i["status"] == "moved")}
    return {"result": report["result"], "seconds": report["seconds"], "sent": section["sent"], "lost": section["lost"],
            "worst": section["worst"], "instances": per,
            "lost_in_migration": sum(p["lost_in_migration"] for p in per.values()), "lost_other": sum(p["lost_other"] for p in per.values())}


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    inst = [i for r in rounds for i in r["instances"].values()]
    return {
        "roll_s": stats([r["seconds"] for r in rounds]),
        "lost_all_instances": stats([r["lost"] for r in rounds]),
        "lost_per_instance": stats([i["lost"] for i in inst]),
        "worst_instance_lost": stats([r["worst"]["lost"] for r in rounds]),
        "longest_gap_ms": stats([i["longest_gap_ms"] for i in inst]),
        "lost_in_migration": stats([r["lost_in_migration"] for r in rounds]),
        "lost_other": stats([r["lost_other"] for r in rounds]),
        "migration_share": stats([r["lost_in_migration"] / r["lost"] if r["lost"] else None for r in rounds]),
        "lost_per_move": stats([i["lost_in_migration"] / i["moves"] for i in inst if i["moves"]]),
        "instances": len(inst),
    }


def markdown(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    rows = [["lost, all instances, per roll", fmt(s["lost_all_instances"], 0)],
            ["lost per instance", fmt(s["lost_per_instance"], 0)],
            ["worst instance of the roll", fmt(s["worst_instance_lost"], 0)],
            ["longest gap per instance (ms)", fmt(s["longest_gap_ms"], 0)],
            ["of the roll's loss: during live-migration moves", fmt(s["lost_in_migration"], 0)],
            ["of the roll's loss: elsewhere (switch-over, other)", fmt(s["lost_other"], 0)],
            ["share from the moves", fmt(s["migration_share"], 2)],
            ["lost per live-migration move", fmt(s["lost_per_move"], 0)],
            ["roll (s)", fmt(s["roll_s"])]]
    return (header(f"Roll loss ({doc['backend']}): a full roll with evacuate, per instance", doc) +
            f"\n`ndu.dataplane.rolling_upgrade` to `{LAB1}`, defaults (evacuate), {doc['per_host']} server(s) per compute; "
            f"probe: {doc['probe']}.\n\n" + md_table(["figure", "value"], rows) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--per-host", type=int, default=1)
    args = ap.parse_args()
    exit_cleanly_on_term()
    dp = dataplane.read()
    doc: dict[str, Any] = {"benchmark": NAME, "backend": dp.backend, "machine": machine(), "started": now(), "load_start": loadavg(),
                           "rounds": args.rounds, "per_host": args.per_host,
                           "probe": f"UDP {probe.RATE} pkt/s round trip to each instance from {dp.probe_host}/{dp.probe_ns}",
                           "others_running": wait_quiet(60), "round_results": []}
    computes = [f"compute{n}" for n in range(1, int(json.loads((LAB_DIR / "lab.json").read_text())["computes"]) + 1)]
    dropins: dict[str, bool] = {}
    conn = lab_connect()

    def clean() -> None:
        mine = [s for s in conn.compute.servers(all_projects=True) if s.name.startswith(PREFIX)]
        for s in mine:
            conn.compute.delete_server(s.id, ignore_missing=True)
        for s in mine:
            conn.compute.wait_for_delete(s, wait=180)
        for host in computes:
            sh(host, "rm", "-f", "/var/lib/ndu-dataplane/rolling-state.json", "/var/lib/ndu-dataplane/rolling-last.json", check=False)
            reset(host, dropins.get(host, False))
    try:
        for n in range(args.rounds):
            busy = wait_quiet(30)
            with lab_lock() as waited:
                log(f"roll loss ({dp.backend}) round {n + 1}/{args.rounds} (waited {waited:.0f} s for the lab lock)")
                ensure_lab()
                for host in computes:
                    dropins.setdefault(host, sh(host, "test", "-e", DROPIN, check=False).returncode == 0)
                clean()
                ids = dataplane.boot(conn, [(f"{PREFIX}{h}-{i}", h) for h in computes for i in range(args.per_host)], dp.network)
                with tempfile.TemporaryDirectory() as tmp:
                    report_path = Path(tmp) / "report.json"
                    rc, seconds, out = playbook("ndu.dataplane.rolling_upgrade", {**LAB_VARS, **dp.roll_vars(), "ndu_target_version": LAB1,
                                                                                  "ndu_report_path": str(report_path)})
                    if rc != 0 or not report_path.exists():
                        raise RuntimeError(f"the roll failed (rc {rc}):\n{out[-4000:]}")
                    report = json.loads(report_path.read_text())
                result = {"round": n + 1, "lock_wait_s": round(waited, 1), "others_running": busy, "playbook_s": seconds,
                          "servers": ids, **analyse(report)}
                log(f"  lost {result['lost']} of {result['sent']}; in migrations {result['lost_in_migration']}, other {result['lost_other']}; "
                    f"worst {result['worst']['name']} {result['worst']['lost']}")
                doc["round_results"].append(result)
                clean()
    finally:
        with lab_lock():
            clean()
    doc.update(finished=now(), load_end=loadavg(), summary=summarise(doc["round_results"]))
    path = write_results(f"{NAME}-{dp.backend}", doc, markdown(doc))
    print(path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
