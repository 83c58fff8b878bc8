# SPDX-License-Identifier: Apache-2.0
"""Fault 7: no capacity for the canary's instances (NoValidHost would follow): preflight refuses before the host
is touched; with capacity back the roll converges."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cloudhelpers import set_service
from faulthelpers import assert_invariants, converge, error_line
from rollhelpers import LAB1, boot, host_state, roll, services

CANARY = ("compute1",)
FOREIGN = "ndu-faults: kept out of scheduling by the fault suite (not the roll's disable)"


@pytest.fixture
def others_disabled(lab: Any, clean_lab: Any) -> Any:
    """Every compute but the canary disabled by someone else (a reason without the roll's marker)."""
    others = [h for h in lab.computes if h not in CANARY]

    def enable() -> None:
        for host in others:
            set_service(clean_lab, host, "enabled")
    for host in others:
        set_service(clean_lab, host, "disabled", FOREIGN)
    yield enable
    enable()


@pytest.mark.fault(7, "no capacity (NoValidHost would follow)")
def test_no_capacity_is_refused_by_preflight_before_the_host_is_touched(
        lab: Any, clean_lab: Any, report: Path, row: Any, others_disabled: Any) -> None:
    host = CANARY[0]
    # Booted before the others are disabled would be better, but the canary is pinned: boot works either way.
    ids = boot(clean_lab, CANARY, 2)
    before = host_state(host)
    run = roll(lab, report, ndu_hosts=host, ndu_target_version=LAB1)
    assert run.rc != 0, f"the roll went on with nowhere to move the instances:\n{run.out[-4000:]}"
    entry = (run.report or {}).get("hosts", {}).get(host, {})
    step = (entry.get("failure") or {}).get("step", "preflight")
    assert step == "preflight", f"{host} failed at {step}, not at preflight: {entry.get('failure')}"
    print(error_line(run.out, host, "preflight"))
    steps = [s["step"] for s in entry.get("timeline", [])]
    assert "drain" not in steps and not entry.get("instances_moved"), f"{host} was touched: timeline {steps}"
    assert host_state(host) == before, f"{host} changed although preflight refused"
    assert services(clean_lab)[host]["status"] == "enabled", f"{host} is not enabled: {services(clean_lab)[host]}"
    assert_invariants(row, lab, clean_lab, ids, run.report)
    others_disabled()
    converge(row, lab, clean_lab, report, ids, CANARY)
