# SPDX-License-Identifier: Apache-2.0
"""Drain, evacuate, undrain and migrate back on the lab, read back through openstacksdk.

In order: check mode moves nothing; a real run empties a host of 8 instances with overlapping migrations
(migration records overlap in time); a second run changes nothing; undrain re-enables and migrate-back returns every
instance; undrain leaves a foreign disable alone.
"""
from __future__ import annotations

from typing import Any

import pytest
from cloudhelpers import (
    ORIGIN_KEY, TEST_REASON, boot_many, host_of, migrations, names_on, only_ours_on, parse_time, peak_overlap, run_playbook, server,
    service, set_behaviour, set_service)

CONCURRENCY = 3
EVACUATE = "Live-migrate every instance off"
DRAIN = "Disable nova-compute on"


@pytest.fixture(scope="module")
def eight(lab: Any, conn: Any, image_flavor: tuple[str, str], created: list[str], prefix: str) -> dict[str, Any]:
    """Eight servers pinned to the first compute, each migration taking ~6 s in the driver."""
    source = lab.computes[0]
    only_ours_on(conn, source, prefix)
    names = [f"{prefix}evac-{i}" for i in range(8)]
    set_behaviour(lab.lab_dir, {name: {"duration": 6, "mode": "ok"} for name in names})
    servers = boot_many(conn, names, source, *image_flavor, created)
    return {"source": source, "servers": servers, "names": names, "prefix": f"{prefix}evac-"}


def _role_vars() -> dict[str, Any]:
    return {"live_migrate_concurrency": CONCURRENCY, "live_migrate_timeout": 120, "drain_reason": "integration test"}


def test_check_mode_moves_nothing(lab: Any, conn: Any, eight: dict[str, Any]) -> None:
    source = eight["source"]
    run = run_playbook(lab, "drain_evacuate.yml", limit=source, check=True, **_role_vars())
    assert run.rc == 0, run.stderr
    drain = run.result(DRAIN, source)
    evac = run.result(EVACUATE, source)
    assert drain["changed"] and drain["after"]["status"] == "disabled"
    assert evac["changed"] and evac["summary"] == {"total": 8, "planned": 8}
    assert {r["status"] for r in evac["instances"]} == {"planned"}
    assert service(conn, source)["status"] == "enabled"
    assert names_on(conn, source, eight["prefix"]) == eight["names"]
    assert all(not migrations(conn, s["id"]) for s in eight["servers"])


def test_evacuation_empties_the_host_with_overlapping_migrations(lab: Any, conn: Any, eight: dict[str, Any]) -> None:
    source = eight["source"]
    run = run_playbook(lab, "drain_evacuate.yml", limit=source, **_role_vars())
    assert run.rc == 0, run.stderr[-3000:]
    evac = run.result(EVACUATE, source)
    assert evac["changed"] and evac["summary"] == {"total": 8, "moved": 8} and evac["remaining"] == []

    # Read back independently: the host is empty, disabled with our marker, every instance knows its origin.
    assert names_on(conn, source, eight["prefix"]) == []
    svc = service(conn, source)
    assert svc["status"] == "disabled" and svc["disabled_reason"] == "[ndu.dataplane] integration test"
    records = {r["id"]: r for r in evac["instances"]}
    intervals = []
    for srv in eight["servers"]:
        now = server(conn, srv["id"])
        assert now["status"] == "ACTIVE" and host_of(now) != source
        assert host_of(now) == records[srv["id"]]["to"]
        assert now["metadata"].get(ORIGIN_KEY) == source
        done = [m for m in migrations(conn, srv["id"]) if m["status"] == "completed"]
        assert len(done) == 1 and done[0]["source_compute"] == source
        intervals.append((parse_time(done[0]["created_at"]), parse_time(done[0]["updated_at"])))
    peak = peak_overlap(intervals)
    print(f"evacuation of 8 at concurrency {CONCURRENCY}: {run.seconds:.0f} s playbook, peak overlap {peak}")
    assert 2 <= peak <= CONCURRENCY, f"migration records overlap {peak} at a time; expected 2..{CONCURRENCY}: {intervals}"

    origins = run.result("Record where every moved instance came from", source)["ansible_facts"]["live_migrate_origins"]
    assert sorted(o["id"] for o in origins) == sorted(s["id"] for s in eight["servers"])
    assert {o["from"] for o in origins} == {source}


def test_second_run_changes_nothing(lab: Any, conn: Any, eight: dict[str, Any]) -> None:
    source = eight["source"]
    counts = {s["id"]: len(migrations(conn, s["id"])) for s in eight["servers"]}
    run = run_playbook(lab, "drain_evacuate.yml", limit=source, **_role_vars())
    assert run.rc == 0, run.stderr[-3000:]
    assert run.changed() == {source: 0}
    assert run.result(EVACUATE, source)["instances"] == []
    assert {s["id"]: len(migrations(conn, s["id"])) for s in eight["servers"]} == counts


def test_undrain_migrates_every_instance_back(lab: Any, conn: Any, eight: dict[str, Any]) -> None:
    source = eight["source"]
    check = run_playbook(lab, "undrain.yml", limit=source, check=True, undrain_migrate_back=True)
    assert check.rc == 0, check.stderr[-3000:]
    assert check.result("Migrate the instances that came from this host back to", source)["summary"]["planned"] == 8
    assert service(conn, source)["status"] == "disabled" and names_on(conn, source, eight["prefix"]) == []

    run = run_playbook(lab, "undrain.yml", limit=source, undrain_migrate_back=True, undrain_migrate_back_concurrency=CONCURRENCY)
    assert run.rc == 0, run.stderr[-3000:]
    back = run.result("Migrate the instances that came from this host back to", source)
    assert back["summary"] == {"total": 8, "moved": 8}
    svc = service(conn, source)
    assert svc["status"] == "enabled" and svc["state"] == "up" and not svc["disabled_reason"]
    assert names_on(conn, source, eight["prefix"]) == eight["names"]
    assert all(ORIGIN_KEY not in server(conn, s["id"])["metadata"] for s in eight["servers"])

    again = run_playbook(lab, "undrain.yml", limit=source, undrain_migrate_back=True)
    assert again.rc == 0 and again.changed() == {source: 0}


def test_undrain_leaves_a_foreign_disable_alone(lab: Any, conn: Any) -> None:
    host = lab.computes[1]
    set_service(conn, host, "disabled", TEST_REASON)
    try:
        run = run_playbook(lab, "undrain.yml", limit=host)
        assert run.rc == 0, run.stderr[-3000:]
        result = run.result("If this collection disabled it, enable nova-compute on", host)
        assert not result["changed"] and result["owner"] == "other"
        svc = service(conn, host)
        assert svc["status"] == "disabled" and svc["disabled_reason"] == TEST_REASON
    finally:
        set_service(conn, host, "enabled")
