# SPDX-License-Identifier: Apache-2.0
"""Bad input stops the roll before anything changes; --check prints the plan and changes nothing."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rollhelpers import LAB1, ORIGINAL, boot, host_state, nova, roll, servers, services, unfolded


def snapshot(conn: Any, hosts: tuple[str, ...]) -> dict[str, Any]:
    return {"services": {h: {k: v for k, v in s.items() if k != "state"} for h, s in services(conn).items()},
            "servers": servers(conn), "hosts": {h: host_state(h) for h in hosts}}


@pytest.mark.parametrize("extra,needle", [
    ({"ndu_strategy": "yolo"}, "ndu_strategy 'yolo' is unknown"),
    ({"ndu_serial": 0}, "must be at least 1"),
    ({"ndu_serial": ""}, "ndu_serial is empty"),
    ({"ndu_serial": []}, "ndu_serial is empty"),
    ({"ndu_hosts": "no_such_group"}, "matches no host in the inventory"),
    ({"ndu_max_fail_percentage": 150}, "from 0 to 100"),
    ({"ndu_serial": [1, "12.5%"]}, "not a whole percentage"),  # Ansible's serial would refuse it after the plan
])
def test_bad_input_fails_before_anything_changes(lab: Any, clean_lab: Any, report: Path, extra: dict, needle: str) -> None:
    before = snapshot(clean_lab, lab.computes)
    run = roll(lab, report, ndu_target_version=LAB1, **extra)
    assert run.rc != 0, run.out[-3000:]
    assert needle in run.out and "nothing was changed" in run.out, run.out[-3000:]
    assert "Read every host and plan the roll" not in run.out, "the roll went past the input check"
    assert snapshot(clean_lab, lab.computes) == before
    assert run.report is None


def test_host_unknown_to_nova_fails_before_anything_changes(lab: Any, clean_lab: Any, report: Path, tmp_path: Path) -> None:
    ghost = tmp_path / "ghost.yml"
    ghost.write_text("all:\n  children:\n    computes:\n      hosts:\n        ghost1:\n          ndu_nova_host: ghost-compute\n")
    before = snapshot(clean_lab, lab.computes)
    run = roll(lab, report, inventories=(ghost,), ndu_target_version=LAB1)
    assert run.rc != 0
    assert "Nova has no nova-compute service for ghost1 (Nova host 'ghost-compute')" in run.out, run.out[-3000:]
    assert snapshot(clean_lab, lab.computes) == before


def test_plan_refusal_is_one_sentence_and_changes_nothing(lab: Any, clean_lab: Any, report: Path) -> None:
    # Issue 15: printed as "Finalization of task args for 'ansible.builtin.set_fact' failed: ... The filter plugin ...".
    before = snapshot(clean_lab, lab.computes)
    run = roll(lab, report, ndu_target_version=LAB1, ndu_strategy="in_place", ndu_reload_mode="restart", ndu_allow_restart=True)
    assert run.rc != 0
    text = unfolded(run.out)
    assert ("The rolling upgrade did not start, nothing was changed: ndu_strategy=in_place is not safe on "
            f"{lab.computes[0]}: the switch-over would be 'restart', which drops flows") in text, text[-3000:]
    assert "Finalization of task args" not in text and "filter plugin" not in text, text[-3000:]
    assert "Roll the hosts batch by batch" not in text or "skipping: no hosts matched" in text
    assert snapshot(clean_lab, lab.computes) == before


def test_unknown_version_fails_before_anything_changes(lab: Any, clean_lab: Any, report: Path) -> None:
    before = snapshot(clean_lab, lab.computes)
    run = roll(lab, report, ndu_target_version="9.9.9-nope")
    assert run.rc != 0 and "9.9.9-nope" in run.out, run.out[-3000:]
    assert "Roll the hosts batch by batch" not in run.out
    assert snapshot(clean_lab, lab.computes) == before


def test_check_mode_prints_the_plan_and_changes_nothing(lab: Any, clean_lab: Any, report: Path) -> None:
    ids = boot(clean_lab, lab.computes, 1)
    before = snapshot(clean_lab, lab.computes)
    run = roll(lab, report, check=True, ndu_target_version=LAB1)
    assert run.rc == 0, run.out[-4000:]
    text = unfolded(run.out)
    plan = text.split("TASK [Print the plan]")[-1].split("TASK [")[0]
    # Every instance on the computes moves, also other tests' (the cloud tests keep theirs for the session).
    on_computes = [s for s in nova(clean_lab, "get", "/servers/detail?all_tenants=1")["servers"]
                   if s["OS-EXT-SRV-ATTR:host"] in lab.computes]
    assert len(on_computes) >= len(ids)
    assert (f"Plan (check mode: nothing will change): 3 of 3 host(s) to roll in 2 batch(es), {len(on_computes)} instance(s) "
            "to move.") in plan, plan
    assert "Batch 1/2: compute1" in plan and "Batch 2/2: compute2, compute3" in plan, plan
    assert f"openvswitch-switch {ORIGINAL} -> {LAB1}" in plan, plan
    assert "switch-over flow_preserving" in plan, plan
    assert "-> scheduler: compute2, compute3" in plan, plan  # compute1's instance and where it may go
    for server_id in ids:
        assert server_id in plan, plan
    assert "Roll the hosts batch by batch" in text and "skipping: no hosts matched" in text, text[-3000:]
    assert snapshot(clean_lab, lab.computes) == before
    assert run.report is None  # check mode writes no file either
