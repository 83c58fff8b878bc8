# SPDX-License-Identifier: Apache-2.0
"""P3 orchestration overhead: what a full roll of the lab's hosts costs per host beyond migrations and reboots.

    .venv/bin/python bench/p3_overhead.py [--rounds 5] [--servers-per-host 1] [--duration 2]

Boots --servers-per-host servers on every compute (each live migration takes --duration s in the lab driver),
then per round, with the lab lock held: resets every host to the original Open vSwitch packages (as P1 does) and
runs `ndu.dataplane.rolling_upgrade` to the +lab1 packages with its defaults (batches [1, 2, '25%'], evacuate).
From the roll's JSON report (docs/report-schema.md), per host:

    overhead = host seconds - time in migrations - time in reboots

where time in migrations is the smaller of the live_migrate step and the sum of the seconds of the host's
instances (moved or not; they may overlap), and time in reboots the reboot step when the host really rebooted.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from common import (DROPIN, LAB1, VENV, ensure_lab, exit_cleanly_on_term, fmt, header, lab_env, lab_lock, loadavg, log, machine, md_table, now,
                    playbook, reset, sh, stats, wait_quiet, write_results)
from p2_drain import PREFIX, Cloud, set_behaviour

NAME = "p3_overhead"
STATE_FILES = ("/var/lib/ndu-dataplane/rolling-state.json", "/var/lib/ndu-dataplane/rolling-last.json")
LAB_VARS = {"ndu_reboot_boot_time_command": "cut -d' ' -f22 /proc/1/stat"}
STEPS = ("preflight", "drain", "live_migrate", "flow_snapshot", "ovs_upgrade", "ovs_reload", "flow_verify", "reboot", "undrain")


def overhead(entry: dict[str, Any]) -> dict[str, Any]:
    """One host of the report: wall, migrations, reboots, overhead and seconds per step."""
    if entry["status"] != "rolled":
        return {"status": entry["status"], "seconds": None, "migrations_s": None, "reboots_s": None, "overhead_s": None, "steps": {}}
    steps = {t["step"]: t["seconds"] or 0.0 for t in entry.get("timeline", [])}
    moved = sum(i["seconds"] for i in entry.get("instances_moved", []) + entry.get("instances_returned", []))  # failed attempts too
    migrations = min(moved, steps.get("live_migrate", 0.0)) if moved else 0.0
    reboots = steps.get("reboot", 0.0) if (entry.get("reboot") or {}).get("rebooted") else 0.0
    return {"status": entry["status"], "seconds": entry["seconds"], "migrations_s": round(migrations, 1),
            "reboots_s": round(reboots, 1), "overhead_s": round(entry["seconds"] - migrations - reboots, 1), "steps": steps}


# ansible.posix.profile_tasks: per task, the time from its start to the next task's start (all hosts of a batch
# run it together). Its recap lists every task as "<role> : <name> ---- 1.23s".
PROFILE_ENV = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all"}
RECAP_LINE = re.compile(r"^(?P<name>.+?) -{3,} (?P<s>\d+\.\d+)s$")


def profile(out: str) -> dict[str, Any]:
    """Seconds and task count per role ('playbook' for the playbook's own tasks) from the profile_tasks recap."""
    recap = out[out.rfind("TASKS RECAP"):] if "TASKS RECAP" in out else ""
    by_role: dict[str, dict[str, Any]] = {}
    tasks: dict[str, float] = {}
    for line in recap.splitlines():
        m = RECAP_LINE.match(line.strip())
        if not m:
            continue
        name, secs = m["name"].strip(), float(m["s"])
        role = name.split(" : ", 1)[0].removeprefix("ndu.dataplane.") if " : " in name else "playbook"
        entry = by_role.setdefault(role, {"seconds": 0.0, "tasks": 0})
        entry["seconds"] = round(entry["seconds"] + secs, 2)
        entry["tasks"] += 1
        tasks[name] = round(tasks.get(name, 0.0) + secs, 2)
    return {"by_role": by_role, "top_tasks": dict(sorted(tasks.items(), key=lambda kv: -kv[1])[:25])}


def pipelining(tmp: Path) -> tuple[dict[str, str], str]:
    """Environment and inventory for --connection pipelining: the lab's inventory with every podman host reached
    through community.docker.docker (a `docker` shim runs podman) with ANSIBLE_PIPELINING; the hosts are the same."""
    inventory = yaml.safe_load(Path(lab_env()["NDU_LAB_INVENTORY"]).read_text())

    def walk(group: dict[str, Any]) -> None:
        for hostvars in (group.get("hosts") or {}).values():
            if (hostvars or {}).get("ansible_connection") == "containers.podman.podman":
                hostvars["ansible_connection"] = "community.docker.docker"
        for child in (group.get("children") or {}).values():
            walk(child or {})
    walk(inventory["all"])
    (tmp / "shim").mkdir(exist_ok=True)
    if not (tmp / "shim" / "docker").exists():
        (tmp / "shim" / "docker").symlink_to(shutil.which("podman") or "/usr/bin/podman")
    (tmp / "inventory.yml").write_text(yaml.safe_dump(inventory))
    return ({"ANSIBLE_PIPELINING": "true", "PATH": f"{tmp / 'shim'}:{VENV / 'bin'}:{os.environ.get('PATH', '')}"},
            str(tmp / "inventory.yml"))


def roll(report: Path, hosts: list[str], connection: str = "lab") -> dict[str, Any]:
    extra = {**LAB_VARS, "ndu_target_version": LAB1, "ndu_report_path": str(report), "ndu_hosts": ":".join(hosts)}
    env, inventory = pipelining(report.parent) if connection == "pipelining" else ({}, None)
    rc, seconds, out = playbook("ndu.dataplane.rolling_upgrade", extra, env_extra={**PROFILE_ENV, **env}, inventory=inventory)
    if rc != 0 or not report.exists():
        raise RuntimeError(f"the roll failed (rc {rc}):\n{out[-3000:]}")
    data = json.loads(report.read_text())
    if data["result"] != "succeeded":
        raise RuntimeError(f"the roll ended '{data['result']}': {json.dumps(data['totals'])}")
    return {"rolled_hosts": hosts, "playbook_s": seconds, "report_s": data["seconds"],
            "hosts": {h: overhead(e) for h, e in data["hosts"].items()}, "profile": profile(out)}


def markdown(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    rows = [[h, fmt(v["seconds"]), fmt(v["migrations_s"]), fmt(v["reboots_s"]), fmt(v["overhead_s"]),
             "–" if not v["overhead_s"]["n"] else "met" if v["overhead_s"]["median"] <= 15 else "NOT met"] for h, v in s["hosts"].items()]
    steps = [[step, *(fmt(s["hosts"][h]["steps"][step]) for h in s["hosts"])] for step in STEPS]
    return (header("P3 orchestration overhead: a full roll of the lab's hosts", doc) +
            f"\n`ndu.dataplane.rolling_upgrade` to `{LAB1}` with its defaults (batches [1, 2, '25%'], strategy evacuate, "
            f"no probe) on {' / '.join(f'`{x}`' for x in s['rolled_hosts'])} (the lab's computes without other jobs' servers), "
            f"{doc['servers_per_host']} server(s) per host booted at the start, each live migration "
            f"{doc['duration_s']} s in the lab driver. Whole roll: {fmt(s['roll_s'])} s (report), "
            f"{fmt(s['playbook_s'])} s (ansible-playbook)." +
            ("" if doc.get("connection", "lab") == "lab" else
             " **Connection: not the lab's.** Every host is reached through `community.docker.docker` (a `docker` shim runs "
             "podman) with `ANSIBLE_PIPELINING`: one exec per task instead of five; the hosts, the collection and the roll "
             "are the same.") + "\n\n" +
            md_table(["host", "host wall (s)", "in migrations (s)", "in reboots (s)", "overhead (s)", "goal ≤ 15 s"], rows) +
            "\n\nSeconds per step of the timeline:\n\n" + md_table(["step", *s["hosts"]], steps) + "\n" + profile_markdown(doc))


def profile_markdown(doc: dict[str, Any]) -> str:
    """Where the roll's time goes, from ansible.posix.profile_tasks: per role, median over the rounds."""
    profiles = [r["profile"] for r in doc["round_results"] if r.get("profile", {}).get("by_role")]
    if not profiles:
        return ""
    roles = sorted({role for p in profiles for role in p["by_role"]},
                   key=lambda role: -statistics.median(p["by_role"].get(role, {}).get("seconds", 0.0) for p in profiles))
    rows = [[role, fmt(stats([p["by_role"].get(role, {}).get("seconds") for p in profiles])),
             fmt(stats([p["by_role"].get(role, {}).get("tasks") for p in profiles]), 0)] for role in roles]
    return ("\nWhere the whole roll's time goes (`ansible.posix.profile_tasks`, every host and batch together; a task's time "
            "runs from its start to the next task's start; tasks skipped by a condition count too):\n\n" +
            md_table(["role (or the playbook's own tasks)", "seconds in the roll", "tasks run"], rows) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--servers-per-host", type=int, default=1)
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--connection", choices=["lab", "pipelining"], default="lab",
                    help="lab: the lab's inventory as it is; pipelining: the same hosts through community.docker.docker "
                         "(podman behind a docker shim) with ANSIBLE_PIPELINING, to show what the connection costs; "
                         "results go to p3_overhead_pipelining.*")
    args = ap.parse_args()
    exit_cleanly_on_term()
    cloud = Cloud()
    hosts = sorted(s["host"] for s in cloud.api("get", "/os-services?binary=nova-compute", mv="2.53")["services"])
    doc: dict[str, Any] = {"benchmark": NAME, "machine": machine(), "started": now(), "load_start": loadavg(),
                           "rounds": args.rounds, "servers_per_host": args.servers_per_host, "duration_s": args.duration,
                           "connection": args.connection,
                           "others_running": wait_quiet(60), "round_results": []}
    found: dict[str, dict[str, Any]] = {}  # what the hosts had before the first roll, read under the lock
    disabled_before = cloud.disabled_by_rolls()
    names = [f"{PREFIX}roll-{h}-{n}" for h in hosts for n in range(args.servers_per_host)]
    set_behaviour(names, args.duration)
    try:
        with lab_lock():
            for h in hosts:
                cloud.boot(h, args.servers_per_host, f"{PREFIX}roll-{h}-")
        n = 0
        deadline = time.monotonic() + 1200
        while n < args.rounds:
            busy = wait_quiet(30)
            with lab_lock() as waited, tempfile.TemporaryDirectory() as tmp:
                if ensure_lab():
                    cloud.reconnect()
                mine = [s for s in cloud.servers() if s["name"] in names]
                if len(mine) != len(names):  # another job's teardown took them away
                    cloud.delete_mine()
                    for h in hosts:
                        cloud.boot(h, args.servers_per_host, f"{PREFIX}roll-{h}-")
                # A roll moves every server of the hosts it rolls: roll only hosts without other jobs' servers (at least 2).
                busy_hosts = {s["host"] for s in cloud.servers() if not s["name"].startswith(PREFIX)}
                to_roll = [h for h in hosts if h not in busy_hosts]
                others = [] if len(to_roll) >= 2 else cloud.foreign_on()
                if not found:
                    found.update({h: {"dropin": sh(h, "test", "-e", DROPIN, check=False).returncode == 0,
                                      "state": [f for f in STATE_FILES if sh(h, "test", "-e", f, check=False).returncode == 0]}
                                  for h in hosts})
                if not others:
                    log(f"P3 round {n + 1}/{args.rounds}: rolling {', '.join(to_roll)} (waited {waited:.0f} s for the lab lock)")
                    for h in hosts:
                        reset(h, found[h]["dropin"])
                        sh(h, "rm", "-f", *(f for f in STATE_FILES if f not in found[h]["state"]))
                    result = roll(Path(tmp) / "report.json", to_roll, args.connection)
            if others:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"other jobs' servers stayed on the computes for 20 min: {others}")
                log(f"P3: other jobs' servers on the computes ({len(others)}); waiting 30 s with the lab lock released")
                time.sleep(30)
                continue
            log("  " + ", ".join(f"{h} {v['overhead_s']} s" for h, v in result["hosts"].items()))
            doc["round_results"].append({**result, "lock_wait_s": round(waited, 1), "others_running": busy})
            n += 1
    finally:
        with lab_lock():
            for host, service_id in cloud.disabled_by_rolls().items():
                if host not in disabled_before:
                    log(f"enabling nova-compute on {host}, left disabled by a failed roll")
                    cloud.enable(service_id)
            cloud.delete_mine()
            set_behaviour([], None)
            for h in found:  # hosts this run never rolled are left alone
                reset(h, found[h]["dropin"])
                sh(h, "rm", "-f", *(f for f in STATE_FILES if f not in found[h]["state"]))
    rounds = doc["round_results"]
    hosts = sorted({h for r in rounds for h in r["hosts"]})
    doc["summary"] = {
        "roll_s": stats([r["report_s"] for r in rounds]), "playbook_s": stats([r["playbook_s"] for r in rounds]),
        "hosts": {h: {key: stats([r["hosts"].get(h, {}).get(key) for r in rounds]) for key in ("seconds", "migrations_s", "reboots_s", "overhead_s")}
                  | {"steps": {step: stats([r["hosts"].get(h, {}).get("steps", {}).get(step) for r in rounds]) for step in STEPS}} for h in hosts},
        "rolled_hosts": sorted({":".join(r["rolled_hosts"]) for r in rounds}),
    }
    doc.update(finished=now(), load_end=loadavg())
    path = write_results(NAME if args.connection == "lab" else f"{NAME}_pipelining", doc, markdown(doc))
    print(path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
