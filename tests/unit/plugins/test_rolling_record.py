# SPDX-License-Identifier: Apache-2.0
"""The roll record (plugins/module_utils/rolling_record.py): every transition the playbook relies on."""
from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ndu.dataplane.plugins.filter.rolling import FilterModule
from ansible_collections.ndu.dataplane.plugins.module_utils import rolling_record as rr

FILTERS = FilterModule().filters()
OLD, NEW = {"ovs-common": "1", "ovs-switch": "1"}, {"ovs-common": "2", "ovs-switch": "2"}
ENTRY = {"nova_host": "nc1", "batch": 1, "action": "roll", "strategy": "evacuate", "strategy_reason": "requested"}
FACTS = {"packages": {"installed": OLD}, "state": None}
STEPS = ["preflight", "drain", "live_migrate", "flow_snapshot", "ovs_upgrade", "ovs_reload", "flow_verify", "reboot", "undrain"]
RESULTS: dict[str, Any] = {
    "live_migrate": {"instances": [{"id": "i1", "name": "web", "from": "c1", "to": "c2", "seconds": 3.0, "status": "moved"}]},
    "flow_snapshot": {"snapshot": True, "probe_running": True},
    "ovs_upgrade": {"changed": True, "versions_before": OLD, "versions_after": NEW},
    "ovs_reload": {"mode": "flow_preserving", "pid_before": 10, "pid_after": 20, "ok": True},
    "flow_verify": {"ok": True, "summary": [], "probe": {"sent": 100, "received": 98, "lost": 2, "longest_gap_ms": 30}, "probe_running": False},
    "reboot": {"rebooted": False, "reasons": [], "elapsed": 0},
    "undrain": {"service": {"status": "enabled", "state": "up", "disabled_reason": None}, "migrated_back": []},
}
ENABLED = {"status": "enabled", "state": "up", "disabled_reason": None, "ours": False}
DISABLED = {"status": "disabled", "state": "up", "disabled_reason": "[ndu.dataplane] UNSAFE: ...", "ours": True}
HEALTHY = {"answers": True, "installed": OLD, "vswitchd": {"running": True}, "switchover_needed": False, "rollback_allowed": True}


def start(**facts: Any) -> dict[str, Any]:
    return rr.new_record("c1", ENTRY, {**FACTS, **facts}, "2")


def ev(rec: dict[str, Any], event: str, **data: Any) -> dict[str, Any]:
    return rr.next_record(rec, {"event": event, **data})


def run_until(fail_at: str | None) -> dict[str, Any]:
    """Every step in order, each marked then folded; ``fail_at`` fails (with its result, as the roles publish it)."""
    rec = start()
    for n, step in enumerate(STEPS):
        rec = ev(rec, "mark", step=step, at=100 + n)
        failed = {"task": f"a task of {step}", "msg": f"{step} broke"} if step == fail_at else None
        rec = ev(rec, "step", step=step, result=RESULTS.get(step), failed=failed)
        if failed:
            break
    return rec


def finish(rec: dict[str, Any], service: dict[str, Any] | None = None, **data: Any) -> dict[str, Any]:
    rec = ev(rec, "restore", service=service or ENABLED)
    return ev(rec, "finish", at=200, **data)


def test_new_record_goes_back_to_what_is_installed_or_to_the_record_of_the_same_target():
    assert start()["packages_before"] == OLD and start()["status"] == "running"
    resumed = start(packages={"installed": NEW}, state={"target_version": "2", "versions_before": OLD})
    assert resumed["packages_before"] == OLD
    other = start(packages={"installed": NEW}, state={"target_version": "3", "versions_before": OLD})
    assert other["packages_before"] == NEW


def test_success_folds_every_result_and_reports_the_host():
    rec = finish(run_until(None), installed=NEW)
    assert rec["status"] == "rolled" and not rec["rollback_needed"] and rec["unsafe_reason"] is None
    assert [m["step"] for m in rec["marks"]] == STEPS
    assert rec["switchover"] == {"mode": "flow_preserving", "pid_before": 10, "pid_after": 20, "ok": True}
    assert rec["probe"]["lost"] == 2 and not rec["probe_running"] and rec["snapshot_taken"]
    report = rec["report"]
    assert report["status"] == "rolled" and [s["step"] for s in report["timeline"]] == STEPS
    assert report["packages"] == {"before": OLD, "after": NEW} and report["instances_moved"][0]["status"] == "moved"
    assert report["compute_service"]["status"] == "enabled" and report["compute_service"]["left_disabled_because"] is None


@pytest.mark.parametrize("step", STEPS)
def test_failure_at_each_step_is_recorded_with_its_step(step: str):
    rec = run_until(step)
    assert rec["status"] == "failed" and rec["failure"] == {"step": step, "task": f"a task of {step}", "msg": f"{step} broke"}
    assert rec["rollback_needed"] is (step in ("ovs_reload", "flow_verify", "reboot"))
    # What the host says decides: unchanged and running needs a rollback only at or after the switch-over.
    read = ev(rec, "host_read", **HEALTHY)
    assert read["rollback_needed"] is (step in ("ovs_reload", "flow_verify", "reboot"))
    if not read["rollback_needed"]:
        done = finish(read, installed=OLD)
        assert done["status"] == "failed" and done["rollback"] is None and done["report"]["failure"]["step"] == step


@pytest.mark.parametrize("read,needed", [
    ({"installed": NEW}, True),                                   # packages changed
    ({"vswitchd": {"running": False}}, True),                     # the daemon died
    ({"switchover_needed": True}, True),                          # still on a replaced binary
    ({}, False),
])
def test_host_read_after_an_early_failure_decides_the_rollback(read: dict[str, Any], needed: bool):
    rec = ev(run_until("ovs_upgrade"), "host_read", **{**HEALTHY, **read})
    assert rec["rollback_needed"] is needed and rec["status"] == "failed"
    assert rr.rollback_target(rec) == "1"


def test_failed_switch_over_without_a_result_is_still_reported():
    rec = start()
    rec = ev(rec, "mark", step="ovs_reload", at=1)
    rec = ev(rec, "step", step="ovs_reload", result=None, failed={"task": "t", "msg": "m"})
    assert rec["switchover"] == {"mode": "unknown", "pid_before": None, "pid_after": None, "ok": False}


def rollback(rec: dict[str, Any], fail: str | None = None, reload_mode: str = "flow_preserving") -> dict[str, Any]:
    rec = ev(rec, "host_read", **{**HEALTHY, "installed": NEW})
    assert rec["rollback_needed"] and rec["phase"] == "rollback"
    rec = ev(rec, "mark", step="rollback", at=150)
    results = {"ovs_upgrade": {"changed": True, "versions_before": NEW, "versions_after": OLD},
               "ovs_reload": {"mode": reload_mode, "pid_before": 20, "pid_after": 30, "ok": True},
               "flow_restore": {"restored": ["br-int"]},
               "flow_verify": {"ok": True, "summary": []}}
    for step, result in results.items():
        if step == "flow_restore" and reload_mode != "start":
            continue
        failed = {"task": "Install", "msg": "dpkg exploded"} if step == fail else None
        rec = ev(rec, "step", step=step, result=result, failed=failed, phase="rollback")
        if failed:
            break
    return ev(rec, "rollback_done")


def test_rollback_ok_is_rolled_back_and_the_service_enabled():
    rec = finish(rollback(run_until("flow_verify")), installed=OLD)
    assert rec["status"] == "rolled_back" and rec["unsafe_reason"] is None and rec["nova_reason"] is None
    assert rec["rollback"]["ok"] and rec["rollback"]["versions"] == OLD
    assert rec["rollback"]["summary"] == ("packages back to 1; ovs-vswitchd was switched over (flow_preserving, PID 20 -> 30); "
                                          "flows match the snapshot")
    assert rec["report"]["timeline"][-1]["step"] == "rollback"


def test_rollback_that_had_to_start_the_daemon_says_so():
    rec = rollback(run_until("ovs_reload"), reload_mode="start")
    assert "was not running and was started again (PID 30), flows restored from the snapshot" in rec["rollback"]["summary"]


@pytest.mark.parametrize("fail", ["ovs_upgrade", "ovs_reload", "flow_verify"])
def test_rollback_failed_is_unsafe_with_a_nova_reason(fail: str):
    rec = finish(rollback(run_until("flow_verify"), fail=fail), service=DISABLED)
    assert rec["status"] == "unsafe" and not rec["rollback"]["ok"]
    assert "dpkg exploded (at 'Install')" in rec["unsafe_reason"]
    assert rec["nova_reason"].startswith("UNSAFE: the dataplane upgrade failed at flow_verify and its rollback did not work")
    assert rec["report"]["compute_service"]["left_disabled_because"].startswith("the host is unsafe after a failed rollback")


def test_rollback_switched_off_or_with_mixed_versions_is_unsafe():
    rec = ev(run_until("flow_verify"), "host_read", **{**HEALTHY, "rollback_allowed": False})
    assert rec["status"] == "unsafe" and "ndu_rollback=false" in rec["unsafe_reason"]
    mixed = rr.new_record("c1", ENTRY, {"packages": {"installed": {"a": "1", "b": "2"}}}, "3")
    mixed = ev(ev(mixed, "step", step="ovs_reload", result=None, failed={"task": "t", "msg": "m"}), "host_read", **HEALTHY)
    assert mixed["status"] == "unsafe" and "differ per package" in mixed["unsafe_reason"]


def test_unreachable_host_is_unsafe_with_its_step():
    rec = ev(run_until("reboot"), "host_read", answers=False, msg="timed out waiting for connection")
    rec = finish(rec, service=DISABLED, answers=False)
    assert rec["status"] == "unsafe" and not rec["answers"]
    assert rec["unsafe_reason"] == "it does not answer (timed out waiting for connection)"
    assert rec["nova_reason"] == ("UNSAFE: the host stopped answering during the dataplane upgrade (step reboot); "
                                  "bring it back, check Open vSwitch, then re-run the roll")
    assert rec["report"]["failure"]["step"] == "reboot" and rec["report"]["status"] == "unsafe"


def test_host_lost_after_its_steps_is_unsafe_at_the_end():
    rec = ev(run_until(None), "restore", service=ENABLED)
    rec = ev(rec, "finish", answers=False, msg="unreachable", at=300)
    assert rec["status"] == "unsafe" and rec["failure"]["step"] == "undrain" and "stopped answering" in rec["nova_reason"]


def test_restore_failed_keeps_the_host_in_the_report():
    rec = ev(run_until(None), "restore", error="Failed to enable nova-compute: 503", task="Re-enable nova-compute")
    rec = ev(rec, "finish", installed=NEW, at=300)
    assert rec["status"] == "failed" and rec["failure"]["step"] == "restore" and rec["restore_errors"]
    assert rec["report"]["status"] == "failed" and rec["report"]["host"] == "c1"
    after_rollback = ev(rollback(run_until("flow_verify")), "restore", error="503")
    assert after_rollback["status"] == "rolled_back" and after_rollback["failure"]["step"] == "flow_verify"


def test_events_do_not_change_their_input_and_bad_events_are_named():
    rec = start()
    ev(rec, "mark", step="preflight", at=1)
    assert rec["marks"] == []
    with pytest.raises(rr.RecordError, match="unknown roll record event 'nope'"):
        ev(rec, "nope")
    with pytest.raises(AnsibleFilterError, match="Failed to update the roll record: expected a roll record"):
        FILTERS["rolling_record"]({"host": "c1"}, {"event": "mark"})


@pytest.mark.parametrize("only,record,skipped", [
    (None, {}, False),
    ("evacuate", {"strategy": "in_place"}, True),
    (["evacuate"], {"strategy": "evacuate"}, False),
    (["snapshot"], {"snapshot_taken": False}, True),
    (["started"], {"rollback_steps": {"ovs_reload": {"result": {"mode": "start"}}}}, False),
    (["started"], {"rollback_steps": {"ovs_reload": {"result": {"mode": "none"}}}}, True),
])
def test_step_conditions(only: Any, record: dict[str, Any], skipped: bool):
    assert bool(FILTERS["rolling_step_skip"](record, {"name": "s", "only": only})) is skipped


@pytest.mark.parametrize("enabled,skipped", [(True, False), (False, True), ("False", True), ("true", False)])
def test_step_switched_off(enabled: Any, skipped: bool):
    assert bool(FILTERS["rolling_step_skip"]({}, {"name": "s", "enabled": enabled})) is skipped


def test_unknown_step_condition_is_named():
    with pytest.raises(AnsibleFilterError, match="step s: unknown condition 'tuesday'"):
        FILTERS["rolling_step_skip"]({}, {"name": "s", "only": ["tuesday"]})


def test_filter_starts_a_record():
    rec = FILTERS["rolling_record_new"](ENTRY, "c1", FACTS, "2")
    assert rec["schema"] == rr.SCHEMA and rec["nova_host"] == "nc1"


def test_each_step_gives_the_progress_event_the_callback_reads():
    rec = ev(start(), "mark", step="drain", at=100)
    rec = ev(rec, "step", step="drain", result={"ok": True}, failed=None, index=2, count=9, batches=2, at=103.26)
    assert rec["last_step"] == {"host": "c1", "batch": 1, "batches": 2, "step": "drain", "index": 2, "count": 9, "result": "ok",
                                "seconds": 3.3, "elapsed": 3.3, "instances_moved": 0, "msg": None}
    failed = ev(rec, "step", step="ovs_upgrade", result={"changed": True}, failed={"task": "t", "msg": "boom"}, index=5, count=9, at=110)
    assert failed["last_step"]["result"] == "failed" and failed["last_step"]["msg"] == "boom"
    rolled_back = ev(failed, "step", step="ovs_reload", result={}, failed=None, phase="rollback", at=120)
    assert rolled_back["last_step"]["step"] == "rollback:ovs_reload" and rolled_back["last_step"]["index"] == 0
    skipped = ev(rec, "step", step="reboot", result=None, failed=None, skipped=True, index=8, count=9, at=104)
    assert skipped["last_step"]["result"] == "skipped"


def test_restore_steps_fold_the_service_and_their_failures():
    rec = ev(run_until(None), "finish", installed=NEW, at=300)
    enabled = ev(rec, "step", step="enable", phase="restore", result={"service": ENABLED}, failed=None)
    assert enabled["status"] == "rolled" and enabled["compute_service"]["status"] == "enabled"
    broken = ev(rec, "step", step="enable", phase="restore", result={"service": None}, failed={"task": "Enable", "msg": "503"})
    assert broken["status"] == "failed" and broken["failure"] == {"step": "restore", "task": "Enable", "msg": "enable: 503"}
    assert broken["last_step"]["step"] == "restore:enable"


@pytest.mark.parametrize("only,record,skipped", [
    (["answers"], {"answers": False}, True), (["answers"], {"answers": True}, False),
    (["probe_running"], {"probe_running": False}, True),
    (["safe"], {"unsafe_reason": None}, False), (["safe"], {"unsafe_reason": "x"}, True),
    (["unsafe"], {"unsafe_reason": None}, True), (["unsafe"], {"unsafe_reason": "x"}, False),
])
def test_restore_step_conditions(only: Any, record: dict[str, Any], skipped: bool):
    assert bool(FILTERS["rolling_step_skip"](record, {"name": "s", "only": only})) is skipped
