# SPDX-License-Identifier: Apache-2.0
"""P1 dataplane: packets the instances on a host lose while its Open vSwitch is upgraded with them on it
(strategy in_place), naive apt-get vs the collection's install + switch-over, on the lab's network backend.

    .venv/bin/python bench/p1_dataplane.py [--rounds 3] [--host compute1] [--instances 2]

Setup: ``--instances`` servers booted pinned to the host, each with a port on the tenant network (the lab's
controller, ovn-controller or neutron-openvswitch-agent, programs br-int for them). Per round, with the lab lock
held, both paths in alternating order, each after a reset of the host and with ONE probe session (the collection's
per-instance probe from the lab's probe host, UDP 200 pkt/s to each instance, round trip) around the whole path:

- naive: `apt-get install -y --only-upgrade openvswitch-common openvswitch-switch` to +lab1 (the postinst stops and
  starts both daemons), then nothing: the controller has to put the flows back itself. The benchmark waits (short
  probes, at most --recover seconds) until every instance answers again; "flows back after" is the end of the last
  gap after the install ended, "never" when an instance did not answer within --recover seconds.
- collection: bench/playbooks/inplace.yml `--tags ovs_upgrade` (restarts suppressed), then `--tags ovs_reload`
  (flow-preserving switch-over), then the same wait.

Each instance's gaps are attributed to the step they overlap (install, after the install / switch-over). Reset:
the original packages with every service action denied, OVS restarted on the old binary, `ndu-lab-dataplane apply`
(re-hands the host to its controller), the ovs_reload drop-in removed unless it was there; then the wait until
every instance answers.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import probe
from common import (DROPIN, LAB1, PACKAGES, REPO, dataplane, ensure_lab, exit_cleanly_on_term, fmt, header, host_state,
                    lab_connect, lab_lock, loadavg, log, machine, md_table, now, playbook, reset, sh, stats, wait_quiet, write_results)

NAME = "p1_dataplane"
PLAYBOOK = str(REPO / "bench" / "playbooks" / "inplace.yml")
PAD = 1.0  # seconds of probe before the first step and after the wait


def run_path(path: str, host: str, dp: Any, targets: list[dict[str, str]], recover: float) -> dict[str, Any]:
    session = probe.Probe(dp, targets, label=f"p1-{path}")
    time.sleep(PAD)
    windows = []
    t0 = time.time()
    if path == "naive":
        sh(host, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "--only-upgrade", *PACKAGES, timeout=300)
        t1 = time.time()
        windows.append({"label": "install", "start": t0, "end": t1})
        switch_end = t1
    else:
        rc, _s, out = playbook(PLAYBOOK, {"ovs_upgrade_target_version": LAB1}, limit=host, tags="ovs_upgrade")
        t1 = time.time()
        if rc != 0:
            session.stop()
            raise RuntimeError(f"ovs_upgrade failed on {host} (rc {rc}):\n{out[-3000:]}")
        windows.append({"label": "install", "start": t0, "end": t1})
        rc, _s, out = playbook(PLAYBOOK, {"ovs_upgrade_target_version": LAB1}, limit=host, tags="ovs_reload")
        switch_end = time.time()
        if rc != 0:
            session.stop()
            raise RuntimeError(f"ovs_reload failed on {host} (rc {rc}):\n{out[-3000:]}")
    back_s = probe.wait_answering(dp, targets, recover)
    t_end = time.time()
    windows.append({"label": "switchover", "start": t1, "end": t_end})  # the switch-over, or (naive) after the install
    time.sleep(PAD)
    report = session.stop()
    per = probe.split(report, windows)
    after = [p["last_gap_end"] for p in per.values() if p["last_gap_end"] and p["last_gap_end"] > t1]
    return {
        "install_s": round(t1 - t0, 2), "switchover_s": round(switch_end - t1, 2),
        "answering_after_s": back_s,  # from the end of the last step to every instance answering (None: never)
        "flows_back_after_install_s": (round(max(after) - t1, 2) if after else 0.0) if back_s is not None else None,
        "install_lost": sum(p["by_window"].get("install", {}).get("lost", 0) for p in per.values()),
        "switchover_lost": sum(p["by_window"].get("switchover", {}).get("lost", 0) for p in per.values()),
        "other_lost": sum(p["by_window"].get("other", {}).get("lost", 0) for p in per.values()),
        "lost": report["lost"], "sent": report["sent"], "longest_gap_ms": report["longest_gap_ms"],
        "worst": report["worst"], "instances": per, "after": host_state(host),
    }


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in ("naive", "collection"):
        runs = [r[path] for r in rounds]
        keys = ("install_lost", "switchover_lost", "lost", "longest_gap_ms", "install_s", "switchover_s",
                "flows_back_after_install_s")
        out[path] = {key: stats([x[key] for x in runs]) for key in keys}
        out[path]["never_back_rounds"] = sum(1 for x in runs if x["answering_after_s"] is None)
        out[path]["worst_instance_lost"] = stats([x["worst"]["lost"] for x in runs])
    ratios = [r["collection"]["switchover_lost"] / max(r["naive"]["lost"], 1) for r in rounds]
    out["switchover_vs_naive"] = stats(ratios)
    out["goals"] = {
        "collection_install_lost_zero": all(r["collection"]["install_lost"] == 0 for r in rounds),
        "switchover_at_most_half_naive": out["switchover_vs_naive"]["median"] is not None and out["switchover_vs_naive"]["median"] <= 0.5,
    }
    return out


def markdown(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    rows = []
    for path, label in (("naive", "naive `apt-get install --only-upgrade`"), ("collection", "collection ovs_upgrade + ovs_reload")):
        p = s[path]
        back = fmt(p["flows_back_after_install_s"]) + (f" ({p['never_back_rounds']} round(s) never)" if p["never_back_rounds"] else "")
        rows.append([label, fmt(p["install_lost"], 0), fmt(p["switchover_lost"], 0), fmt(p["lost"], 0), fmt(p["worst_instance_lost"], 0),
                     fmt(p["longest_gap_ms"], 0), back, fmt(p["install_s"]), fmt(p["switchover_s"])])
    table = md_table(["path", "lost during install", "lost during switch-over / after install", "lost in all (all instances)",
                      "worst instance lost", "longest gap (ms)", "flows back (s after install)", "install (s)", "switch-over (s)"], rows)
    g = s["goals"]
    return (header(f"P1 dataplane ({doc['backend']}): packets the instances on a host lose while its Open vSwitch is upgraded", doc) +
            f"\nHost under test `{doc['host']}` with {doc['instances']} instance(s) on it (strategy in_place); probe: {doc['probe']}.\n\n"
            f"{table}\n\n"
            f"Naive: nothing re-programs the flows but the controller ({doc['backend']}); \"flows back\" is when the last "
            f"instance answered again after the install ended.\n\n"
            f"- collection switch-over loss / naive loss in all: {fmt(s['switchover_vs_naive'], 3)} "
            f"(goal ≤ 0.5: {'met' if g['switchover_at_most_half_naive'] else 'NOT met'})\n"
            f"- collection lost during install: 0 in every round? {'yes' if g['collection_install_lost_zero'] else 'NO'} (goal 0)\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--host", default="compute1")
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument("--recover", type=float, default=60.0, help="seconds the naive path waits for the controller")
    args = ap.parse_args()
    exit_cleanly_on_term()
    dp = dataplane.read()
    name = f"{NAME}-{dp.backend}"
    doc: dict[str, Any] = {"benchmark": NAME, "backend": dp.backend, "machine": machine(), "started": now(), "load_start": loadavg(),
                           "rounds": args.rounds, "host": args.host, "instances": args.instances,
                           "probe": f"UDP {probe.RATE} pkt/s round trip to each instance from {dp.probe_host}/{dp.probe_ns} "
                                    "(roles/flow_verify/files/ndu_udp_probe.py)",
                           "others_running": wait_quiet(60), "round_results": []}
    had_dropin: bool | None = None
    conn = None
    ids: list[str] = []
    try:
        for n in range(args.rounds):
            busy = wait_quiet(30)
            with lab_lock() as waited:
                log(f"P1 ({dp.backend}) round {n + 1}/{args.rounds} (waited {waited:.0f} s for the lab lock)")
                relabbed = ensure_lab()
                if conn is None or relabbed:
                    conn = lab_connect()
                    ids = dataplane.boot(conn, [(f"ndu-bench-p1-{args.host}-{i}", args.host) for i in range(args.instances)], dp.network)
                targets = dataplane.targets(conn, ids, dp.network)
                if had_dropin is None or relabbed:
                    had_dropin = sh(args.host, "test", "-e", DROPIN, check=False).returncode == 0
                order = ("naive", "collection") if n % 2 == 0 else ("collection", "naive")
                result: dict[str, Any] = {"round": n + 1, "order": order, "lock_wait_s": round(waited, 1), "others_running": busy,
                                          "lab_brought_up": relabbed}
                for path in order:
                    reset(args.host, had_dropin)
                    if probe.wait_answering(dp, targets, 120) is None:
                        raise RuntimeError(f"after the reset of {args.host} its instances do not answer the probe")
                    result[path] = run_path(path, args.host, dp, targets, args.recover)
                    r = result[path]
                    log(f"  {path}: install lost {r['install_lost']}, switch-over/after lost {r['switchover_lost']}, "
                        f"flows back after {r['flows_back_after_install_s']} s, worst {r['worst']['name']} lost {r['worst']['lost']}")
                reset(args.host, had_dropin)
            doc["round_results"].append(result)
    finally:
        with lab_lock():
            reset(args.host, bool(had_dropin))
            if conn is not None and ids:
                for server_id in ids:
                    conn.compute.delete_server(server_id, ignore_missing=True)
    doc.update(finished=now(), load_end=loadavg(), summary=summarise(doc["round_results"]))
    path = write_results(name, doc, markdown(doc))
    print(path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
