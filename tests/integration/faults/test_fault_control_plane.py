# SPDX-License-Identifier: Apache-2.0
"""Faults 3 and 4, in the control plane: nova-api down for 30 s during the drain, RabbitMQ restarted during a live
migration (both by their recorded PIDs, through `labctl service`). The roll either rides it out or fails naming the
host and the step; either way nothing is lost or left behind, and the re-run converges."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from faulthelpers import assert_invariants, converge, error_line, labctl_service, roll_acting
from rollhelpers import LAB1, boot, servers

CANARY = ("compute1",)


def outcome(run: Any, host: str, steps: tuple[str, ...]) -> str:
    """'rode it out' for a roll that finished, else the failure line naming the host and one of ``steps``."""
    if run.rc == 0:
        return "rode it out"
    step = run.report["hosts"][host]["failure"]["step"] if run.report else steps[0]
    assert step in steps, f"{host} failed at {step}, not at one of {steps}: {run.report['hosts'][host]['failure']}"
    return error_line(run.out, host, step)


@pytest.mark.fault(3, "nova-api down for 30 s during the drain")
def test_nova_api_down_during_the_drain_loses_nothing_and_the_rerun_converges(
        lab: Any, clean_lab: Any, report: Path, row: Any) -> None:
    host = CANARY[0]
    ids = boot(clean_lab, CANARY, 1)

    def outage() -> None:
        labctl_service(lab, "stop", "nova-api")
        try:
            time.sleep(30)
        finally:
            labctl_service(lab, "start", "nova-api")
    try:
        run, _ = roll_acting(lab, report, {"step 2/9: drain": outage}, ndu_hosts=host, ndu_target_version=LAB1)
    finally:
        labctl_service(lab, "start", "nova-api")
    print(outcome(run, host, ("drain", "live_migrate")))
    assert_invariants(row, lab, clean_lab, ids, run.report)
    converge(row, lab, clean_lab, report, ids, CANARY)


@pytest.mark.fault(4, "RabbitMQ restarted during a migration")
def test_rabbitmq_restart_during_a_migration_loses_nothing_and_the_rerun_converges(
        lab: Any, clean_lab: Any, report: Path, row: Any, behaviour: Any) -> None:
    host = CANARY[0]
    ids = boot(clean_lab, CANARY, 1)
    behaviour({servers(clean_lab)[ids[0]]["name"]: {"mode": "ok", "duration": 10}})
    try:
        # host_evacuate notices a lost request at its request_timeout (60 s), resets the instance and retries it.
        run, _ = roll_acting(lab, report, {"step 3/9: live_migrate": lambda: labctl_service(lab, "restart", "rabbitmq")},
                             ndu_hosts=host, ndu_target_version=LAB1, ndu_live_migrate_timeout=120)
    finally:
        labctl_service(lab, "start", "rabbitmq")
    print(outcome(run, host, ("live_migrate",)))
    assert_invariants(row, lab, clean_lab, ids, run.report)
    behaviour({})
    converge(row, lab, clean_lab, report, ids, CANARY)
