# SPDX-License-Identifier: Apache-2.0
"""Faults 1 and 2: ansible-playbook SIGKILLed during a live migration, and between the package install and the
switch-over. Nothing can clean up after SIGKILL: the instances must survive it, and the re-run must say which host
it resumes and why, finish that host and leave nothing behind."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from faulthelpers import assert_invariants, converge
from rollhelpers import LAB1, boot, host_state, kill_when, servers

CANARY = ("compute1",)


@pytest.mark.parametrize("needle,left", [
    pytest.param("step 3/9: live_migrate", "nova-compute is disabled by us", id="during-live-migration",
                 marks=pytest.mark.fault(1, "SIGKILL of ansible-playbook during live migration")),
    pytest.param("step 6/9: ovs_reload", "ovs-vswitchd still runs a replaced binary", id="after-install-before-switch-over",
                 marks=pytest.mark.fault(2, "SIGKILL between package install and switch-over")),
])
def test_sigkilled_roll_loses_no_instance_and_the_rerun_resumes_and_converges(
        lab: Any, clean_lab: Any, report: Path, row: Any, behaviour: Any, needle: str, left: str) -> None:
    host = CANARY[0]
    ids = boot(clean_lab, CANARY, 2)
    # Slow migrations, so that the kill lands while they run.
    behaviour({servers(clean_lab)[i]["name"]: {"mode": "ok", "duration": 8} for i in ids})
    killed = kill_when(lab, report, needle, ndu_hosts=host, ndu_target_version=LAB1)
    assert host in killed
    if needle.endswith("ovs_reload"):
        state = host_state(host)
        assert set(state["versions"].values()) == {LAB1} and "(deleted)" in state["vswitchd_exe"], \
            f"the kill did not land between the install and the switch-over on {host}: {state}"
    assert_invariants(row, lab, clean_lab, ids, None, leftovers=False)
    run = converge(row, lab, clean_lab, report, ids, CANARY)
    entry = run.report["hosts"][host]
    assert f"{host} resumes an interrupted roll" in run.out, f"the re-run does not say that {host} resumes:\n{run.out[-4000:]}"
    assert entry["action"] == "resume" and any(left in reason for reason in entry["reasons"]), \
        f"{host} does not resume because {left!r}: action {entry['action']}, reasons {entry['reasons']}"
    print(f"{host} resumed: {entry['reasons']}")
