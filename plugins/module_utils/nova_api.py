# SPDX-License-Identifier: Apache-2.0
"""The handful of Nova and Placement calls this collection makes, with explicit microversions.

Raw REST through an openstacksdk Connection's service proxies, so each call
pins the microversion its behaviour depends on. No Ansible imports: modules,
the inventory plugin and unit tests (with a faked connection) share it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

# Why each microversion: 2.53 service ids are UUIDs and PUT /os-services/{id};
# 2.65 abort of queued/preparing live migrations; 2.68 live migration without
# "force" (the scheduler always validates the target); 2.56 cold migration to
# a named host; 2.80 /os-migrations filters by instance and returns uuids;
# 2.22 force-complete; 2.84 the failure message of an instance action event.
# From 2.34 on, live-migration pre-checks (NoValidHost included) are
# asynchronous: the API answers 202 and the migration record goes to "error";
# the reason is only in the instance action's events.
MV_SERVICES = "2.53"
MV_SERVERS = "2.73"
MV_LIVE_MIGRATE = "2.68"
MV_COLD_MIGRATE = "2.56"
MV_MIGRATIONS = "2.80"
MV_ABORT = "2.65"
MV_FORCE_COMPLETE = "2.22"
MV_ACTIONS = "2.84"  # instance action events carry "details" (the failure message) for admins
MV_PLACEMENT = "1.10"

ORIGIN_KEY = "ndu:origin_host"


class ApiError(Exception):
    """An HTTP error from Nova or Placement with the service's own message."""

    def __init__(self, status: int, message: str, call: str) -> None:
        super().__init__(f"{call} returned HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.call = call


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or "").strip()[:500]
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(str(e.get("detail") or e.get("title")) for e in errors)
    return str(body)[:500]


class NovaApi:
    """Thin wrapper over ``conn.compute`` / ``conn.placement`` raw requests."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def _call(self, proxy: Any, method: str, url: str, microversion: str, json: Any = None) -> Any:
        kwargs: dict[str, Any] = {"microversion": microversion}
        if json is not None:
            kwargs["json"] = json
        response = getattr(proxy, method)(url, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response.status_code, _message(response), f"{method.upper()} {url.split('?')[0]}")
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _compute(self, method: str, url: str, microversion: str, json: Any = None) -> Any:
        return self._call(self.conn.compute, method, url, microversion, json)

    # os-services -------------------------------------------------------
    def services(self, host: str | None = None, binary: str = "nova-compute") -> list[dict]:
        query = {"binary": binary}
        if host:
            query["host"] = host
        return self._compute("get", "/os-services?" + urlencode(query), MV_SERVICES)["services"]

    def update_service(self, service_id: str, status: str, reason: str | None = None) -> dict:
        body: dict[str, Any] = {"status": status}
        if status == "disabled" and reason:
            body["disabled_reason"] = reason
        return self._compute("put", f"/os-services/{service_id}", MV_SERVICES, json=body)["service"]

    # servers -----------------------------------------------------------
    def servers(self, host: str | None = None, **filters: str) -> list[dict]:
        """All servers of all projects, optionally on one compute host (follows pagination)."""
        query: dict[str, Any] = {"all_tenants": "True", **filters}
        if host:
            query["host"] = host
        found: list[dict] = []
        url = "/servers/detail?" + urlencode(query)
        while url:
            page = self._compute("get", url, MV_SERVERS)
            found.extend(page.get("servers", []))
            links = [link["href"] for link in page.get("servers_links", []) if link.get("rel") == "next"]
            url = ""
            if links and page.get("servers"):
                url = "/servers/detail?" + urlencode({**query, "marker": page["servers"][-1]["id"]})
        return found

    def server(self, server_id: str) -> dict:
        return self._compute("get", f"/servers/{server_id}", MV_SERVERS)["server"]

    def _action(self, server_id: str, body: dict, microversion: str = MV_SERVERS) -> None:
        self._compute("post", f"/servers/{server_id}/action", microversion, json=body)

    def live_migrate(self, server_id: str, host: str | None) -> None:
        self._action(server_id, {"os-migrateLive": {"host": host, "block_migration": "auto"}}, MV_LIVE_MIGRATE)

    def cold_migrate(self, server_id: str, host: str | None) -> None:
        self._action(server_id, {"migrate": {"host": host} if host else None}, MV_COLD_MIGRATE)

    def confirm_resize(self, server_id: str) -> None:
        self._action(server_id, {"confirmResize": None})

    def reset_state(self, server_id: str, state: str) -> None:
        """Set vm_state (active or error) and clear task_state: Nova's own way out of a stuck task."""
        self._action(server_id, {"os-resetState": {"state": state}})

    def stop(self, server_id: str) -> None:
        self._action(server_id, {"os-stop": None})

    def start(self, server_id: str) -> None:
        self._action(server_id, {"os-start": None})

    def set_metadata(self, server_id: str, key: str, value: str) -> None:
        self._compute("put", f"/servers/{server_id}/metadata/{quote(key, safe='')}", MV_SERVERS, json={"meta": {key: value}})

    def delete_metadata(self, server_id: str, key: str) -> None:
        try:
            self._compute("delete", f"/servers/{server_id}/metadata/{quote(key, safe='')}", MV_SERVERS)
        except ApiError as err:
            if err.status != 404:
                raise

    # migrations --------------------------------------------------------
    def migrations(self, instance_uuid: str | None = None, host: str | None = None, migration_type: str | None = None) -> list[dict]:
        query = {k: v for k, v in (("instance_uuid", instance_uuid), ("host", host), ("migration_type", migration_type)) if v}
        url = "/os-migrations" + ("?" + urlencode(query) if query else "")
        return self._compute("get", url, MV_MIGRATIONS)["migrations"]

    def newest_migration(self, server_id: str) -> dict | None:
        found = self.migrations(instance_uuid=server_id)
        return max(found, key=lambda m: m["id"]) if found else None

    def abort_migration(self, server_id: str, migration_id: int) -> None:
        self._compute("delete", f"/servers/{server_id}/migrations/{migration_id}", MV_ABORT)

    def force_complete(self, server_id: str, migration_id: int) -> None:
        self._compute("post", f"/servers/{server_id}/migrations/{migration_id}/action", MV_FORCE_COMPLETE, json={"force_complete": None})

    def failure_reason(self, server_id: str) -> str | None:
        """The failure messages of the server's newest instance action, if it failed."""
        actions = self._compute("get", f"/servers/{server_id}/os-instance-actions", MV_ACTIONS)["instanceActions"]
        if not actions:
            return None
        newest = max(actions, key=lambda a: a.get("start_time") or "")
        detail = self._compute("get", f"/servers/{server_id}/os-instance-actions/{newest['request_id']}", MV_ACTIONS)["instanceAction"]
        reasons = [e["details"].strip() for e in detail.get("events", []) if e.get("result") == "Error" and e.get("details")]
        return "; ".join(dict.fromkeys(reasons)) or None

    # aggregates and placement ------------------------------------------
    def aggregates(self) -> list[dict]:
        return self._compute("get", "/os-aggregates", MV_SERVICES)["aggregates"]

    def _placement(self, url: str) -> Any:
        return self._call(self.conn.placement, "get", url, MV_PLACEMENT)

    def resource_providers(self) -> list[dict]:
        return self._placement("/resource_providers")["resource_providers"]

    def inventories(self, provider_uuid: str) -> dict:
        return self._placement(f"/resource_providers/{provider_uuid}/inventories")["inventories"]

    def usages(self, provider_uuid: str) -> dict:
        return self._placement(f"/resource_providers/{provider_uuid}/usages")["usages"]


def server_host(server: dict) -> str | None:
    return server.get("OS-EXT-SRV-ATTR:host")


def server_task_state(server: dict) -> str | None:
    return server.get("OS-EXT-STS:task_state")
