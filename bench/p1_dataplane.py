# SPDX-License-Identifier: Apache-2.0
"""P1 dataplane: packets lost while Open vSwitch is upgraded, naive apt-get vs the collection's in-place path.

    .venv/bin/python bench/p1_dataplane.py [--rounds 5] [--host compute1] [--peer compute2]

Per round, with the lab lock held: reset the host, run path A, reset, run path B, reset (the order alternates).
Each path runs in two steps, each counted by its own probe session (one UDP flow each way at 1000 pkt/s between
<peer>/vm1 and <host>/vm1, so every packet crosses the host's br-int, VXLAN tunnel and br-phy):

- naive: (1) `apt-get install --only-upgrade openvswitch-common openvswitch-switch` (the postinst restarts OVS);
  (2) the flows put back with `ndu-lab-dataplane apply`, as the lab's boot unit (standing in for the controller)
  does, when the restart left br-int empty;
- collection: (1) the ovs_upgrade role (restarts suppressed), (2) the ovs_reload role (flow-preserving reload),
  both through bench/playbooks/inplace.yml.

Reset: downgrade to the original packages with every service action denied (policy-rc.d), restart OVS on the old
binary and re-apply the lab's flows, as the lab's boot unit does; remove the ovs_reload drop-in unless it was there.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

import probe
from common import (DROPIN, LAB1, PACKAGES, REPO, ensure_lab, exit_cleanly_on_term, fmt, header, host_state, lab_lock, loadavg,
                    log, machine, md_table, now, playbook, reset, sh, stats, wait_quiet, write_results)
from probe import Flow, Session

NAME = "p1_dataplane"
PLAYBOOK = str(REPO / "bench" / "playbooks" / "inplace.yml")
PAD = 0.5  # seconds of probe before and after each step


def naive(host: str, flows: list[Flow]) -> dict[str, Any]:
    session = Session(flows)
    time.sleep(PAD)
    started = time.monotonic()
    sh(host, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "--only-upgrade", *PACKAGES, timeout=300)
    install_s = time.monotonic() - started
    install = session.stop()
    after_install = host_state(host)
    session = Session(flows)
    started = time.monotonic()
    reprogrammed = not after_install["dataplane_ok"]
    if reprogrammed:
        sh(host, "ndu-lab-dataplane", "apply")
    switch_s = time.monotonic() - started
    time.sleep(PAD)
    switch = session.stop()
    return {"install": install, "install_s": round(install_s, 2), "switchover": switch, "switchover_s": round(switch_s, 2),
            "reprogrammed": reprogrammed, "after_install": after_install, "after": host_state(host)}


def collection(host: str, flows: list[Flow]) -> dict[str, Any]:
    extra = {"ovs_upgrade_target_version": LAB1}
    steps: dict[str, Any] = {}
    for step, tag in (("install", "ovs_upgrade"), ("switchover", "ovs_reload")):
        session = Session(flows)
        time.sleep(PAD)
        rc, seconds, out = playbook(PLAYBOOK, extra, limit=host, tags=tag)
        time.sleep(PAD)
        steps[step] = session.stop()
        steps[f"{step}_s"] = seconds
        if rc != 0:
            raise RuntimeError(f"the {tag} step failed on {host} (rc {rc}):\n{out[-3000:]}")
        if step == "install":
            steps["after_install"] = host_state(host)
    after = host_state(host)
    steps["reprogrammed"] = not after["dataplane_ok"]
    if steps["reprogrammed"]:
        sh(host, "ndu-lab-dataplane", "apply")
    steps["after"] = after
    return steps


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in ("naive", "collection"):
        runs = [r[path] for r in rounds]
        out[path] = {
            "install_lost": stats([x["install"]["lost"] for x in runs]),
            "switchover_lost": stats([x["switchover"]["lost"] for x in runs]),
            "total_lost": stats([x["install"]["lost"] + x["switchover"]["lost"] for x in runs]),
            "longest_gap_ms": stats([max(x["install"]["longest_gap_ms"], x["switchover"]["longest_gap_ms"]) for x in runs]),
            "install_s": stats([x["install_s"] for x in runs]),
            "switchover_s": stats([x["switchover_s"] for x in runs]),
            "reprogrammed_rounds": sum(1 for x in runs if x["reprogrammed"]),
        }
    ratios = [r["collection"]["switchover"]["lost"] / max(r["naive"]["install"]["lost"] + r["naive"]["switchover"]["lost"], 1)
              for r in rounds]
    out["switchover_vs_naive"] = stats(ratios)
    out["goals"] = {
        "collection_install_lost_zero": all(r["collection"]["install"]["lost"] == 0 for r in rounds),
        "switchover_at_most_half_naive": out["switchover_vs_naive"]["median"] is not None and out["switchover_vs_naive"]["median"] <= 0.5,
    }
    return out


def markdown(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    rows = []
    for path, label in (("naive", "naive `apt-get install --only-upgrade`"), ("collection", "collection ovs_upgrade + ovs_reload")):
        p = s[path]
        rows.append([label, fmt(p["install_lost"], 0), fmt(p["switchover_lost"], 0), fmt(p["total_lost"], 0),
                     fmt(p["longest_gap_ms"], 0), fmt(p["install_s"]), fmt(p["switchover_s"]),
                     f"{p['reprogrammed_rounds']}/{doc['rounds']}"])
    table = md_table(["path", "lost during install", "lost during switch-over", "lost in all", "longest gap (ms)",
                      "install (s)", "switch-over (s)", "flows re-programmed"], rows)
    g = s["goals"]
    return (header("P1 dataplane: packets lost while Open vSwitch is upgraded", doc) +
            f"\nHost under test `{doc['host']}`; probe: {doc['probe']}.\n\n{table}\n\n"
            f"Naive: the switch-over column is the step that re-programs the flows the postinst restart removed "
            f"(`ndu-lab-dataplane apply`, the lab's stand-in for the controller).\n\n"
            f"- collection switch-over loss / naive loss in all: {fmt(s['switchover_vs_naive'], 3)} "
            f"(goal ≤ 0.5: {'met' if g['switchover_at_most_half_naive'] else 'NOT met'})\n"
            f"- collection lost during install: 0 in every round? {'yes' if g['collection_install_lost_zero'] else 'NO'} (goal 0)\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--host", default="compute1")
    ap.add_argument("--peer", default="compute2")
    args = ap.parse_args()
    exit_cleanly_on_term()
    hosts = json.loads((probe.LAB_HOSTS).read_text())
    ip = {h: next(w["ip"] for w in hosts[h]["ndu_lab_workloads"] if w["name"] == "vm1") for h in (args.host, args.peer)}
    flows = [Flow(args.peer, "vm1", args.host, "vm1", ip[args.host], 5991), Flow(args.host, "vm1", args.peer, "vm1", ip[args.peer], 5992)]
    doc: dict[str, Any] = {"benchmark": NAME, "machine": machine(), "started": now(), "load_start": loadavg(),
                           "rounds": args.rounds, "host": args.host,
                           "probe": f"UDP 1000 pkt/s each way, {args.peer}/vm1 ⇄ {args.host}/vm1 (roles/flow_verify/files/ndu_udp_probe.py)",
                           "others_running": wait_quiet(60), "round_results": []}
    had_dropin: bool | None = None
    try:
        for n in range(args.rounds):
            busy = wait_quiet(30)
            with lab_lock() as waited:
                log(f"P1 round {n + 1}/{args.rounds} (waited {waited:.0f} s for the lab lock)")
                relabbed = ensure_lab()
                probe.install([args.host, args.peer])  # again each round: a host may have been recreated meanwhile
                if had_dropin is None or relabbed:  # read under the lock: another job's roll may be installing it
                    had_dropin = sh(args.host, "test", "-e", DROPIN, check=False).returncode == 0
                order = ("naive", "collection") if n % 2 == 0 else ("collection", "naive")
                result: dict[str, Any] = {"round": n + 1, "order": order, "lock_wait_s": round(waited, 1), "others_running": busy,
                                          "lab_brought_up": relabbed}
                for path in order:
                    reset(args.host, had_dropin)
                    result[path] = (naive if path == "naive" else collection)(args.host, flows)
                    log(f"  {path}: install lost {result[path]['install']['lost']}, switch-over lost "
                        f"{result[path]['switchover']['lost']}, longest gap {result[path]['switchover']['longest_gap_ms']} ms")
                reset(args.host, had_dropin)
            doc["round_results"].append(result)
    finally:
        with lab_lock():
            reset(args.host, bool(had_dropin))
        probe.uninstall([args.host, args.peer])
    doc.update(finished=now(), load_end=loadavg(), summary=summarise(doc["round_results"]))
    path = write_results(NAME, doc, markdown(doc))
    print(path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
