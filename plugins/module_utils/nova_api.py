# SPDX-License-Identifier: Apache-2.0
"""The handful of Nova and Placement calls this collection makes, through openstacksdk's proxies.

Every call goes through ``conn.compute`` / ``conn.placement`` proxy methods;
one call stays raw (see ``live_migrate``). The answers come back as plain
dicts keyed the way Nova's API documents them (``OS-EXT-SRV-ATTR:host``,
``zone``, ``instance_uuid``), and every SDK HTTP error becomes an ``ApiError``
carrying Nova's own message. No Ansible imports: modules, the inventory
plugin and unit tests (with a faked SDK or cloud) share it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

# Microversions. The SDK negotiates min(its resource's maximum, the cloud's) for a call unless it is told one,
# and some of its methods pin their own; where our behaviour depends on the version we say which:
# - 2.53 os-services: ids are UUIDs and PUT /os-services/{id}; from 2.69 services in a down cell come back partial.
#   (disable_service/enable_service refuse to run below 2.53 themselves.)
# - 2.68 live migration: from 2.34 the pre-checks (NoValidHost included) are asynchronous: the API answers 202 and
#   the migration record goes to "error", the reason only in the instance action's events; from 2.68 "force" is
#   gone, so the scheduler always validates a named target. The SDK's live_migrate_server pins 2.30 (synchronous
#   pre-checks, the API call blocks on the conductor), hence the one raw call.
# - 2.56 cold migration to a named host (migrate_server checks it); 2.65 abort of queued/preparing live migrations;
#   2.22 force-complete: the negotiated version is at least MV_REQUIRED, so these hold.
# - 2.80 /os-migrations: uuids, paging (2.59), user/project; the list is read at exactly this version.
# - 2.84 instance action events carry "details" (the failure message) for admins.
MV_SERVICES = "2.53"
MV_LIVE_MIGRATE = "2.68"
MV_MIGRATIONS = "2.80"
MV_ACTIONS = "2.84"
MV_REQUIRED = MV_MIGRATIONS  # the oldest Compute API this collection works with (Nova 21, Ussuri)

ORIGIN_KEY = "ndu:origin_host"

# The Nova API names of the fields we read; modules, the planner and the test fakes use these keys.
SERVER_KEYS = ("id", "name", "status", "OS-EXT-SRV-ATTR:host", "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state",
               "OS-EXT-STS:power_state", "metadata", "tenant_id", "addresses")
SERVICE_KEYS = ("id", "host", "binary", "status", "state", "disabled_reason", "zone", "updated_at", "forced_down")
MIGRATION_KEYS = ("id", "uuid", "instance_uuid", "status", "migration_type", "source_compute", "dest_compute",
                  "created_at", "updated_at")


class ApiError(Exception):
    """An HTTP error from Nova or Placement with the service's own message."""

    def __init__(self, status: int, message: str, call: str) -> None:
        super().__init__(f"{call} returned HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.call = call


class CloudTooOld(Exception):
    """The cloud's Compute API (or a microversion pinned in clouds.yaml) is below MV_REQUIRED."""


def plain(resource: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """An SDK resource as a dict of Nova's own field names (only ``keys``)."""
    data = resource.to_dict(computed=False, original_names=True)
    return {key: data.get(key) for key in keys}


@contextmanager
def translated(call: str) -> Iterator[None]:
    """Turn the SDK's HttpException (any status >= 400) into ApiError naming ``call``."""
    from openstack import exceptions  # pylint: disable=import-outside-toplevel  # the base class reports a missing SDK

    try:
        yield
    except exceptions.HttpException as err:
        status = int(err.status_code or 0)
        message = (err.details or err.message or "").strip().split("\n", 1)[0][:500]
        raise ApiError(status, message, call) from err


class NovaApi:
    """Nova and Placement for this collection, on an openstacksdk Connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def _do(self, call: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with translated(call):
            return fn(*args, **kwargs)

    def check_versions(self) -> None:
        """Raise CloudTooOld unless the Compute API (and any pin in clouds.yaml) allows MV_REQUIRED."""
        from openstack import utils  # pylint: disable=import-outside-toplevel

        compute = self.conn.compute
        with translated("GET / (Compute API versions)"):
            if utils.supports_microversion(compute, MV_REQUIRED):
                return
            data = compute.get_endpoint_data()
        pinned = compute.default_microversion
        if pinned:
            raise CloudTooOld(f"clouds.yaml pins the Compute API to microversion {pinned} (compute_api_version); "
                              f"this collection needs {MV_REQUIRED} or newer: remove the pin or raise it")
        newest = getattr(data, "max_microversion", None) if data else None
        shown = ".".join(str(p) for p in newest) if isinstance(newest, tuple) else (newest or "unknown")
        raise CloudTooOld(f"the Compute API goes up to microversion {shown}; this collection needs {MV_REQUIRED} "
                          "(Nova 21, Ussuri, or newer)")

    # os-services -------------------------------------------------------
    def services(self, host: str | None = None, binary: str = "nova-compute") -> list[dict]:
        query = {"binary": binary, **({"host": host} if host else {})}
        return self._do("GET /os-services", lambda: [
            plain(s, SERVICE_KEYS) for s in self.conn.compute.services(microversion=MV_SERVICES, **query)])

    def update_service(self, service_id: str, status: str, reason: str | None = None) -> dict:
        compute = self.conn.compute
        if status == "disabled":
            service = self._do(f"PUT /os-services/{service_id}", compute.disable_service, service_id, disabled_reason=reason or None)
        else:
            service = self._do(f"PUT /os-services/{service_id}", compute.enable_service, service_id)
        return plain(service, SERVICE_KEYS)

    # servers -----------------------------------------------------------
    def servers(self, host: str | None = None, **filters: str) -> list[dict]:
        """All servers of all projects, optionally on one compute host (the SDK follows the pages)."""
        query: dict[str, Any] = dict(filters)
        if host:
            query["compute_host"] = host
        return self._do("GET /servers/detail", lambda: [
            plain(s, SERVER_KEYS) for s in self.conn.compute.servers(details=True, all_projects=True, **query)])

    def server(self, server_id: str) -> dict:
        return plain(self._do(f"GET /servers/{server_id}", self.conn.compute.get_server, server_id), SERVER_KEYS)

    def live_migrate(self, server_id: str, host: str | None) -> None:
        from openstack import exceptions  # pylint: disable=import-outside-toplevel

        body = {"os-migrateLive": {"host": host, "block_migration": "auto"}}
        with translated(f"POST /servers/{server_id}/action (os-migrateLive)"):
            # Raw: live_migrate_server pins microversion 2.30, where pre-checks are synchronous and "force" exists.
            response = self.conn.compute.post(f"/servers/{server_id}/action", json=body, microversion=MV_LIVE_MIGRATE)
            exceptions.raise_from_response(response)

    def cold_migrate(self, server_id: str, host: str | None) -> None:
        self._do(f"POST /servers/{server_id}/action (migrate)", self.conn.compute.migrate_server, server_id, host=host)

    def confirm_resize(self, server_id: str) -> None:
        self._do(f"POST /servers/{server_id}/action (confirmResize)", self.conn.compute.confirm_server_resize, server_id)

    def reset_state(self, server_id: str, state: str) -> None:
        """Set vm_state (active or error) and clear task_state: Nova's own way out of a stuck task."""
        self._do(f"POST /servers/{server_id}/action (os-resetState)", self.conn.compute.reset_server_state, server_id, state)

    def stop(self, server_id: str) -> None:
        self._do(f"POST /servers/{server_id}/action (os-stop)", self.conn.compute.stop_server, server_id)

    def start(self, server_id: str) -> None:
        self._do(f"POST /servers/{server_id}/action (os-start)", self.conn.compute.start_server, server_id)

    def set_metadata(self, server_id: str, key: str, value: str) -> None:
        """Add or change one key; other keys are left as they are."""
        self._do(f"POST /servers/{server_id}/metadata", self.conn.compute.set_server_metadata, server_id, **{key: value})

    def delete_metadata(self, server_id: str, key: str) -> None:
        try:
            self._do(f"DELETE /servers/{server_id}/metadata/{key}", self.conn.compute.delete_server_metadata, server_id, [key])
        except ApiError as err:
            if err.status != 404:
                raise

    # migrations --------------------------------------------------------
    def migrations(self, instance_uuid: str | None = None, host: str | None = None, migration_type: str | None = None) -> list[dict]:
        """Every matching migration: the SDK follows ``migrations_links`` (Nova returns at most [api]max_limit a page)."""
        query = {k: v for k, v in (("server_id", instance_uuid), ("host", host), ("migration_type", migration_type)) if v}
        return self._do("GET /os-migrations", lambda: [
            plain(m, MIGRATION_KEYS) for m in self.conn.compute.migrations(microversion=MV_MIGRATIONS, **query)])

    def newest_migration(self, server_id: str) -> dict | None:
        found = self.migrations(instance_uuid=server_id)
        return max(found, key=lambda m: m["id"]) if found else None

    def abort_migration(self, server_id: str, migration_id: int) -> None:
        self._do(f"DELETE /servers/{server_id}/migrations/{migration_id}", self.conn.compute.abort_server_migration,
                 migration_id, server_id, ignore_missing=False)

    def force_complete(self, server_id: str, migration_id: int) -> None:
        self._do(f"POST /servers/{server_id}/migrations/{migration_id}/action (force_complete)",
                 self.conn.compute.force_complete_server_migration, migration_id, server_id)

    def failure_reason(self, server_id: str) -> str | None:
        """The failure messages of the server's newest instance action, if it failed."""
        compute = self.conn.compute
        actions = self._do(f"GET /servers/{server_id}/os-instance-actions",
                           lambda: list(compute.server_actions(server_id, microversion=MV_ACTIONS)))
        if not actions:
            return None
        newest = max(actions, key=lambda a: a.start_time or "")
        detail = self._do(f"GET /servers/{server_id}/os-instance-actions/{newest.request_id}",
                          compute.get_server_action, newest.request_id, server_id, ignore_missing=False)
        reasons = [e.details.strip() for e in detail.events or [] if e.result == "Error" and e.details]
        return "; ".join(dict.fromkeys(reasons)) or None

    # aggregates, hypervisors, placement ----------------------------------
    def aggregates(self) -> list[dict]:
        return self._do("GET /os-aggregates", lambda: [
            {"name": a.name, "hosts": list(a.hosts or []), "availability_zone": a.availability_zone} for a in self.conn.compute.aggregates()])

    def hypervisors(self, with_servers: bool = False) -> list[dict]:
        """Service host, host_ip and (with_servers) the instance uuids of every hypervisor."""
        query = {"with_servers": True} if with_servers else {}
        found = []
        with translated("GET /os-hypervisors/detail"):
            for hyp in self.conn.compute.hypervisors(details=True, **query):
                service = hyp.service_details or {}
                found.append({"name": hyp.name, "host": service.get("host"), "host_ip": hyp.host_ip, "state": hyp.state,
                              "status": hyp.status, "servers": [s.get("uuid") for s in hyp.servers or []]})
        return found

    def resource_providers(self) -> list[dict]:
        return self._do("GET /resource_providers", lambda: [
            {"uuid": rp.id, "name": rp.name} for rp in self.conn.placement.resource_providers()])

    def inventories(self, provider_uuid: str) -> dict:
        """Resource class -> {total, reserved, allocation_ratio, min_unit, max_unit, step_size}."""
        fields = ("total", "reserved", "allocation_ratio", "min_unit", "max_unit", "step_size")
        return self._do(f"GET /resource_providers/{provider_uuid}/inventories", lambda: {
            inv.resource_class: {f: getattr(inv, f) for f in fields}
            for inv in self.conn.placement.resource_provider_inventories(provider_uuid)})

    def usages(self, provider_uuid: str) -> dict:
        provider = self._do(f"GET /resource_providers/{provider_uuid}/usages", self.conn.placement.fetch_resource_provider_usages, provider_uuid)
        return dict(provider.usages or {})


def server_host(server: dict) -> str | None:
    return server.get("OS-EXT-SRV-ATTR:host")


def server_task_state(server: dict) -> str | None:
    return server.get("OS-EXT-STS:task_state")
