# SPDX-License-Identifier: Apache-2.0
"""Faults 8 and 11, on the package side: a broken Open vSwitch build is rolled back; a dpkg lock held by another
process is waited for, boundedly, then the host fails clearly with nothing changed."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from faulthelpers import assert_invariants, converge, error_line
from rollhelpers import BROKEN, LAB1, ORIGINAL, boot, host_state, roll, sh

CANARY = ("compute1",)
# A process that holds dpkg's frontend lock as apt takes it (fcntl, not flock) and says its PID.
HOLD_LOCK = ("import fcntl, os, time\n"
             "f = open('/var/lib/dpkg/lock-frontend', 'w')\n"
             "fcntl.lockf(f, fcntl.LOCK_EX)\n"
             "open('/run/ndu-fault-dpkg-lock.pid', 'w').write(str(os.getpid()))\n"
             "time.sleep(900)\n")


@pytest.mark.fault(8, "broken OVS package (+lab2broken)")
def test_broken_package_rolls_the_host_back_and_the_fixed_run_converges(lab: Any, clean_lab: Any, report: Path,
                                                                        row: Any) -> None:
    host = CANARY[0]
    ids = boot(clean_lab, CANARY, 1)
    run = roll(lab, report, ndu_hosts=host, ndu_target_version=BROKEN)
    assert run.rc != 0, f"the roll to a broken build succeeded:\n{run.out[-4000:]}"
    entry = run.report["hosts"][host]
    assert entry["status"] == "rolled_back", f"{host}: status {entry['status']}, failure {entry['failure']}"
    print(error_line(run.out, host, entry["failure"]["step"]))
    state = host_state(host)
    assert set(state["versions"].values()) == {ORIGINAL}, f"{host} is not back on {ORIGINAL}: {state['versions']}"
    # br-int is the controller's: its flows follow the ports the drain moved away, so they are not compared with the
    # flows before; the controller programs the host again (ndu-lab-dataplane check) and it has flows.
    assert "(deleted)" not in state["vswitchd_exe"] and state["flows"] and state["dataplane_ok"], state
    assert_invariants(row, lab, clean_lab, ids, run.report)
    converge(row, lab, clean_lab, report, ids, CANARY)


@pytest.fixture
def dpkg_lock_held(clean_lab: Any) -> Any:
    """dpkg's lock on compute1 held by another process for the test; that process (by its PID) ended afterwards."""
    host = CANARY[0]
    sh(host, "rm", "-f", "/run/ndu-fault-dpkg-lock.pid")
    sh(host, "sh", "-c", f"nohup python3 -c \"{HOLD_LOCK}\" >/dev/null 2>&1 &")
    pid = ""
    for _ in range(50):
        pid = sh(host, "cat", "/run/ndu-fault-dpkg-lock.pid", check=False).stdout.strip()
        if pid:
            break
        sh(host, "sleep", "0.2")
    assert pid, f"{host}: the dpkg lock holder did not start"

    def release() -> None:
        sh(host, "kill", pid, check=False)
        sh(host, "rm", "-f", "/run/ndu-fault-dpkg-lock.pid")
    yield release
    release()


@pytest.mark.fault(11, "dpkg lock held by another process")
def test_held_dpkg_lock_is_waited_for_then_fails_clearly_and_the_run_after_converges(
        lab: Any, clean_lab: Any, report: Path, row: Any, dpkg_lock_held: Any) -> None:
    host = CANARY[0]
    ids = boot(clean_lab, CANARY, 1)
    run = roll(lab, report, ndu_hosts=host, ndu_target_version=LAB1,
               ovs_upgrade_lock_timeout=15)
    assert run.rc != 0, f"the roll went on while dpkg was locked:\n{run.out[-4000:]}"
    entry = run.report["hosts"][host]
    line = error_line(run.out, host, entry["failure"]["step"])
    assert entry["failure"]["step"] in ("preflight", "ovs_upgrade"), entry["failure"]
    assert "lock" in entry["failure"]["msg"].lower(), f"the error does not say the dpkg lock is held: {entry['failure']}"
    print(line)
    assert set(host_state(host)["versions"].values()) == {ORIGINAL}, f"{host}: packages changed under a held lock"
    assert_invariants(row, lab, clean_lab, ids, run.report)
    dpkg_lock_held()
    converge(row, lab, clean_lab, report, ids, CANARY)
