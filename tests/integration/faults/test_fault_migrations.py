# SPDX-License-Identifier: Apache-2.0
"""Faults 5 and 6, in Nova: a live migration that fails and rolls back is retried on another host; one that hangs is
aborted (the host fails at live_migrate, nothing else changes) or forced to complete, as configured."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from cloudhelpers import migrations
from faulthelpers import assert_invariants, converge, error_line, roll_acting
from rollhelpers import LAB1, ORIGINAL, boot, host_state, roll, servers, wait_for

CANARY = ("compute1",)
MIGRATING = "step 3/9: live_migrate"


@pytest.mark.fault(5, "migration fails and rolls back, retried on another host")
def test_failed_migration_is_retried_on_another_host_and_the_roll_goes_on(
        lab: Any, clean_lab: Any, report: Path, row: Any, behaviour: Any) -> None:
    host = CANARY[0]
    ids = boot(clean_lab, CANARY, 1)
    name = servers(clean_lab)[ids[0]]["name"]
    behaviour({name: {"mode": "fail", "duration": 4}})

    def heal_after_first_attempt() -> None:
        # The driver reads the behaviour when a migration starts: the first attempt fails, the retry works.
        def started() -> bool:
            return any(m["status"] in ("running", "preparing") for m in migrations(clean_lab, ids[0]))
        wait_for("the first migration to run", started, 120, 0.5)
        time.sleep(1.5)
        behaviour({name: {"mode": "ok", "duration": 2}})
    run, _ = roll_acting(lab, report, {MIGRATING: heal_after_first_attempt}, ndu_hosts=host, ndu_target_version=LAB1,
                         live_migrate_retries=2)
    assert run.rc == 0, f"the retried migration did not save the roll:\n{run.out[-5000:]}"
    tries = migrations(clean_lab, ids[0])
    assert [m["status"] for m in tries][-2:][0] in ("failed", "error") and tries[-1]["status"] == "completed", tries
    assert tries[-2]["source_compute"] == tries[-1]["source_compute"] == host
    assert tries[-1]["dest_compute"] != tries[-2]["dest_compute"], f"retried on the same host: {tries}"
    # Only this test's server: on the shared lab another job's servers may sit on the host and move too.
    moved = [i for i in run.report["hosts"][host]["instances_moved"] if i["id"] in ids]
    assert [(i["id"], i["status"], i["to"]) for i in moved] == [(ids[0], "moved", tries[-1]["dest_compute"])], moved
    assert_invariants(row, lab, clean_lab, ids, run.report)
    converge(row, lab, clean_lab, report, ids, CANARY)


@pytest.mark.parametrize("on_timeout", ["abort", "force_complete"])
@pytest.mark.fault(6, "migration hangs")
def test_hanging_migration_is_aborted_or_forced_as_configured(
        lab: Any, clean_lab: Any, report: Path, row: Any, behaviour: Any, on_timeout: str) -> None:
    host = CANARY[0]
    ids = boot(clean_lab, CANARY, 1)
    behaviour({servers(clean_lab)[ids[0]]["name"]: {"mode": "hang"}})
    run = roll(lab, report, ndu_hosts=host, ndu_target_version=LAB1, ndu_live_migrate_timeout=10,
               live_migrate_on_timeout=on_timeout, live_migrate_retries=0)
    last = migrations(clean_lab, ids[0])[-1]
    if on_timeout == "abort":
        assert run.rc != 0, f"a hanging migration did not stop the roll:\n{run.out[-4000:]}"
        assert last["status"] == "cancelled", f"the hanging migration was not aborted: {last}"
        print(error_line(run.out, host, "live_migrate"))
        assert run.report["hosts"][host]["status"] == "failed", run.report["hosts"][host]
        assert servers(clean_lab)[ids[0]]["host"] == host
        assert set(host_state(host)["versions"].values()) == {ORIGINAL}, f"{host} changed after a failed drain"
    else:
        assert run.rc == 0, f"the forced migration did not let the roll finish:\n{run.out[-4000:]}"
        assert last["status"] == "completed" and servers(clean_lab)[ids[0]]["host"] != host, last
    assert_invariants(row, lab, clean_lab, ids, run.report)
    behaviour({})
    converge(row, lab, clean_lab, report, ids, CANARY)
