# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

import pytest

from ansible_collections.ndu.dataplane.plugins.modules.compute_service import ComputeService


def test_disable_marks_reason_and_reports_before_after(run_module, cloud):
    result = run_module(ComputeService, {"host": "compute1", "state": "disabled", "reason": "OVS upgrade", "reason_tag": "b1"}, diff=True)
    assert result["rc"] == 0 and result["changed"]
    assert result["before"]["status"] == "enabled" and result["owner"] == "none"
    assert result["after"] == {"host": "compute1", "binary": "nova-compute", "status": "disabled", "state": "up",
                               "disabled_reason": "[ndu.dataplane b1] OVS upgrade", "ours": True}
    assert cloud.service_map["compute1"]["disabled_reason"] == "[ndu.dataplane b1] OVS upgrade"
    assert result["diff"]["before"]["status"] == "enabled" and result["diff"]["after"]["status"] == "disabled"


def test_disable_twice_changes_nothing(run_module, cloud):
    run_module(ComputeService, {"host": "compute1", "state": "disabled"})
    again = run_module(ComputeService, {"host": "compute1", "state": "disabled"})
    assert not again["changed"] and again["owner"] == "ndu.dataplane"
    assert len([c for c in cloud.calls if c[0] == "update_service"]) == 1


def test_disable_again_updates_the_reason_of_our_own_disable(run_module, cloud):
    run_module(ComputeService, {"host": "compute1", "state": "disabled", "reason": "upgrade", "reason_tag": "r1"})
    result = run_module(ComputeService, {"host": "compute1", "state": "disabled", "reason": "UNSAFE: rollback failed", "reason_tag": "r1"})
    assert result["changed"] and "Updated the reason" in result["msg"]
    assert cloud.service_map["compute1"]["disabled_reason"] == "[ndu.dataplane r1] UNSAFE: rollback failed"
    assert not run_module(ComputeService, {"host": "compute1", "state": "disabled", "reason": "UNSAFE: rollback failed", "reason_tag": "r1"})["changed"]


def test_disable_again_leaves_another_runs_reason_alone(run_module, cloud):
    run_module(ComputeService, {"host": "compute1", "state": "disabled", "reason": "upgrade", "reason_tag": "r1"})
    result = run_module(ComputeService, {"host": "compute1", "state": "disabled", "reason": "other", "reason_tag": "r2"})
    assert not result["changed"] and cloud.service_map["compute1"]["disabled_reason"] == "[ndu.dataplane r1] upgrade"


def test_check_mode_changes_nothing(run_module, cloud):
    result = run_module(ComputeService, {"host": "compute1", "state": "disabled"}, check_mode=True)
    assert result["changed"] and result["after"]["status"] == "disabled"
    assert cloud.service_map["compute1"]["status"] == "enabled" and not cloud.calls


def test_foreign_disable_is_not_taken_over(run_module, cloud):
    cloud.service_map["compute2"].update(status="disabled", disabled_reason="hardware ticket 42")
    result = run_module(ComputeService, {"host": "compute2", "state": "disabled"})
    assert not result["changed"] and result["owner"] == "other"
    assert cloud.service_map["compute2"]["disabled_reason"] == "hardware ticket 42"


def test_enable_re_enables_only_our_disable(run_module, cloud):
    cloud.service_map["compute2"].update(status="disabled", disabled_reason="hardware ticket 42")
    result = run_module(ComputeService, {"host": "compute2", "state": "enabled"})
    assert result["rc"] == 0 and not result["changed"]
    assert "someone else" in result["msg"] and result["warnings"]
    assert cloud.service_map["compute2"]["status"] == "disabled"


def test_enable_our_disable(run_module, cloud):
    run_module(ComputeService, {"host": "compute1", "state": "disabled", "reason_tag": "run7"})
    other_tag = run_module(ComputeService, {"host": "compute1", "state": "enabled", "reason_tag": "run8"})
    assert not other_tag["changed"]
    result = run_module(ComputeService, {"host": "compute1", "state": "enabled", "reason_tag": "run7"})
    assert result["changed"] and result["owner"] == "ndu.dataplane"
    assert cloud.service_map["compute1"]["status"] == "enabled" and cloud.service_map["compute1"]["disabled_reason"] is None
    assert not run_module(ComputeService, {"host": "compute1", "state": "enabled"})["changed"]


def test_force_enables_foreign_disable(run_module, cloud):
    cloud.service_map["compute2"].update(status="disabled", disabled_reason="hardware ticket 42")
    result = run_module(ComputeService, {"host": "compute2", "state": "enabled", "force": True})
    assert result["changed"] and cloud.service_map["compute2"]["status"] == "enabled"


def test_enable_waits_for_down_service_and_fails_clearly(run_module, cloud):
    cloud.service_map["compute1"].update(status="disabled", disabled_reason="[ndu.dataplane] x", state="down")
    result = run_module(ComputeService, {"host": "compute1", "state": "enabled", "timeout": 30})
    assert result["failed"] and "still reports it down after 30s" in result["msg"] and "compute1" in result["msg"]


def test_unknown_host_names_known_hosts(run_module, cloud):
    result = run_module(ComputeService, {"host": "nope", "state": "disabled"})
    assert result["failed"]
    assert result["msg"] == ("Failed to find service 'nova-compute' on host 'nope': Nova knows no such host "
                             "(known nova-compute hosts: compute1, compute2, compute3)")
    assert not cloud.calls


@pytest.mark.parametrize("args, match", [({"timeout": -1}, "timeout: must not be negative"), ({"reason_tag": "a b"}, "reason_tag")])
def test_bad_input_fails_before_connecting(run_module, cloud, args, match):
    def refuse(self):
        raise AssertionError("must not connect")
    result = run_module(ComputeService, {"host": "compute1", "state": "disabled", **args}, connect=refuse)
    assert result["failed"] and match in result["msg"]


def test_unknown_state_is_refused(run_module):
    result = run_module(ComputeService, {"host": "compute1", "state": "drained"})
    assert result["failed"] and "state" in result["msg"] and "enabled, disabled" in result["msg"]


# ---- compute_service_info ------------------------------------------------------
def test_info_lists_services_and_running_migrations(run_module, cloud):
    from ansible_collections.ndu.dataplane.plugins.modules.compute_service_info import ComputeServiceInfo

    cloud.add_server("vm", "compute1", mode="hang")
    cloud.add_server("done", "compute1", duration=1)
    cloud.live_migrate("vm-uuid", None)
    cloud.live_migrate("done-uuid", "compute3")
    cloud.sleep(2)
    result = run_module(ComputeServiceInfo, {"host": "compute1"})
    assert not result["changed"] and [s["host"] for s in result["services"]] == ["compute1"]
    assert [(m["instance_uuid"], m["status"]) for m in result["migrations_in_progress"]] == [("vm-uuid", "running")]
    everyone = run_module(ComputeServiceInfo, {})
    assert [s["host"] for s in everyone["services"]] == ["compute1", "compute2", "compute3"] and everyone["migrations_in_progress"] == []


def test_info_unknown_host(run_module):
    from ansible_collections.ndu.dataplane.plugins.modules.compute_service_info import ComputeServiceInfo

    result = run_module(ComputeServiceInfo, {"host": "ghost"})
    assert result["failed"] and "Nova knows no such host" in result["msg"]


def test_info_finds_a_running_migration_behind_a_long_history(run_module, cloud):
    """Nova pages /os-migrations (newest first); the oldest, still running migration is on the last page."""
    from ansible_collections.ndu.dataplane.plugins.modules.compute_service_info import ComputeServiceInfo

    cloud.page_size = 3
    cloud.add_server("stuck", "compute1", mode="hang")
    cloud.live_migrate("stuck-uuid", "compute2")
    for n in range(8):
        server_id = cloud.add_server(f"old{n}", "compute1", duration=1)
        cloud.live_migrate(server_id, "compute3")
        cloud.sleep(2)
    result = run_module(ComputeServiceInfo, {"host": "compute1"})
    assert [(m["instance_uuid"], m["status"]) for m in result["migrations_in_progress"]] == [("stuck-uuid", "running")]
