# SPDX-License-Identifier: Apache-2.0
"""NovaApi against a recording fake connection: URLs, microversions, bodies, errors."""
from __future__ import annotations

import pytest

from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import ApiError, NovaApi


def test_services_filter_and_microversion(conn):
    conn.compute.answer(200, {"services": [{"host": "compute1"}]})
    assert NovaApi(conn).services(host="compute1") == [{"host": "compute1"}]
    assert conn.compute.requests == [("GET", "/os-services?binary=nova-compute&host=compute1", "2.53", None)]


def test_disable_sends_reason_enable_does_not(conn):
    conn.compute.answer(200, {"service": {"status": "disabled"}})
    conn.compute.answer(200, {"service": {"status": "enabled"}})
    api = NovaApi(conn)
    api.update_service("uuid-1", "disabled", "[ndu.dataplane] x")
    api.update_service("uuid-1", "enabled", None)
    assert conn.compute.requests[0] == ("PUT", "/os-services/uuid-1", "2.53", {"status": "disabled", "disabled_reason": "[ndu.dataplane] x"})
    assert conn.compute.requests[1][3] == {"status": "enabled"}


def test_servers_use_host_filter_all_projects_and_paginate(conn):
    page1 = {"servers": [{"id": "a"}, {"id": "b"}], "servers_links": [{"rel": "next", "href": "x"}]}
    conn.compute.answer(200, page1)
    conn.compute.answer(200, {"servers": [{"id": "c"}]})
    assert [s["id"] for s in NovaApi(conn).servers(host="compute1")] == ["a", "b", "c"]
    first, second = conn.compute.requests
    assert first[1] == "/servers/detail?all_tenants=True&host=compute1"
    assert second[1] == "/servers/detail?all_tenants=True&host=compute1&marker=b"


def test_live_migration_pins_microversion_and_block_auto(conn):
    NovaApi(conn).live_migrate("s1", None)
    assert conn.compute.requests == [("POST", "/servers/s1/action", "2.68", {"os-migrateLive": {"host": None, "block_migration": "auto"}})]


def test_reset_state_sends_os_reset_state(conn):
    NovaApi(conn).reset_state("s1", "active")
    assert [(r[0], r[1], r[3]) for r in conn.compute.requests] == [("POST", "/servers/s1/action", {"os-resetState": {"state": "active"}})]


def test_migration_calls(conn):
    conn.compute.answer(200, {"migrations": [{"id": 3, "status": "error"}, {"id": 7, "status": "running"}]})
    api = NovaApi(conn)
    assert api.newest_migration("s1")["id"] == 7
    api.abort_migration("s1", 7)
    api.force_complete("s1", 7)
    assert [r[:3] for r in conn.compute.requests] == [("GET", "/os-migrations?instance_uuid=s1", "2.80"),
                                                       ("DELETE", "/servers/s1/migrations/7", "2.65"),
                                                       ("POST", "/servers/s1/migrations/7/action", "2.22")]


def test_metadata_key_is_quoted_and_missing_key_ignored(conn):
    conn.compute.answer(200, {"meta": {}})
    conn.compute.answer(404, {"itemNotFound": {"message": "no key"}})
    api = NovaApi(conn)
    api.set_metadata("s1", "ndu:origin_host", "compute1")
    api.delete_metadata("s1", "ndu:origin_host")
    assert conn.compute.requests[0][1] == "/servers/s1/metadata/ndu%3Aorigin_host"
    assert conn.compute.requests[0][3] == {"meta": {"ndu:origin_host": "compute1"}}


def test_errors_carry_nova_message(conn):
    conn.compute.answer(400, {"badRequest": {"message": "No valid host was found.", "code": 400}})
    with pytest.raises(ApiError) as info:
        NovaApi(conn).live_migrate("s1", "compute2")
    assert info.value.status == 400 and info.value.message == "No valid host was found."
    assert str(info.value) == "POST /servers/s1/action returned HTTP 400: No valid host was found."


def test_placement_errors_and_microversion(conn):
    conn.placement.answer(404, {"errors": [{"title": "Not Found", "detail": "No resource provider with uuid x"}]})
    with pytest.raises(ApiError, match="No resource provider"):
        NovaApi(conn).usages("x")
    assert conn.placement.requests == [("GET", "/resource_providers/x/usages", "1.10", None)]


def test_failure_reason_reads_the_newest_action_events(conn):
    conn.compute.answer(200, {"instanceActions": [{"request_id": "req-old", "start_time": "2026-01-01T10:00:00"},
                                                  {"request_id": "req-new", "start_time": "2026-01-01T11:00:00"}]})
    conn.compute.answer(200, {"instanceAction": {"events": [
        {"event": "conductor_live_migrate_instance", "result": "Error", "details": "No valid host was found. "},
        {"event": "compute_check", "result": "Success", "details": None}]}})
    assert NovaApi(conn).failure_reason("s1") == "No valid host was found."
    assert [r[1:3] for r in conn.compute.requests] == [("/servers/s1/os-instance-actions", "2.84"),
                                                       ("/servers/s1/os-instance-actions/req-new", "2.84")]
