# SPDX-License-Identifier: Apache-2.0
"""NovaApi on the real openstacksdk, its HTTP answered by the fake cloud: what goes on the wire.

Paths, query strings, bodies and the microversion each request carries, Nova's paging followed to the
end, and Nova's error messages carried into ApiError.
"""
from __future__ import annotations

import pytest

from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import (
    MV_LIVE_MIGRATE, MV_MIGRATIONS, ApiError, CloudTooOld, NovaApi)


def version(text: str | None) -> tuple[int, ...]:
    return tuple(int(p) for p in (text or "0").split("."))


def test_services_filter_by_host_and_binary_at_2_53(wire):
    api, http = wire
    found = api.services(host="compute1")
    assert [s["host"] for s in found] == ["compute1"] and found[0]["zone"] == "nova" and found[0]["id"] == "svc-compute1"
    (request,) = http.log.calls("GET", "/os-services")
    assert request.query == {"binary": "nova-compute", "host": "compute1"} and request.microversion == "2.53"


def test_disable_sends_the_reason_enable_does_not(wire, cloud):
    api, http = wire
    after = api.update_service("svc-compute1", "disabled", "[ndu.dataplane] x")
    assert after["status"] == "disabled" and after["disabled_reason"] == "[ndu.dataplane] x"
    api.update_service("svc-compute1", "enabled", None)
    first, second = http.log.calls("PUT")
    assert first.path == "/os-services/svc-compute1" and first.body == {"status": "disabled", "disabled_reason": "[ndu.dataplane] x"}
    assert second.body == {"status": "enabled"} and version(second.microversion) >= (2, 53)
    assert cloud.service_map["compute1"]["status"] == "enabled"


def test_servers_of_all_projects_on_a_host_follow_every_page(wire, cloud):
    api, http = wire
    cloud.page_size = 2
    for n in range(5):
        cloud.add_server(f"vm{n}", "compute1")
    cloud.add_server("elsewhere", "compute2")
    assert sorted(s["name"] for s in api.servers(host="compute1")) == [f"vm{n}" for n in range(5)]
    pages = http.log.calls("GET", "/servers/detail")
    assert len(pages) == 3 and all(p.query["host"] == "compute1" and p.query["all_tenants"] == "True" for p in pages)
    assert [p.query.get("marker") for p in pages] == [None, "vm1-uuid", "vm3-uuid"]


def test_server_keys_are_novas(wire, cloud):
    api, _ = wire
    cloud.add_server("web", "compute2")
    server = api.server("web-uuid")
    assert server["OS-EXT-SRV-ATTR:host"] == "compute2" and server["OS-EXT-STS:task_state"] is None
    assert server["OS-EXT-STS:power_state"] == 1 and server["status"] == "ACTIVE" and server["metadata"] == {}


def test_a_missing_server_is_a_404_api_error(wire):
    api, _ = wire
    with pytest.raises(ApiError) as info:
        api.server("nope")
    assert info.value.status == 404 and info.value.message == "Instance nope could not be found."
    assert str(info.value) == "GET /servers/nope returned HTTP 404: Instance nope could not be found."


def test_live_migration_is_asynchronous_2_68_not_the_sdks_2_30(wire, cloud):
    """The SDK's live_migrate_server would send 2.30 (synchronous NoValidHost, "force"); ours sends 2.68."""
    api, http = wire
    cloud.add_server("web", "compute1")
    cloud.add_server("db", "compute1")
    api.live_migrate("web-uuid", None)
    api.live_migrate("db-uuid", "compute3")
    first, second = http.log.calls("POST")
    assert first.microversion == second.microversion == MV_LIVE_MIGRATE == "2.68"
    assert first.body == {"os-migrateLive": {"host": None, "block_migration": "auto"}}
    assert second.body == {"os-migrateLive": {"host": "compute3", "block_migration": "auto"}}
    assert cloud.migration_list[-1]["dest_compute"] == "compute3"


def test_live_migration_refusal_carries_novas_message(wire, cloud):
    api, _ = wire
    cloud.add_server("web", "compute1")
    with pytest.raises(ApiError) as info:
        api.live_migrate("web-uuid", "compute9")
    assert info.value.status == 400 and info.value.message == "Compute host compute9 could not be found."
    assert info.value.call == "POST /servers/web-uuid/action (os-migrateLive)"


def test_cold_migration_names_the_host_only_when_given(wire, cloud):
    api, http = wire
    cloud.add_server("a", "compute1", status="SHUTOFF")
    cloud.add_server("b", "compute1", status="SHUTOFF")
    api.cold_migrate("a-uuid", "compute2")
    api.cold_migrate("b-uuid", None)
    bodies = [r.body for r in http.log.calls("POST")]
    assert bodies == [{"migrate": {"host": "compute2"}}, {"migrate": None}]
    assert all(version(r.microversion) >= (2, 56) for r in http.log.calls("POST"))


def test_server_actions_bodies(wire, cloud):
    api, http = wire
    cloud.add_server("web", "compute1")
    api.reset_state("web-uuid", "active")
    api.stop("web-uuid")
    api.start("web-uuid")
    assert [r.body for r in http.log.calls("POST")] == [{"os-resetState": {"state": "active"}}, {"os-stop": None}, {"os-start": None}]
    assert ("reset_state", "web-uuid", "active") in cloud.calls


def test_metadata_one_key_and_a_missing_key_is_no_error(wire, cloud):
    api, http = wire
    cloud.add_server("web", "compute1")
    cloud.server_map["web-uuid"]["metadata"]["keep"] = "me"
    api.set_metadata("web-uuid", "ndu:origin_host", "compute1")
    assert cloud.server_map["web-uuid"]["metadata"] == {"keep": "me", "ndu:origin_host": "compute1"}
    api.delete_metadata("web-uuid", "ndu:origin_host")
    api.delete_metadata("web-uuid", "ndu:origin_host")  # Nova answers 404: already gone
    assert cloud.server_map["web-uuid"]["metadata"] == {"keep": "me"}
    post, *deletes = [r for r in http.log.requests if r.path.startswith("/servers/web-uuid/metadata")]
    assert post.method == "POST" and post.body == {"metadata": {"ndu:origin_host": "compute1"}}
    assert [d.path for d in deletes] == ["/servers/web-uuid/metadata/ndu:origin_host"] * 2


def add_migrations(cloud, server_id: str, count: int, host: str = "compute1") -> None:
    for n in range(count):
        cloud.migration_list.append({"id": n + 1, "instance_uuid": server_id, "status": "error" if n < count - 1 else "running",
                                     "migration_type": "live-migration", "source_compute": host, "dest_compute": "compute2",
                                     "_start": 0, "_attempt": n + 1, "_was": "ACTIVE"})


def test_migrations_follow_every_page_at_2_80(wire, cloud):
    """Nova returns at most [api]max_limit migrations a page; a truncated list would hide the newest ones."""
    api, http = wire
    cloud.page_size = 2
    cloud.add_server("web", "compute1")
    add_migrations(cloud, "web-uuid", 5)
    found = api.migrations(instance_uuid="web-uuid")
    assert sorted(m["id"] for m in found) == [1, 2, 3, 4, 5]
    pages = http.log.calls("GET", "/os-migrations")
    assert len(pages) == 3 and {p.microversion for p in pages} == {MV_MIGRATIONS}
    assert all(p.query["instance_uuid"] == "web-uuid" for p in pages)
    assert [p.query.get("marker") for p in pages] == [None, "mig-uuid-4", "mig-uuid-2"]


def test_newest_migration_is_found_on_any_page(wire, cloud):
    api, _ = wire
    cloud.page_size = 1
    cloud.add_server("web", "compute1")
    add_migrations(cloud, "web-uuid", 3)
    assert api.newest_migration("web-uuid")["id"] == 3
    assert api.newest_migration("other") is None


def test_abort_and_force_complete(wire, cloud):
    api, http = wire
    cloud.add_server("web", "compute1")
    add_migrations(cloud, "web-uuid", 1)
    api.abort_migration("web-uuid", 1)
    api.force_complete("web-uuid", 1)
    delete, post = [r for r in http.log.requests if "/migrations/" in r.path]
    assert (delete.method, delete.path) == ("DELETE", "/servers/web-uuid/migrations/1") and version(delete.microversion) >= (2, 65)
    assert (post.path, post.body) == ("/servers/web-uuid/migrations/1/action", {"force_complete": None})
    assert version(post.microversion) >= (2, 22)


def test_abort_of_a_finished_migration_is_refused_not_ignored(wire, cloud):
    api, _ = wire
    cloud.add_server("web", "compute1")
    add_migrations(cloud, "web-uuid", 2)
    with pytest.raises(ApiError) as info:
        api.abort_migration("web-uuid", 1)
    assert info.value.status == 409 and "not running" in info.value.message


def test_failure_reason_reads_the_newest_actions_events_at_2_84(wire, cloud):
    api, http = wire
    cloud.add_server("web", "compute1")
    add_migrations(cloud, "web-uuid", 2)
    cloud.migration_list[0]["_reason"] = "old reason"
    cloud.migration_list[1]["_reason"] = "No valid host was found. "
    assert api.failure_reason("web-uuid") == "No valid host was found."
    listing, detail = http.log.calls("GET", "/servers/web-uuid/os-instance-actions")
    assert listing.path == "/servers/web-uuid/os-instance-actions" and detail.path.endswith("/req-mig-2")
    assert listing.microversion == detail.microversion == "2.84"


def test_aggregates_and_hypervisors(wire, cloud):
    api, _ = wire
    cloud.aggregate_hosts = {"rack-A": ["compute1", "compute2"]}
    cloud.host_ips = {"compute1": "10.0.0.11"}
    cloud.add_server("web", "compute1")
    assert api.aggregates() == [{"name": "rack-A", "hosts": ["compute1", "compute2"], "availability_zone": None}]
    by_host = {h["host"]: h for h in api.hypervisors(with_servers=True)}
    assert by_host["compute1"]["host_ip"] == "10.0.0.11" and by_host["compute1"]["servers"] == ["web-uuid"]
    assert by_host["compute2"]["servers"] == []


def test_placement_inventories_usages_and_errors(wire, cloud):
    api, http = wire
    cloud.add_server("web", "compute1")
    providers = {p["name"]: p["uuid"] for p in api.resource_providers()}
    assert providers["compute1.lab"] == "rp-compute1"
    assert api.inventories("rp-compute1")["VCPU"] == {"total": 8, "reserved": 0, "allocation_ratio": 4.0, "min_unit": None,
                                                      "max_unit": None, "step_size": None}
    assert api.usages("rp-compute1") == {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 10}
    with pytest.raises(ApiError, match="No resource provider with uuid x found") as info:
        api.usages("x")
    assert info.value.status == 404
    assert all(r.path.startswith("placement:") for r in http.log.requests if "resource_providers" in r.path)


def test_check_versions_wants_2_80(cloud):
    from sdk_fake import sdk_connection

    conn, _ = sdk_connection(cloud)
    NovaApi(conn).check_versions()
    old, _ = sdk_connection(cloud, max_microversion="2.79")
    with pytest.raises(CloudTooOld, match=r"goes up to microversion 2\.79; this collection needs 2\.80"):
        NovaApi(old).check_versions()
    pinned, _ = sdk_connection(cloud)
    pinned.compute.default_microversion = "2.60"
    with pytest.raises(CloudTooOld, match=r"clouds.yaml pins the Compute API to microversion 2\.60"):
        NovaApi(pinned).check_versions()
