# SPDX-License-Identifier: Apache-2.0
"""The rolling upgrade on the lab: a full roll with instances, its no-op re-run, and a broken canary rolled back."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import dataplane
from rollhelpers import BROKEN, LAB1, ORIGINAL, boot, host_state, roll, servers, services, unfolded


def daemons(state: dict[str, Any]) -> dict[str, Any]:
    """What a roll changes on a host, without br-int's flows (they follow the ports the controller programs)."""
    return {key: state[key] for key in ("versions", "vswitchd_pid", "vswitchd_exe", "policy_rc_d", "dataplane_ok")}


def assert_probe_measured(lab: Any, conn: Any, run: Any, ids: list[str]) -> None:
    """Per-instance loss was measured for the whole roll, from outside every rolled host: every instance has figures,
    was sent the probe's rate for the roll's duration (at least half of it: a starved client shifts its schedule), and
    answered before and after; the summary names the worst instance; after the roll every instance answers again."""
    probe = run.report["probe"]
    instances = dataplane.assert_measured(probe, ids, min_sent=int(dataplane.RATE * 20))
    assert probe["rate"] == dataplane.RATE and probe["unanswered"] == []
    for server_id in ids:
        entry = instances[server_id]
        assert dataplane.RATE * probe["duration_s"] / 2 <= entry["sent"] <= dataplane.RATE * probe["duration_s"] + 50, entry
        assert entry["answered_warmup"] is True and entry["host_at_start"] in lab.computes, entry
        assert all(g["end"] >= g["start"] and g["lost"] > 0 for g in entry["gaps"]), entry
    worst = probe["worst"]
    assert worst["id"] in ids and worst["lost"] == max(instances[i]["lost"] for i in ids)
    assert f"worst {worst['name']} ({worst['address']}) lost {worst['lost']} of {worst['sent']}" in unfolded(run.out)
    dp = dataplane.read(lab.lab_dir)
    after = dataplane.Probe(dp, dataplane.targets(conn, ids, dp.network))
    time.sleep(3)
    again_measured = dataplane.assert_measured(after.stop(), ids)
    assert all(e["lost"] <= 2 for e in again_measured.values()), again_measured
    print(f"{dp.backend}: probe {probe['lost']} of {probe['sent']} lost over {len(ids)} instances; worst {worst}")


def test_one_host_roll_with_its_instances(lab: Any, clean_lab: Any, report: Path) -> None:
    """One host rolled with its instance moved away and the probe on it (what make test runs on ML2/OVS)."""
    host, others = lab.computes[0], lab.computes[1:]
    ids = boot(clean_lab, lab.computes, 1)
    on_host = [i for i, s in servers(clean_lab).items() if s["host"] == host]  # what the roll probes: its hosts' instances
    assert len(on_host) == 1, on_host
    before = {h: host_state(h) for h in others}
    run = roll(lab, report, ndu_hosts=host, ndu_target_version=LAB1)
    assert run.rc == 0, run.out[-6000:]

    state = host_state(host)
    assert set(state["versions"].values()) == {LAB1} and state["vswitchd_exe"].endswith("/ovs-vswitchd"), state
    assert not state["policy_rc_d"] and state["dataplane_ok"] and state["flows"], state
    for other in others:
        assert daemons(host_state(other)) == daemons(before[other]), f"{other} was touched"
    assert all(s["status"] == "enabled" for h, s in services(clean_lab).items() if h in lab.computes)
    now = servers(clean_lab)
    assert sorted(now) == sorted(ids) and {s["status"] for s in now.values()} == {"ACTIVE"}
    assert all(s["host"] != host for s in now.values()), now  # moved away, not back (no migrate-back by default)

    data = run.report
    assert data["result"] == "succeeded" and data["batches"] == [[host]] and data["totals"]["rolled"] == 1
    entry = data["hosts"][host]
    assert entry["status"] == "rolled" and entry["strategy"] == "evacuate"
    assert {i["from"] for i in entry["instances_moved"]} == {host} and len(entry["instances_moved"]) == 1
    assert entry["switchover"]["mode"] == "flow_preserving"
    assert entry["switchover"]["pid_before"] != entry["switchover"]["pid_after"]
    assert entry["flow_verify"]["ok"] is True
    assert_probe_measured(lab, clean_lab, run, on_host)
    assert sorted(run.report["probe"]["instances"]) == on_host  # only the rolled host's instances are probed


def test_full_roll_with_instances(lab: Any, clean_lab: Any, report: Path) -> None:
    ids = boot(clean_lab, lab.computes, 2)
    flows_before = {h: host_state(h)["flows"] for h in lab.computes}
    # With the per-instance probe from the lab's probe host. 6 instances with ports moved twice each: on the 2 shared
    # cores of the lab machine under other jobs' load this roll took more than 15 min once (2026-12-01), hence 30.
    run = roll(lab, report, timeout=1800, ndu_target_version=LAB1)
    assert run.rc == 0, run.out[-6000:]

    # Hosts, read back with plain commands: new packages, a new daemon on the installed binary, the same flows.
    for host in lab.computes:
        state = host_state(host)
        assert set(state["versions"].values()) == {LAB1}, (host, state)
        assert state["vswitchd_exe"].endswith("/ovs-vswitchd"), (host, state)  # the installed binary, not "(deleted)"
        assert not state["policy_rc_d"], f"policy-rc.d left on {host}"
        # br-int is the controller's: its flows follow the ports, which the roll moves, so they are not compared with
        # the flows before (they differed on compute1 on 2026-12-01, with every instance on it at the end).
        assert state["dataplane_ok"] and state["flows"], (host, len(flows_before[host]))
    # Cloud: every compute enabled, the same instances, all ACTIVE, no origin record left behind by default.
    assert all(s["status"] == "enabled" for h, s in services(clean_lab).items() if h in lab.computes)
    now = servers(clean_lab)
    assert sorted(now) == sorted(ids)
    assert {s["status"] for s in now.values()} == {"ACTIVE"}

    # The report: every host rolled with its timeline, moves, versions, switch-over, flows and probe.
    data = run.report
    assert data["schema"] == "ndu.dataplane/rolling-report/v1" and data["result"] == "succeeded"
    assert data["batches"] == [["compute1"], ["compute2", "compute3"]]
    assert data["totals"]["rolled"] == 3
    moved = [i for host in lab.computes for i in data["hosts"][host]["instances_moved"]]
    assert data["totals"]["instances_moved"] == len(moved)
    # Each of our servers left its first host; one that landed on a host of a later batch moved again.
    assert {i["id"] for i in moved} >= set(ids), moved
    for host in lab.computes:
        entry = data["hosts"][host]
        assert entry["status"] == "rolled" and entry["strategy"] == "evacuate"
        steps = [s["step"] for s in entry["timeline"]]
        assert steps == ["preflight", "drain", "live_migrate", "flow_snapshot", "ovs_upgrade", "ovs_reload", "flow_verify",
                         "reboot", "undrain"], steps
        assert all(s["seconds"] is not None and s["seconds"] >= 0 for s in entry["timeline"])
        assert {i["from"] for i in entry["instances_moved"]} == {host}
        assert all(i["status"] == "moved" and i["to"] != host and i["seconds"] > 0 for i in entry["instances_moved"])
        assert set(entry["packages"]["before"].values()) == {ORIGINAL} and set(entry["packages"]["after"].values()) == {LAB1}
        sw = entry["switchover"]
        assert sw["mode"] == "flow_preserving" and sw["pid_before"] != sw["pid_after"]
        assert entry["flow_verify"]["ok"] is True
        assert entry["compute_service"]["status"] == "enabled" and entry["rollback"] is None
    assert "Roll SUCCEEDED: 3 rolled" in unfolded(run.out), run.out[-3000:]

    assert_probe_measured(lab, clean_lab, run, ids)

    # A second run changes nothing, says so and is quick.
    again = roll(lab, report, ndu_target_version=LAB1, probe=False)
    assert again.rc == 0, again.out[-4000:]
    assert again.report["result"] == "nothing_to_do"
    assert "Nothing to do: all 3 host(s) are already upgraded and enabled." in unfolded(again.out), again.out[-3000:]
    recap = {line.split()[0]: line for line in again.out.split("PLAY RECAP")[-1].splitlines() if ":" in line}
    for host in lab.computes:
        assert " changed=0 " in recap[host], f"the no-op re-run changed {host}: {recap[host]}"
    assert servers(clean_lab) == now
    print(f"full roll {run.seconds:.0f} s; no-op re-run {again.seconds:.0f} s")


def test_broken_canary_is_rolled_back_and_stops_the_roll(lab: Any, clean_lab: Any, report: Path) -> None:
    ids = boot(clean_lab, lab.computes, 1)
    before = {h: host_state(h) for h in lab.computes}
    run = roll(lab, report, ndu_target_version=BROKEN)
    assert run.rc != 0, run.out[-6000:]
    canary, others = lab.computes[0], lab.computes[1:]

    state = host_state(canary)
    assert set(state["versions"].values()) == {ORIGINAL}, state
    assert state["vswitchd_exe"].endswith("/ovs-vswitchd") and state["vswitchd_pid"], state
    # br-int is the controller's: its flows follow the ports the drain moved (the canary's instance left it), so they
    # are not compared with the flows before; the controller programs the host again and every instance answers.
    assert state["dataplane_ok"] and state["flows"], state
    assert not state["policy_rc_d"]
    for host in others:
        # Untouched: the same packages and the same ovs-vswitchd (its flows changed only for the instance moved in).
        assert daemons(host_state(host)) == daemons(before[host]), f"{host} was touched"
    assert all(s["status"] == "enabled" for h, s in services(clean_lab).items() if h in lab.computes)
    now = servers(clean_lab)
    assert sorted(now) == sorted(ids) and {s["status"] for s in now.values()} == {"ACTIVE"}
    dp = dataplane.read(lab.lab_dir)
    after = dataplane.Probe(dp, dataplane.targets(clean_lab, ids, dp.network))
    time.sleep(3)
    assert all(e["lost"] <= 2 for e in dataplane.assert_measured(after.stop(), ids).values())

    data = run.report
    assert data["result"] == "failed"
    entry = data["hosts"][canary]
    assert entry["status"] == "rolled_back"
    # ovs_upgrade now starts the new daemon once in a private namespace and catches the broken build itself;
    # an ovs_upgrade that let it through would fail at ovs_reload. Either way the roll rolls the host back.
    assert entry["failure"]["step"] in ("ovs_upgrade", "ovs_reload")
    assert entry["rollback"]["ok"] is True and set(entry["rollback"]["versions"].values()) == {ORIGINAL}
    assert [s["step"] for s in entry["timeline"]][-1] == "rollback"
    assert all(data["hosts"][h]["status"] == "not_reached" for h in others)
    assert f"{canary} did not roll (rolled back) at step {entry['failure']['step']}" in run.out
    # Issue 15: after a failure the probe kept sending (up to its max duration). The batch that stops the roll stops
    # it: the failed roll's report has per-instance figures, and no probe client is left on the probe host.
    dataplane.assert_measured(data["probe"], ids)
    left = dataplane.on_host(dataplane.read(lab.lab_dir).probe_host, "sh", "-c",
                             "for p in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $p 2>/dev/null; echo; done | grep -cE '[n]du_udp_probe.py (run|client)'",
                             check=False)
    assert left.stdout.strip() == "0", f"probe processes left on the probe host: {left.stdout} {left.stderr}"


def printed_batches(out: str) -> tuple[list[list[str]], list[list[str]]]:
    """The batches the printed plan names ("Batch 1/2: compute1"), and those the play ran (its "Batch 1/2: compute1
    (0 of 3 host(s) done before it)" line each)."""
    found = re.findall(r"Batch \d+/\d+: ([\w-]+(?:, [\w-]+)*)( \(\d+ of \d+ host)?", unfolded(out))
    planned = [names.split(", ") for names, ran in found if not ran]
    ran = [names.split(", ") for names, ran in found if ran]
    return planned, ran


def test_two_rolls_in_a_row_run_the_batches_of_their_printed_plan(lab: Any, clean_lab: Any, report: Path) -> None:
    # Issue 15: the play once rolled compute2 first although the plan named compute1 the canary (group_by order).
    # A roll there and back (the upgrade, then ndu.dataplane.rollback) across 3 hosts: each runs its printed plan.
    runs = [roll(lab, report, ndu_target_version=LAB1), None]
    assert runs[0].rc == 0, runs[0].out[-4000:]
    runs[1] = roll(lab, report, playbook="rollback", ndu_hosts="computes")
    for run in runs:
        assert run is not None and run.rc == 0, run.out[-4000:] if run else ""
        planned, ran = printed_batches(run.out)
        assert planned == run.report["batches"] == ran, (planned, run.report["batches"], ran)
        assert len(sum(ran, [])) == 3 and ran[0] == [lab.computes[0]], ran
        starts = {h: run.report["hosts"][h]["started"] for h in sum(ran, [])}
        assert all(starts[ran[0][0]] < starts[h] for h in sum(ran[1:], [])), starts  # the canary ran first
    # The rollback report names the version it went back to, not 'latest'.
    back = runs[1].report
    assert back["parameters"]["target_version"] == ORIGINAL, back["parameters"]
    assert all(set(back["hosts"][h]["packages"]["after"].values()) == {ORIGINAL} for h in lab.computes)
