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


def tunnel_ports(host: str) -> list[str]:
    """OpenFlow port numbers of br-int's tunnel ports (Geneve with OVN, VXLAN with the agent's br-tun patch: none)."""
    out = []
    for kind in ("geneve", "vxlan"):
        out += sh(host, "ovs-vsctl", "--format=csv", "--no-headings", "--columns=ofport", "find", "Interface",
                  f"type={kind}").stdout.split()
    return [port for port in out if port.isdigit()]


def drop_tunnel_flows(host: str, seconds: float = 8.0) -> list[str]:
    """Delete every br-int flow that matches on a tunnel port, again and again for ``seconds`` (so that a controller
    still reinstalling after the switch-over cannot put them back): traffic from the other chassis is then dropped."""
    ports = tunnel_ports(host)
    assert ports, f"{host} has no tunnel port on br-int"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for port in ports:
            sh(host, "ovs-ofctl", "-O", "OpenFlow13", "del-flows", "br-int", f"in_port={port}", check=False)
        time.sleep(0.5)
    return ports


@pytest.mark.fault(10, "a port loses its flows after the switch-over")
def test_port_without_flows_after_the_switch_over_rolls_the_host_back(lab: Any, clean_lab: Any, report: Path,
                                                                      row: Any) -> None:
    host = "compute1"
    ids = boot(clean_lab, (host,), 1)
    # Once the switch-over is done and flow_verify starts: the tunnel ports lose their flows (a controller would not
    # do that on purpose), flow_verify must fail the host and the rollback must give the controller its host back.
    actions = {"step 7/9: flow_verify": lambda: drop_tunnel_flows(host)}
    run, done = roll_acting(lab, report, actions, ndu_hosts=host, ndu_target_version=LAB1, ndu_flow_settle_timeout=5)
    assert done.get("step 7/9: flow_verify"), "the fault was never injected"
    assert run.rc != 0, f"the roll went on with tunnel ports without flows:\n{run.out[-4000:]}"
    entry = run.report["hosts"][host]
    assert entry["failure"]["step"] == "flow_verify" and entry["status"] == "rolled_back", (entry["status"], entry["failure"])
    assert "lost its flows" in entry["failure"]["msg"], f"the failure does not name the port: {entry['failure']['msg']}"
    print(error_line(run.out, host, "flow_verify"))
    state = host_state(host)
    # The rollback restarted ovs-vswitchd on the old packages; the controller reinstalled every flow.
    assert set(state["versions"].values()) == {ORIGINAL} and state["flows"] and state["dataplane_ok"], state
    assert any(f"in_port={port}" in flow for port in tunnel_ports(host) for flow in state["flows"]), state["flows"]
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
