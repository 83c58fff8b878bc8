# SPDX-License-Identifier: Apache-2.0
"""Timeouts (abort, force-complete), a failure retried on another host, NoValidHost, preflight and the inventory."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cloudhelpers import (
    ANSIBLE_PLAYBOOK, REPO, TEST_REASON, boot_many, finish, host_of, migrations, names_on, only_ours_on, parse_time,
    run_playbook, server, service, set_behaviour, set_service, wait_for)

EVACUATE = "Evacuate the host"


@pytest.fixture(scope="module")
def slow(lab: Any, conn: Any, image_flavor: tuple[str, str], created: list[str], prefix: str) -> dict[str, Any]:
    """One server on the third compute whose live migrations hang until aborted or forced."""
    host = lab.computes[2]
    srv = boot_many(conn, [f"{prefix}slow"], host, *image_flavor, created)[0]
    return {"host": host, "server": srv}


def test_slow_migration_times_out_and_is_aborted(lab: Any, conn: Any, slow: dict[str, Any], prefix: str) -> None:
    host, srv = slow["host"], slow["server"]
    only_ours_on(conn, host, prefix)
    set_behaviour(lab.lab_dir, {srv["name"]: {"mode": "hang"}})
    run = run_playbook(lab, "evacuate_module.yml", evac={"host": host, "timeout": 10, "on_timeout": "abort", "retries": 0,
                                                         "settle_timeout": 90})
    assert run.rc != 0
    result = run.result(EVACUATE, "localhost")
    assert result["failed"] and result["instances"][0]["status"] == "aborted"
    assert f"Failed to evacuate host '{host}': 1 of 1 instances could not be moved: {srv['name']}" in result["msg"]
    record = migrations(conn, srv["id"])[-1]
    assert record["status"] == "cancelled"
    now = wait_for("server settled", lambda: (lambda s: s if not s["OS-EXT-STS:task_state"] else None)(server(conn, srv["id"])), 60)
    assert now["status"] == "ACTIVE" and host_of(now) == host
    elapsed = parse_seconds(record)
    assert elapsed >= 10, f"aborted after {elapsed:.1f} s, before the 10 s timeout"


def test_slow_migration_times_out_and_is_force_completed(lab: Any, conn: Any, slow: dict[str, Any], prefix: str) -> None:
    host, srv = slow["host"], slow["server"]
    only_ours_on(conn, host, prefix)
    set_behaviour(lab.lab_dir, {srv["name"]: {"mode": "hang"}})
    run = run_playbook(lab, "evacuate_module.yml", evac={"host": host, "timeout": 10, "on_timeout": "force_complete", "retries": 0})
    assert run.rc == 0, run.stderr[-3000:]
    result = run.result(EVACUATE, "localhost")
    assert result["instances"][0]["status"] == "moved"
    record = migrations(conn, srv["id"])[-1]
    assert record["status"] == "completed" and parse_seconds(record) >= 10
    assert host_of(server(conn, srv["id"])) == result["instances"][0]["to"] != host


def parse_seconds(record: dict[str, Any]) -> float:
    return parse_time(record["updated_at"]) - parse_time(record["created_at"])


def test_injected_failure_is_retried_on_another_host(lab: Any, conn: Any, image_flavor: tuple[str, str], created: list[str],
                                                     prefix: str) -> None:
    host = lab.computes[2]
    only_ours_on(conn, host, prefix)
    srv = boot_many(conn, [f"{prefix}flaky"], host, *image_flavor, created)[0]
    set_behaviour(lab.lab_dir, {srv["name"]: {"mode": "fail", "duration": 4}})
    proc = run_playbook(lab, "evacuate_module.yml", background=True, evac={"host": host, "retries": 2, "concurrency": 1})
    # The driver reads the behaviour when a migration starts: once the first attempt runs, later ones succeed.
    wait_for("the first migration to run", lambda: any(m["status"] == "running" for m in migrations(conn, srv["id"])), 60, 0.5)
    time.sleep(1.5)
    set_behaviour(lab.lab_dir, {srv["name"]: {"mode": "ok", "duration": 2}})
    run = finish(proc)
    assert run.rc == 0, run.stderr[-3000:]
    record = next(r for r in run.result(EVACUATE, "localhost")["instances"] if r["id"] == srv["id"])
    assert record["status"] == "moved" and record["attempts"] == 2
    first, second = migrations(conn, srv["id"])[-2:]
    assert first["status"] in ("failed", "error") and second["status"] == "completed"
    assert first["dest_compute"] != second["dest_compute"] and host not in (first["dest_compute"], second["dest_compute"])
    assert host_of(server(conn, srv["id"])) == second["dest_compute"] == record["to"]
    assert names_on(conn, host, prefix) == []


@pytest.mark.parametrize("target", ["", "disabled-peer"])
def test_no_valid_host_fails_clearly_and_leaves_the_host_enabled(lab: Any, conn: Any, image_flavor: tuple[str, str],
                                                                 created: list[str], prefix: str, target: str) -> None:
    source, others = lab.computes[1], [h for h in lab.computes if h != lab.computes[1]]
    only_ours_on(conn, source, prefix)
    srv = boot_many(conn, [f"{prefix}novalid-{target or 'any'}"], source, *image_flavor, created)[0]
    for other in others:
        set_service(conn, other, "disabled", TEST_REASON)
    try:
        extra = {"live_migrate_target_host": others[0]} if target else {}
        run = run_playbook(lab, "drain_evacuate.yml", limit=source, **extra)
        assert run.rc != 0
        failure = run.result("Stop here, naming what did not move", source)["msg"]
        if target:
            assert "No valid host was found" in failure, failure
        else:
            assert f"no enabled, up nova-compute host other than '{source}'" in failure, failure
        assert f"live_migrate on {source}" in failure and "Next:" in failure
        svc = service(conn, source)
        assert svc["status"] == "enabled" and not svc["disabled_reason"], svc
        assert host_of(server(conn, srv["id"])) == source
        assert all(m["status"] != "completed" for m in migrations(conn, srv["id"]))
    finally:
        for other in others:
            set_service(conn, other, "enabled")
        conn.compute.delete(f"/servers/{srv['id']}", microversion="2.80")


def test_preflight_reports_capacity_for_the_batch(lab: Any, conn: Any) -> None:
    host = lab.computes[0]
    run = run_playbook(lab, "preflight.yml", limit=host, check=True)
    assert run.rc == 0, run.stderr[-3000:]
    capacity = run.result("Check the hosts outside the batch can absorb its instances", host)
    assert capacity["fits"] and host not in capacity["receivers"] and set(capacity["receivers"]) <= set(lab.computes)
    assert [r["resource_class"] for r in capacity["resources"]] == ["VCPU", "MEMORY_MB", "DISK_GB"]
    assert "headroom" in capacity["table"]


def test_inventory_lists_computes_with_state(lab: Any, conn: Any, tmp_path: Path) -> None:
    host = lab.computes[1]
    set_service(conn, host, "disabled", TEST_REASON)
    try:
        source = tmp_path / "lab.nova.yml"
        source.write_text("plugin: ndu.dataplane.nova\ncloud: ndu-lab\n")
        proc = subprocess.run([str(ANSIBLE_PLAYBOOK.with_name("ansible-inventory")), "-i", str(source), "--list"], cwd=REPO,
                              env=dict(lab.env, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")), capture_output=True, text=True,
                              timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        # ansible-inventory's legacy JSON wraps values from plugins as {"__ansible_unsafe": value}
        inventory = json.loads(proc.stdout, object_hook=lambda d: d["__ansible_unsafe"] if set(d) == {"__ansible_unsafe"} else d)
        hostvars = inventory["_meta"]["hostvars"]
        assert set(lab.computes) <= set(hostvars)
        assert hostvars[host]["nova_disabled_reason"] == TEST_REASON and not hostvars[host]["nova_disabled_by_ndu"]
        assert hostvars[lab.computes[0]]["ndu_nova_host"] == lab.computes[0]
        assert host in inventory["nova_disabled"]["hosts"] and lab.computes[0] in inventory["nova_enabled"]["hosts"]
        assert set(lab.computes) <= set(inventory["nova_up"]["hosts"])
        assert all(isinstance(hostvars[h]["nova_instance_count"], int) for h in lab.computes)
    finally:
        set_service(conn, host, "enabled")
