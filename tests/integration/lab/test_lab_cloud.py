# SPDX-License-Identifier: Apache-2.0
"""The lab's cloud: servers pinned per compute, live migration through the
lab driver (complete, fail-and-rollback, error, hang + abort, hang + force),
read back from Nova and Placement."""
from __future__ import annotations

import time
import uuid
from typing import Any, Iterator

import pytest
from labhelpers import (
    boot_on,
    host_of,
    latest_migration,
    live_migrate,
    nova,
    server,
    set_behaviour,
    wait_for,
    wait_migration,
    wait_settled,
)

RUN = uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def conn(lab: Any) -> Any:
    if len(lab.computes) < 2:
        pytest.skip("live migration needs at least 2 test hosts")
    return lab.connect()


@pytest.fixture(scope="module")
def fleet(lab: Any, conn: Any) -> Iterator[dict[str, dict[str, Any]]]:
    """One server pinned to each compute (microversion 2.74 host=), deleted afterwards."""
    set_behaviour(lab.lab_dir, {})
    image = conn.image.find_image("ndu-lab-image")
    flavor = conn.compute.find_flavor("ndu-lab-tiny")
    assert image is not None and flavor is not None, "labctl up must create ndu-lab-image and ndu-lab-tiny"
    created: dict[str, dict[str, Any]] = {}
    try:
        for host in lab.computes:
            name = f"pin-{host}-{RUN}"
            created[host] = boot_on(conn, name, host, image.id, flavor.id)
        yield created
    finally:
        for srv in created.values():
            nova(conn, "delete", f"/servers/{srv['id']}")
        set_behaviour(lab.lab_dir, {})


def _boot(lab: Any, conn: Any, name: str, host: str) -> dict[str, Any]:
    image = conn.image.find_image("ndu-lab-image")
    flavor = conn.compute.find_flavor("ndu-lab-tiny")
    return boot_on(conn, f"{name}-{RUN}", host, image.id, flavor.id)


def _allocation_providers(conn: Any, server_id: str) -> set[str]:
    resp = conn.placement.get(f"/allocations/{server_id}",
                              headers={"OpenStack-API-Version": "placement 1.28"})
    assert resp.status_code == 200, resp.text
    return set(resp.json()["allocations"])


def _rp_uuid(conn: Any, host: str) -> str:
    rps = [rp for rp in conn.placement.resource_providers() if rp.name == host]
    assert len(rps) == 1, f"expected one resource provider named {host}, found {len(rps)}"
    return rps[0].id


def test_boot_pins_one_server_to_each_compute(lab: Any, conn: Any, fleet: dict[str, dict[str, Any]]) -> None:
    for host, srv in fleet.items():
        fresh = server(conn, srv["id"])
        assert fresh["status"] == "ACTIVE"
        assert host_of(fresh) == host
        assert _allocation_providers(conn, srv["id"]) == {_rp_uuid(conn, host)}


def test_live_migration_completes(lab: Any, conn: Any, fleet: dict[str, dict[str, Any]]) -> None:
    source, dest = lab.computes[0], lab.computes[1]
    srv = fleet[source]
    set_behaviour(lab.lab_dir, {srv["name"]: {"duration": 1, "mode": "ok"}})
    live_migrate(conn, srv["id"], dest)
    mig = wait_migration(conn, srv["id"], ("completed", "error", "failed", "cancelled"))
    assert mig["status"] == "completed", mig
    fresh = wait_settled(conn, srv["id"])
    assert fresh["status"] == "ACTIVE"
    assert host_of(fresh) == dest
    assert _allocation_providers(conn, srv["id"]) == {_rp_uuid(conn, dest)}
    # Keep the fixture's map true for the tests after this one.
    fleet[dest + "-migrated"] = fleet.pop(source)


def test_migration_fails_and_rolls_back(lab: Any, conn: Any) -> None:
    source, dest = lab.computes[-1], lab.computes[0]
    srv = _boot(lab, conn, "failmig", source)
    try:
        set_behaviour(lab.lab_dir, {srv["name"]: {"duration": 1, "mode": "fail"}})
        live_migrate(conn, srv["id"], dest)
        mig = wait_migration(conn, srv["id"], ("completed", "error", "failed", "cancelled"))
        assert mig["status"] == "failed", mig
        fresh = wait_settled(conn, srv["id"])
        assert fresh["status"] == "ACTIVE", "a rolled-back migration leaves the server ACTIVE"
        assert host_of(fresh) == source, "a rolled-back migration leaves the server on its source"
        assert _allocation_providers(conn, srv["id"]) == {_rp_uuid(conn, source)}
    finally:
        nova(conn, "delete", f"/servers/{srv['id']}")


def test_migration_error_mode_puts_server_in_error(lab: Any, conn: Any) -> None:
    source, dest = lab.computes[-1], lab.computes[0]
    srv = _boot(lab, conn, "errmig", source)
    try:
        set_behaviour(lab.lab_dir, {srv["name"]: {"duration": 0.5, "mode": "error"}})
        live_migrate(conn, srv["id"], dest)
        mig = wait_migration(conn, srv["id"], ("completed", "error", "failed", "cancelled"))
        assert mig["status"] == "error", mig
        fresh = wait_for("server ERROR", lambda: (s := server(conn, srv["id"]))["status"] == "ERROR" and s, 60)
        assert host_of(fresh) == source
    finally:
        nova(conn, "delete", f"/servers/{srv['id']}")


def test_hanging_migration_is_aborted_for_that_instance_only(lab: Any, conn: Any) -> None:
    """Two migrations from one host at once: aborting the hanging one leaves the other alone."""
    source, dest = lab.computes[0], lab.computes[1]
    hang = _boot(lab, conn, "hang", source)
    other = _boot(lab, conn, "other", source)
    try:
        set_behaviour(lab.lab_dir, {hang["name"]: {"mode": "hang"},
                                    other["name"]: {"duration": 15, "mode": "ok"}})
        live_migrate(conn, hang["id"], dest)
        running = wait_migration(conn, hang["id"], ("running",), timeout=60)
        live_migrate(conn, other["id"], dest)
        wait_migration(conn, other["id"], ("running",), timeout=60)
        nova(conn, "delete", f"/servers/{hang['id']}/migrations/{running['id']}")
        aborted = wait_migration(conn, hang["id"], ("cancelled", "completed", "error", "failed"))
        assert aborted["status"] == "cancelled", aborted
        assert latest_migration(conn, other["id"])["status"] == "running", \
            "aborting one instance's migration must leave the other one running"
        done = wait_migration(conn, other["id"], ("completed", "cancelled", "error", "failed"))
        assert done["status"] == "completed", "abort must act on one instance, not the whole host"
        assert host_of(wait_settled(conn, hang["id"])) == source
        assert host_of(wait_settled(conn, other["id"])) == dest
    finally:
        for srv in (hang, other):
            nova(conn, "delete", f"/servers/{srv['id']}")


def test_hanging_migration_can_be_forced_to_complete(lab: Any, conn: Any) -> None:
    source, dest = lab.computes[1], lab.computes[0]
    srv = _boot(lab, conn, "force", source)
    try:
        set_behaviour(lab.lab_dir, {srv["name"]: {"mode": "hang"}})
        live_migrate(conn, srv["id"], dest)
        running = wait_migration(conn, srv["id"], ("running",), timeout=60)
        # Still hanging well past the default duration: nothing ends it but us.
        time.sleep(5)
        assert latest_migration(conn, srv["id"])["status"] == "running"
        nova(conn, "post", f"/servers/{srv['id']}/migrations/{running['id']}/action",
             {"force_complete": None})
        done = wait_migration(conn, srv["id"], ("completed", "cancelled", "error", "failed"))
        assert done["status"] == "completed", done
        assert host_of(wait_settled(conn, srv["id"])) == dest
    finally:
        nova(conn, "delete", f"/servers/{srv['id']}")
