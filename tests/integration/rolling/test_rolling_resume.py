# SPDX-License-Identifier: Apache-2.0
"""Killing the roll with SIGKILL in the middle of a host, then running it again, converges."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rollhelpers import (HOSTSCTL, LAB1, REPO, boot, host_state, kill_when, playbook_argv, playbook_env, podman_env, roll, servers,
                         services, wait_for)


@pytest.mark.parametrize("needle", [
    "step 3/9: live_migrate",   # instances half-way off the canary
    "step 5/9: ovs_upgrade",    # just before (or while) the packages change under the restart policy
])
def test_sigkill_mid_host_then_rerun_converges(lab: Any, clean_lab: Any, report: Path, needle: str) -> None:
    ids = boot(clean_lab, lab.computes, 1)
    killed = kill_when(lab, report, needle, ndu_target_version=LAB1)
    assert "compute1" in killed

    run = roll(lab, report, ndu_target_version=LAB1)
    assert run.rc == 0, run.out[-6000:]
    assert "resume" in run.out.split("Print the plan")[-1].split("TASK")[0] or run.report["hosts"]["compute1"]["action"] == "resume"
    for host in lab.computes:
        state = host_state(host)
        assert set(state["versions"].values()) == {LAB1}, (host, state)
        assert not state["policy_rc_d"] and state["dataplane_ok"] and "(deleted)" not in state["vswitchd_exe"], (host, state)
    assert all(s["status"] == "enabled" for h, s in services(clean_lab).items() if h in lab.computes)
    now = servers(clean_lab)
    assert sorted(now) == sorted(ids) and {s["status"] for s in now.values()} == {"ACTIVE"}
    assert run.report["result"] == "succeeded"
    assert run.report["hosts"]["compute1"]["action"] == "resume"


def hostsctl(*args: str) -> None:
    done = subprocess.run([str(HOSTSCTL), *args], capture_output=True, text=True, env=podman_env(), timeout=600, check=False)
    assert done.returncode == 0, f"hostsctl {' '.join(args)} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}"


def test_host_lost_mid_step_is_recorded_unsafe_then_resumed(lab: Any, clean_lab: Any, report: Path) -> None:
    # Issue 15: an UNREACHABLE host ran neither rescue nor always, so it got no record and no UNSAFE reason.
    host = lab.computes[0]
    extra = {"ndu_report_path": str(report), "ndu_target_version": LAB1, "ndu_hosts": host, "ndu_answer_timeout": 10}
    proc = subprocess.Popen(playbook_argv(lab, "rolling_upgrade", extra),
                            cwd=REPO, env=playbook_env(lab), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "step 4/9: flow_snapshot" in line:
                hostsctl("stop", host)
                break
        seen.extend(proc.stdout)
        proc.wait(timeout=900)
    finally:
        hostsctl("start", host)
    out = "".join(seen)
    assert proc.returncode != 0, out[-4000:]
    data = json.loads(report.read_text())
    entry = data["hosts"][host]
    assert entry["status"] == "unsafe" and entry["failure"]["step"] == "flow_snapshot", (entry["status"], entry["failure"])
    assert "stopped answering" in entry["compute_service"]["disabled_reason"], entry["compute_service"]
    assert "(step flow_snapshot)" in services(clean_lab)[host]["disabled_reason"]
    wait_for(f"nova-compute on {host} up again", lambda: services(clean_lab)[host]["state"] == "up", 300, 3)

    run = roll(lab, report, ndu_target_version=LAB1, ndu_hosts=host)
    assert run.rc == 0, run.out[-6000:]
    assert run.report["hosts"][host]["action"] == "resume" and run.report["result"] == "succeeded"
    state = host_state(host)
    assert set(state["versions"].values()) == {LAB1} and not state["policy_rc_d"], state
    assert services(clean_lab)[host]["status"] == "enabled"
