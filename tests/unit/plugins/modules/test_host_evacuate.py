# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

import pytest

from ansible_collections.ndu.dataplane.plugins.modules.host_evacuate import HostEvacuate
from ansible_collections.ndu.dataplane.plugins.modules.migrate_back import MigrateBack


def fill(cloud, count=8, host="compute1"):
    return [cloud.add_server(f"vm{i}", host) for i in range(count)]


def test_evacuates_everything_and_records_origin(run_module, cloud):
    ids = fill(cloud)
    result = run_module(HostEvacuate, {"host": "compute1", "concurrency": 3})
    assert result["rc"] == 0 and result["changed"]
    assert result["summary"] == {"total": 8, "moved": 8} and result["remaining"] == []
    assert cloud.on("compute1") == []
    assert all(cloud.server_map[i]["metadata"]["ndu:origin_host"] == "compute1" for i in ids)
    rec = result["instances"][0]
    assert set(rec) == {"id", "name", "from", "to", "method", "status", "seconds", "attempts", "message", "migrations"}
    assert rec["from"] == "compute1" and rec["to"] in ("compute2", "compute3")


def test_check_mode_returns_plan_and_moves_nothing(run_module, cloud):
    fill(cloud, 3)
    cloud.add_server("off", "compute1", "SHUTOFF")
    result = run_module(HostEvacuate, {"host": "compute1"}, check_mode=True)
    assert result["changed"] and result["summary"] == {"total": 4, "planned": 3}
    assert {r["name"]: r["status"] for r in result["instances"]}["off"] == "left"
    assert not cloud.calls and len(cloud.on("compute1")) == 4


def test_second_run_changes_nothing(run_module, cloud):
    fill(cloud, 2)
    run_module(HostEvacuate, {"host": "compute1"})
    calls = len(cloud.calls)
    again = run_module(HostEvacuate, {"host": "compute1"})
    assert not again["changed"] and again["instances"] == [] and len(cloud.calls) == calls


def test_existing_origin_is_kept(run_module, cloud):
    sid = cloud.add_server("vm", "compute2")
    cloud.server_map[sid]["metadata"]["ndu:origin_host"] = "compute1"
    run_module(HostEvacuate, {"host": "compute2"})
    assert cloud.server_map[sid]["metadata"]["ndu:origin_host"] == "compute1"


def test_failure_message_names_host_instance_and_next_step(run_module, cloud):
    cloud.add_server("bad", "compute1", mode="fail")
    result = run_module(HostEvacuate, {"host": "compute1", "retries": 1})
    assert result["failed"] and result["changed"]
    assert result["msg"].startswith("Failed to evacuate host 'compute1': 1 of 1 instances could not be moved: bad (bad-uuid) failed")
    assert "no other host left" not in result["msg"] and "run again" in result["msg"]
    assert result["instances"][0]["attempts"] == 2 and result["remaining"] == ["bad"]


def test_unmovable_status_fails_before_anything_moves(run_module, cloud):
    fill(cloud, 2)
    cloud.add_server("zz", "compute1", "SUSPENDED")
    result = run_module(HostEvacuate, {"host": "compute1"})
    assert result["failed"] and "Failed to plan the evacuation of host 'compute1'" in result["msg"] and "zz" in result["msg"]
    assert not cloud.calls


def test_skip_host_policy_moves_nothing_and_succeeds(run_module, cloud):
    fill(cloud, 2)
    cloud.add_server("zz", "compute1", "SUSPENDED")
    result = run_module(HostEvacuate, {"host": "compute1", "unmovable_policy": "skip_host"})
    assert result["rc"] == 0 and result["host_skipped"] and not result["changed"] and "zz" in result["skip_reason"]
    assert not cloud.calls


def test_no_receiver_is_a_clear_error(run_module, cloud):
    fill(cloud, 1)
    for host in ("compute2", "compute3"):
        cloud.service_map[host]["status"] = "disabled"
    result = run_module(HostEvacuate, {"host": "compute1"})
    assert result["failed"] and "no enabled, up nova-compute host other than 'compute1'" in result["msg"] and "NoValidHost" in result["msg"]
    assert not cloud.calls


def test_target_aggregate_limits_receivers(run_module, cloud):
    fill(cloud, 3)
    cloud.aggregate_hosts["rack-b"] = ["compute3"]
    result = run_module(HostEvacuate, {"host": "compute1", "target_aggregate": "rack-b"})
    assert {r["to"] for r in result["instances"]} == {"compute3"}
    missing = run_module(HostEvacuate, {"host": "compute3", "target_aggregate": "rack-z"})
    assert missing["failed"] and "host aggregate 'rack-z' does not exist" in missing["msg"]


def test_unknown_target_host(run_module, cloud):
    fill(cloud, 1)
    result = run_module(HostEvacuate, {"host": "compute1", "target_host": "compute9"})
    assert result["failed"] and "target_host 'compute9' is not a nova-compute host" in result["msg"]


def test_unknown_host(run_module, cloud):
    result = run_module(HostEvacuate, {"host": "compute9"})
    assert result["failed"] and "Failed to find nova-compute on host 'compute9'" in result["msg"] and "compute1, compute2, compute3" in result["msg"]


@pytest.mark.parametrize("args, match", [
    ({"concurrency": 0}, "concurrency must be at least 1, got 0"),
    ({"timeout": -1}, "timeout must be a positive number of seconds, got -1"),
    ({"settle_timeout": -3}, "settle_timeout must be a positive"),
    ({"retries": -1}, "retries must not be negative"),
    ({"poll_max": 0}, "maximum delay"),
])
def test_bad_numbers_fail_before_connecting(run_module, args, match):
    def refuse(self):
        raise AssertionError("must not connect")
    result = run_module(HostEvacuate, {"host": "compute1", **args}, connect=refuse)
    assert result["failed"] and result["msg"].startswith("Failed to validate options: ") and match in result["msg"]


@pytest.mark.parametrize("option", ["unmovable_policy", "on_timeout", "shutoff_policy"])
def test_unknown_policy_is_refused(run_module, option):
    result = run_module(HostEvacuate, {"host": "compute1", option: "whatever"})
    assert result["failed"] and option in result["msg"] and "whatever" in result["msg"]


def test_target_host_and_aggregate_are_exclusive(run_module):
    result = run_module(HostEvacuate, {"host": "compute1", "target_host": "compute2", "target_aggregate": "a"})
    assert result["failed"] and "mutually exclusive" in result["msg"]


# ---- migrate_back -------------------------------------------------------------
def test_migrate_back_returns_everything_and_clears_origin(run_module, cloud):
    ids = fill(cloud, 4)
    run_module(HostEvacuate, {"host": "compute1"})
    check = run_module(MigrateBack, {"host": "compute1"}, check_mode=True)
    assert check["changed"] and check["summary"]["planned"] == 4 and cloud.on("compute1") == []
    result = run_module(MigrateBack, {"host": "compute1", "concurrency": 2})
    assert result["rc"] == 0 and result["summary"] == {"total": 4, "moved": 4}
    assert cloud.on("compute1") == [f"vm{i}" for i in range(4)]
    assert not any("ndu:origin_host" in cloud.server_map[i]["metadata"] for i in ids)
    assert not run_module(MigrateBack, {"host": "compute1"})["changed"]


def test_migrate_back_explicit_list_and_home_already(run_module, cloud):
    away = cloud.add_server("away", "compute2")
    home = cloud.add_server("home", "compute1")
    cloud.server_map[home]["metadata"]["ndu:origin_host"] = "compute1"
    result = run_module(MigrateBack, {"host": "compute1", "instances": [away, home, "gone-uuid"]})
    assert result["changed"] and result["origin_cleared"] == [home] and result["warnings"]
    assert cloud.on("compute1") == ["away", "home"]


def test_migrate_back_refuses_disabled_host(run_module, cloud):
    cloud.service_map["compute1"].update(status="disabled", disabled_reason="[ndu.dataplane] upgrade")
    result = run_module(MigrateBack, {"host": "compute1"})
    assert result["failed"] and "undrain it first" in result["msg"] and "[ndu.dataplane] upgrade" in result["msg"]


def test_migrate_back_check_mode_on_disabled_host_warns(run_module, cloud):
    cloud.add_server("vm", "compute2")
    cloud.server_map["vm-uuid"]["metadata"]["ndu:origin_host"] = "compute1"
    cloud.service_map["compute1"].update(status="disabled", disabled_reason="[ndu.dataplane] upgrade")
    result = run_module(MigrateBack, {"host": "compute1"}, check_mode=True)
    assert result["rc"] == 0 and result["changed"] and result["summary"]["planned"] == 1
    assert "undrain it first" in result["warnings"][0] and not cloud.calls
