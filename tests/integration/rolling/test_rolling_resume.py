# SPDX-License-Identifier: Apache-2.0
"""Killing the roll with SIGKILL in the middle of a host, then running it again, converges."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rollhelpers import LAB1, boot, host_state, kill_when, roll, servers, services


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
