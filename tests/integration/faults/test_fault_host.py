# SPDX-License-Identifier: Apache-2.0
"""Faults 9 and 10, on the host: a host that does not come back after its reboot within the timeout stops the batch
and leaves the other hosts untouched; a flow mismatch after the switch-over rolls the host back."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from faulthelpers import assert_invariants, converge, error_line, roll_acting
from rollhelpers import HOSTSCTL, LAB1, ORIGINAL, boot, host_state, podman_env, services, sh, wait_for

# A flow no controller would program (an unused ethertype): the switch-over keeps it, the snapshot lacks it.
INJECTED = "table=0,priority=1,dl_type=0x88b5"


@pytest.mark.fault(10, "flow mismatch after the switch-over")
def test_flow_mismatch_after_the_switch_over_rolls_the_host_back(lab: Any, clean_lab: Any, report: Path, row: Any) -> None:
    host = "compute1"
    ids = boot(clean_lab, (host,), 1)
    flows = host_state(host)["flows"]
    actions = {
        # After the snapshot, before the switch-over: the flow-preserving switch-over carries it over.
        "step 6/9: ovs_reload": lambda: sh(host, "ovs-ofctl", "-O", "OpenFlow13", "add-flow", "br-int", INJECTED + ",actions=drop"),
        # Gone again once the rollback starts, as a transient mismatch would be: the rollback can verify the flows.
        "step -/9: rollback": lambda: sh(host, "ovs-ofctl", "-O", "OpenFlow13", "del-flows", "--strict", "br-int", INJECTED),
    }
    run, _ = roll_acting(lab, report, actions, ndu_hosts=host, ndu_target_version=LAB1, ndu_flow_settle_timeout=5)
    assert run.rc != 0, f"the roll went on with a flow the snapshot does not have:\n{run.out[-4000:]}"
    entry = run.report["hosts"][host]
    assert entry["failure"]["step"] == "flow_verify" and entry["status"] == "rolled_back", (entry["status"], entry["failure"])
    assert "Extra on br-int" in entry["failure"]["msg"] and "0x88b5" in entry["failure"]["msg"], (
        f"the failure does not name the flow that differs: {entry['failure']['msg']}")
    print(error_line(run.out, host, "flow_verify"))
    state = host_state(host)
    assert set(state["versions"].values()) == {ORIGINAL} and state["flows"] == flows and state["dataplane_ok"], state
    assert_invariants(row, lab, clean_lab, ids, run.report)
    converge(row, lab, clean_lab, report, ids, (host,))


def started_at(host: str) -> str:
    return subprocess.run(["podman", "inspect", "--format", "{{.State.StartedAt}}", host], capture_output=True, text=True,
                          env=podman_env(), check=False).stdout.strip()


def hostsctl(*args: str) -> None:
    done = subprocess.run([str(HOSTSCTL), *args], capture_output=True, text=True, env=podman_env(), timeout=600, check=False)
    assert done.returncode == 0, f"hostsctl {' '.join(args)} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}"


@pytest.mark.fault(9, "host does not come back after reboot within the timeout")
def test_host_that_stays_down_after_its_reboot_stops_the_batch_and_leaves_the_others_untouched(
        lab: Any, clean_lab: Any, report: Path, row: Any) -> None:
    host, other = "compute1", "compute2"
    ids = boot(clean_lab, (host, other), 1)
    before = host_state(other)
    booted = started_at(host)

    def keep_it_down() -> None:
        # Once the reboot has restarted the container, stop it: the host never comes back on its own.
        wait_for(f"{host} to reboot", lambda: started_at(host) != booted, 120, 0.2)
        hostsctl("stop", host)
    try:
        run, _ = roll_acting(lab, report, {"step 8/9: reboot": keep_it_down}, ndu_hosts=f"{host}:{other}", ndu_serial=1,
                             ndu_target_version=LAB1, ndu_reboot_force=True, reboot_timeout=60)
    finally:
        hostsctl("start", host)
    assert run.rc != 0, f"the roll went on past a host that stayed down:\n{run.out[-4000:]}"
    assert run.report, f"the roll wrote no report:\n{run.out[-6000:]}"
    entry = run.report["hosts"][host]
    assert entry["failure"]["step"] == "reboot", entry["failure"]
    print(error_line(run.out, host, "reboot"))
    assert run.report["hosts"][other]["status"] == "not_reached", run.report["hosts"][other]
    assert host_state(other) == before, f"{other} was touched after {host} stayed down"
    assert services(clean_lab)[other]["status"] == "enabled"
    wait_for(f"nova-compute on {host} up again", lambda: services(clean_lab)[host]["state"] == "up", 180, 3)
    time.sleep(1)
    assert_invariants(row, lab, clean_lab, ids, run.report)
    converge(row, lab, clean_lab, report, ids, (host, other), ndu_serial=1)
