# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

import pytest

from ansible_collections.ndu.dataplane.plugins.module_utils.evacuation import (
    Evacuator, Options, PlanError, next_target, plan, summarize, validate_options)


@pytest.fixture(autouse=True, params=["fake", "sdk"])
def ops(request, cloud):
    """Every test twice: the Evacuator on the fake cloud itself, and on NovaApi over the real SDK over the fake's HTTP."""
    if request.param == "sdk":
        from sdk_fake import sdk_connection

        from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import NovaApi

        cloud.ops = NovaApi(sdk_connection(cloud)[0])
    return getattr(cloud, "ops", cloud)


def ops_of(cloud):
    return getattr(cloud, "ops", cloud)


def run(cloud, source="compute1", candidates=None, pin=False, target=None, **opts):
    options = Options(**opts)
    the_plan = plan(ops_of(cloud).servers(host=source), source, options, target=target)
    evac = Evacuator(ops_of(cloud), options, candidates if candidates is not None else [h for h in cloud.service_map if h != source],
                     pin_to_candidates=pin, clock=cloud.clock, sleep=cloud.sleep)
    records = evac.run(the_plan)
    return evac, {r.name: r for r in records}


# ---- options and plan -------------------------------------------------------
@pytest.mark.parametrize("opts, match", [
    ({"concurrency": 0}, "concurrency must be at least 1"),
    ({"timeout": -5}, "timeout must be a positive"),
    ({"settle_timeout": 0}, "settle_timeout must be a positive"),
    ({"request_timeout": 0}, "request_timeout must be a positive"),
    ({"retries": -1}, "retries must not be negative"),
    ({"on_timeout": "pray"}, "unknown on_timeout 'pray'"),
    ({"unmovable_policy": "ignore"}, "unknown unmovable_policy 'ignore'"),
    ({"shutoff_policy": "delete"}, "unknown shutoff_policy 'delete'"),
    ({"poll_initial": 0}, "initial delay"),
])
def test_bad_options_are_refused(opts, match):
    with pytest.raises(ValueError, match=match):
        validate_options(Options(**opts))


def test_plan_by_status(cloud):
    for name, status in (("a", "ACTIVE"), ("b", "PAUSED"), ("c", "SHUTOFF")):
        cloud.add_server(name, "compute1", status)
    methods = {i.name: i.method for i in plan(cloud.servers(host="compute1"), "compute1", Options()).items}
    assert methods == {"a": "live", "b": "live", "c": "leave"}
    cold = {i.name: i.method for i in plan(cloud.servers(host="compute1"), "compute1", Options(shutoff_policy="cold_migrate")).items}
    assert cold["c"] == "cold"


def test_plan_fails_on_unmovable_with_policy_fail(cloud):
    cloud.add_server("susp", "compute1", "SUSPENDED")
    with pytest.raises(PlanError, match=r"cannot be live-migrated: susp \(susp-uuid, status SUSPENDED\)"):
        plan(cloud.servers(host="compute1"), "compute1", Options())


def test_plan_other_unmovable_policies(cloud):
    cloud.add_server("susp", "compute1", "SUSPENDED")
    servers = cloud.servers(host="compute1")
    skipped = plan(servers, "compute1", Options(unmovable_policy="skip_host"))
    assert "susp" in skipped.skip_reason and skipped.items[0].method == "leave"
    assert plan(servers, "compute1", Options(unmovable_policy="cold_migrate")).items[0].method == "cold"
    assert plan(servers, "compute1", Options(unmovable_policy="stop_and_cold_migrate")).items[0].method == "stop_and_cold"


def test_plan_refuses_busy_instances(cloud):
    sid = cloud.add_server("busy", "compute1")
    cloud.server_map[sid]["OS-EXT-STS:task_state"] = "migrating"
    with pytest.raises(PlanError, match="busy with another operation: busy .*task_state migrating"):
        plan(cloud.servers(host="compute1"), "compute1", Options())


def test_next_target_prefers_least_loaded_untried():
    assert next_target(["c2", "c3", "c4"], ["c2"], {"c3": 2, "c4": 1}) == "c4"
    assert next_target(["c2", "c3"], ["c2", "c3"], {}) is None
    assert next_target(["c3", "c2"], [], {}) == "c2"


# ---- running ---------------------------------------------------------------
def test_evacuates_eight_with_overlap_bounded_by_concurrency(cloud):
    for i in range(8):
        cloud.add_server(f"vm{i}", "compute1")
    evac, records = run(cloud, concurrency=3)
    assert cloud.on("compute1") == []
    assert {r.status for r in records.values()} == {"moved"}
    assert all(r.to in ("compute2", "compute3") and r.attempts == 1 and r.method == "live" for r in records.values())
    events = sorted([(m["_start"], 1) for m in cloud.migration_list] + [(m["_end"], -1) for m in cloud.migration_list], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 3
    assert summarize(records.values()) == {"total": 8, "moved": 8}


def test_records_name_source_migration_and_seconds(cloud):
    cloud.add_server("vm", "compute1", duration=8)
    _, records = run(cloud)
    rec = records["vm"].as_result()
    assert rec["from"] == "compute1" and rec["status"] == "moved" and rec["migrations"] == [1]
    assert 8 <= rec["seconds"] <= 15


def test_timeout_aborts_and_leaves_instance_home(cloud):
    cloud.add_server("slow", "compute1", mode="hang")
    evac, records = run(cloud, timeout=20, on_timeout="abort")
    assert records["slow"].status == "aborted"
    assert ("abort", "slow-uuid", 1) in cloud.calls
    assert cloud.on("compute1") == ["slow"] and cloud.server_map["slow-uuid"]["status"] == "ACTIVE"
    assert cloud.migration_list[0]["status"] == "cancelled"
    assert evac.halted and "aborted" in evac.halted


def test_timeout_force_completes(cloud):
    cloud.add_server("slow", "compute1", mode="hang")
    _, records = run(cloud, timeout=20, on_timeout="force_complete")
    assert records["slow"].status == "moved"
    assert ("force_complete", "slow-uuid", 1) in cloud.calls
    assert cloud.on("compute1") == []


def test_timeout_fail_leaves_migration_running(cloud):
    cloud.add_server("slow", "compute1", mode="hang")
    _, records = run(cloud, timeout=20, on_timeout="fail")
    assert records["slow"].status == "timed_out" and "left running" in records["slow"].message
    assert cloud.migration_list[0]["status"] == "running"


def test_failed_migration_is_retried_on_another_host(cloud):
    cloud.add_server("flaky", "compute1", mode="fail", fail_times=1)
    _, records = run(cloud, retries=2)
    rec = records["flaky"]
    assert rec.status == "moved" and rec.attempts == 2
    first_dest = cloud.migration_list[0]["dest_compute"]
    assert cloud.migration_list[0]["status"] == "error"
    retry_call = [c for c in cloud.calls if c[0] == "live_migrate"][1]
    assert retry_call[2] not in (None, first_dest, "compute1")
    assert rec.to == retry_call[2]


def test_lost_request_is_reset_to_active_and_retried_on_another_host(cloud):
    cloud.add_server("lost", "compute1", mode="lost", fail_times=1)
    _, records = run(cloud, retries=1, request_timeout=60, timeout=600)
    rec = records["lost"]
    assert rec.status == "moved" and rec.attempts == 2 and rec.to in ("compute2", "compute3")
    assert ("reset_state", "lost-uuid", "active") in cloud.calls
    assert [c[2] for c in cloud.calls if c[0] == "live_migrate"][1] == rec.to
    assert rec.seconds < 120, "the lost request was noticed at request_timeout, not at the migration timeout"


def test_lost_request_without_retries_fails_with_the_instance_active_at_home(cloud):
    cloud.add_server("lost", "compute1", mode="lost")
    _, records = run(cloud, retries=0, request_timeout=30)
    rec = records["lost"]
    assert rec.status == "failed" and "the request was lost" in rec.message and "reset to ACTIVE on compute1" in rec.message
    server = cloud.server_map["lost-uuid"]
    assert (server["status"], server["OS-EXT-STS:task_state"], server["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", None, "compute1")


def test_lost_request_of_a_paused_instance_is_not_reset(cloud):
    cloud.add_server("paused", "compute1", "PAUSED", mode="lost")
    _, records = run(cloud, retries=0, request_timeout=30)
    rec = records["paused"]
    assert rec.status == "failed" and "reset its state by hand" in rec.message
    assert not [c for c in cloud.calls if c[0] == "reset_state"]
    assert cloud.server_map["paused-uuid"]["OS-EXT-STS:task_state"] == "migrating"


def test_dropped_request_fails_without_a_reset_and_is_retried(cloud):
    cloud.add_server("dropped", "compute1", mode="dropped", fail_times=1)
    _, records = run(cloud, retries=1, request_timeout=30)
    assert records["dropped"].status == "moved" and records["dropped"].attempts == 2
    assert not [c for c in cloud.calls if c[0] == "reset_state"]


def test_a_slow_migration_with_a_record_is_not_taken_for_a_lost_request(cloud):
    cloud.add_server("slow", "compute1", duration=200)
    _, records = run(cloud, request_timeout=30, timeout=600)
    assert records["slow"].status == "moved" and records["slow"].attempts == 1
    assert not [c for c in cloud.calls if c[0] == "reset_state"]


def test_instance_put_in_error_by_a_failed_conductor_is_reset_and_retried(cloud):
    cloud.add_server("vm", "compute1", mode="error", fail_times=1)
    _, records = run(cloud, retries=1)
    rec = records["vm"]
    assert rec.status == "moved" and rec.attempts == 2
    assert ("reset_state", "vm-uuid", "active") in cloud.calls
    assert cloud.server_map["vm-uuid"]["status"] == "ACTIVE"


def test_instance_put_in_error_is_left_in_error_when_it_no_longer_runs(cloud):
    cloud.add_server("vm", "compute1", mode="error")
    cloud.server_map["vm-uuid"]["OS-EXT-STS:power_state"] = 4
    _, records = run(cloud, retries=0)
    assert records["vm"].status == "failed" and "reset" not in records["vm"].message
    assert not [c for c in cloud.calls if c[0] == "reset_state"] and cloud.server_map["vm-uuid"]["status"] == "ERROR"


def test_instance_deleted_during_its_migration_is_gone_and_the_rest_move(cloud):
    cloud.add_server("a-deleted", "compute1", duration=20)
    cloud.add_server("b-ok", "compute1")
    cloud.add_server("c-ok", "compute1")
    sleep = cloud.sleep

    def sleep_then_delete(seconds):
        sleep(seconds)
        if cloud.now > 1005 and "a-deleted-uuid" in cloud.server_map:
            cloud.delete("a-deleted-uuid")
    cloud.sleep = sleep_then_delete
    evac, records = run(cloud, concurrency=1)
    assert records["a-deleted"].status == "gone" and records["a-deleted"].message == "deleted while the host was being emptied"
    assert [records[n].status for n in ("b-ok", "c-ok")] == ["moved", "moved"] and not evac.halted


def test_hanging_migration_of_a_deleted_instance_is_gone_not_aborted(cloud):
    cloud.add_server("hung", "compute1", mode="hang")
    sleep = cloud.sleep

    def sleep_then_vanish(seconds):
        sleep(seconds)
        cloud.server_map.pop("hung-uuid", None)  # its migration record still says running
    cloud.sleep = sleep_then_vanish
    _, records = run(cloud, timeout=20, on_timeout="abort")
    assert records["hung"].status == "gone" and not [c for c in cloud.calls if c[0] == "abort"]


def test_instance_deleted_before_its_turn_is_gone(cloud):
    cloud.add_server("a-ok", "compute1")
    cloud.add_server("b-deleted", "compute1")
    options = Options(concurrency=1)
    the_plan = plan(cloud.servers(host="compute1"), "compute1", options)
    cloud.delete("b-deleted-uuid")
    evac = Evacuator(ops_of(cloud), options, ["compute2", "compute3"], on_start=lambda item: cloud.set_metadata(item.id, "k", "v"),
                     clock=cloud.clock, sleep=cloud.sleep)
    records = {r.name: r for r in evac.run(the_plan)}
    assert (records["a-ok"].status, records["b-deleted"].status) == ("moved", "gone")


def test_failure_without_retries_halts_the_rest(cloud):
    cloud.add_server("a-bad", "compute1", mode="fail")
    cloud.add_server("b-ok", "compute1")
    evac, records = run(cloud, retries=0, concurrency=1)
    assert records["a-bad"].status == "failed" and "ended 'error'" in records["a-bad"].message
    assert records["b-ok"].status == "not_started" and cloud.on("compute1") == ["a-bad", "b-ok"]
    assert not evac.host_skipped


def test_skip_host_policy_marks_host_skipped(cloud):
    cloud.add_server("bad", "compute1", mode="fail")
    evac, records = run(cloud, retries=0, unmovable_policy="skip_host")
    assert evac.host_skipped and records["bad"].status == "failed"


def test_retries_exhausted_fall_back_to_cold_migration(cloud):
    cloud.add_server("bad", "compute1", mode="fail")
    _, records = run(cloud, retries=1, unmovable_policy="cold_migrate")
    assert records["bad"].status == "moved" and records["bad"].method == "cold"
    assert ("confirm_resize", "bad-uuid") in cloud.calls
    assert cloud.server_map["bad-uuid"]["status"] == "ACTIVE"


def test_shutoff_cold_migrated_keeps_power_state(cloud):
    cloud.add_server("off", "compute1", "SHUTOFF")
    _, records = run(cloud, shutoff_policy="cold_migrate")
    assert records["off"].status == "moved" and cloud.server_map["off-uuid"]["status"] == "SHUTOFF"
    assert not [c for c in cloud.calls if c[0] in ("start", "stop")]


def test_stop_and_cold_restores_power(cloud):
    cloud.add_server("susp", "compute1", "ACTIVE")
    cloud.server_map["susp-uuid"]["status"] = "ACTIVE"
    options = Options(unmovable_policy="stop_and_cold_migrate")
    the_plan = plan(cloud.servers(host="compute1"), "compute1", options)
    the_plan.items[0].method = "stop_and_cold"  # as planned for an instance that cannot live-migrate
    records = Evacuator(ops_of(cloud), options, ["compute2"], clock=cloud.clock, sleep=cloud.sleep).run(the_plan)
    assert records[0].status == "moved"
    assert [c[0] for c in cloud.calls if c[0] in ("stop", "cold_migrate", "confirm_resize", "start")] == ["stop", "cold_migrate", "confirm_resize", "start"]
    assert cloud.server_map["susp-uuid"]["status"] == "ACTIVE"


def stop_and_cold(cloud, target=None, candidates=("compute2",), **opts):
    """Run the Evacuator on an ACTIVE instance planned for stop_and_cold (one that cannot live-migrate)."""
    options = Options(unmovable_policy="stop_and_cold_migrate", **opts)
    the_plan = plan(ops_of(cloud).servers(host="compute1"), "compute1", options, target=target)
    the_plan.items[0].method = "stop_and_cold"
    return Evacuator(ops_of(cloud), options, list(candidates), clock=cloud.clock, sleep=cloud.sleep).run(the_plan)[0]


def power_calls(cloud):
    return [c[0] for c in cloud.calls if c[0] in ("stop", "cold_migrate", "confirm_resize", "start")]


def test_stop_and_cold_refused_starts_the_instance_again(cloud):
    # Nova refuses the cold migration (400: the requested host does not exist): the instance stopped for it runs again.
    cloud.add_server("vm", "compute1")
    record = stop_and_cold(cloud, target="compute9")
    assert record.status == "failed" and "Nova refused cold migration" in record.message, record
    assert power_calls(cloud) == ["stop", "cold_migrate", "start"]
    assert cloud.server_map["vm-uuid"]["status"] == "ACTIVE" and cloud.on("compute1") == ["vm"]
    assert "started again on compute1" in record.message, record.message


def test_stop_and_cold_without_a_host_starts_the_instance_again(cloud):
    # No valid host (Nova reports it on the migration record): still on the source, stopped for nothing.
    cloud.service_map["compute2"]["status"] = "disabled"
    cloud.service_map["compute3"]["status"] = "disabled"
    cloud.add_server("vm", "compute1")
    record = stop_and_cold(cloud)
    assert record.status == "failed" and "still on compute1" in record.message, record
    assert power_calls(cloud) == ["stop", "cold_migrate", "start"]
    assert cloud.server_map["vm-uuid"]["status"] == "ACTIVE"


def test_stop_and_cold_timed_out_starts_the_instance_again_once_nova_is_done(cloud):
    # The cold migration outlasts the timeout; Nova then ends it in error, the instance SHUTOFF on the source.
    cloud.add_server("vm", "compute1", cold="fail", cold_duration=40)
    record = stop_and_cold(cloud, timeout=30, settle_timeout=60)
    assert record.status == "timed_out", record
    assert power_calls(cloud) == ["stop", "cold_migrate", "start"]
    assert cloud.server_map["vm-uuid"]["status"] == "ACTIVE" and "started again on compute1" in record.message


def test_stop_and_cold_still_migrating_says_the_instance_stays_stopped(cloud):
    # Nova still holds the instance in its cold migration after the settle time: it cannot be started; the message says so.
    cloud.add_server("vm", "compute1", cold="hang")
    record = stop_and_cold(cloud, timeout=30, settle_timeout=20)
    assert record.status == "timed_out" and "start" not in power_calls(cloud)
    assert "stays stopped" in record.message and "RESIZE" in record.message, record.message


def test_stop_and_cold_live_fallback_refused_starts_the_instance_again(cloud):
    # Live migration fails after its retries, the stop_and_cold fallback is refused: running again where it was.
    cloud.add_server("vm", "compute1", mode="fail")
    _, records = run(cloud, retries=0, unmovable_policy="stop_and_cold_migrate", target="compute9", candidates=["compute2"])
    assert records["vm"].method == "stop_and_cold" and records["vm"].status == "failed", records["vm"]
    assert cloud.server_map["vm-uuid"]["status"] == "ACTIVE" and power_calls(cloud)[-1] == "start"


def test_no_valid_host_is_a_clear_failure(cloud):
    cloud.service_map["compute2"]["status"] = "disabled"
    cloud.service_map["compute3"]["status"] = "disabled"
    cloud.add_server("vm", "compute1")
    _, records = run(cloud, candidates=[], retries=2)
    assert records["vm"].status == "failed"
    assert "No valid host was found" in records["vm"].message
    assert cloud.on("compute1") == ["vm"]


def test_pinned_candidates_spread_and_target_host(cloud):
    for i in range(4):
        cloud.add_server(f"vm{i}", "compute1")
    _, records = run(cloud, candidates=["compute2", "compute3"], pin=True, concurrency=4)
    assert sorted(r.to for r in records.values()) == ["compute2", "compute2", "compute3", "compute3"]
    cloud2_calls = [c for c in cloud.calls if c[0] == "live_migrate"]
    assert all(c[2] in ("compute2", "compute3") for c in cloud2_calls)


def test_target_host_is_used(cloud):
    cloud.add_server("vm", "compute1")
    _, records = run(cloud, target="compute3")
    assert records["vm"].to == "compute3" and ("live_migrate", "vm-uuid", "compute3") in cloud.calls


def test_on_start_and_on_moved_hooks(cloud):
    cloud.add_server("vm", "compute1")
    seen = []
    options = Options()
    the_plan = plan(cloud.servers(host="compute1"), "compute1", options)
    Evacuator(ops_of(cloud), options, ["compute2"], on_start=lambda i: seen.append(("start", i.name)),
              on_moved=lambda i, dest: seen.append(("moved", i.name, dest)), clock=cloud.clock, sleep=cloud.sleep).run(the_plan)
    assert seen[0] == ("start", "vm") and seen[1][:2] == ("moved", "vm")


def test_api_error_mid_flight_fails_only_that_instance(cloud, monkeypatch):
    from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import ApiError

    cloud.add_server("a", "compute1")
    cloud.add_server("b", "compute1")
    real_newest, real_list = cloud.newest_migration, cloud.migrations

    def flaky(real):
        def call(server_id=None, **kw):
            if (server_id or kw.get("instance_uuid")) == "a-uuid" and cloud.now > 1003:
                raise ApiError(500, "database went away", "GET /os-migrations")
            return real(server_id, **kw) if server_id else real(**kw)
        return call
    monkeypatch.setattr(cloud, "newest_migration", flaky(real_newest))  # what the Evacuator calls on the fake
    monkeypatch.setattr(cloud, "migrations", flaky(real_list))  # what the fake's HTTP front calls under the SDK
    evac, records = run(cloud, concurrency=2)
    assert records["a"].status == "failed" and "database went away" in records["a"].message
    assert records["b"].status == "moved"
    assert evac.halted and "'a' failed" in evac.halted


def test_async_no_valid_host_names_nova_reason_and_requested_host(cloud):
    cloud.service_map["compute3"]["status"] = "disabled"
    cloud.add_server("vm", "compute1")
    _, records = run(cloud, target="compute3", candidates=["compute3"], retries=1)
    message = records["vm"].message
    assert records["vm"].status == "failed" and records["vm"].attempts == 1
    assert "to compute3 ended 'error': No valid host was found." in message and "no other host left to retry on" in message
