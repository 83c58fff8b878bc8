# SPDX-License-Identifier: Apache-2.0
"""A FakeCloud served over Nova's and Placement's HTTP API, under the real openstacksdk.

``sdk_connection(cloud)`` returns a real ``openstack.connection.Connection`` whose
HTTP requests never leave the process: a requests transport adapter answers them
from the FakeCloud (tests/unit/plugins/conftest.py) the way Nova does: version
discovery with a max microversion, Nova's error bodies, ``servers_links`` and
``migrations_links`` paging at ``cloud.page_size`` items (Nova's ``[api] max_limit``).
Every request is recorded with the microversion it carried, so tests can see what
actually went on the wire. Only unit tests use this.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlparse

import requests
from requests.adapters import BaseAdapter

from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import ApiError

NOVA = "http://nova.test/v2.1"
PLACEMENT = "http://placement.test"
ERROR_KEYS = {400: "badRequest", 403: "forbidden", 404: "itemNotFound", 409: "conflictingRequest"}


@dataclass
class Request:
    method: str
    path: str  # without the /v2.1 prefix
    query: dict[str, str]
    microversion: str | None
    body: Any


@dataclass
class WireLog:
    requests: list[Request] = field(default_factory=list)

    def calls(self, method: str | None = None, prefix: str = "") -> list[Request]:
        return [r for r in self.requests if (method is None or r.method == method) and r.path.startswith(prefix) and r.path != "/"]


class FakeNovaHttp(BaseAdapter):
    """requests adapter: Nova + Placement answered from a FakeCloud."""

    def __init__(self, cloud: Any, max_microversion: str = "2.100") -> None:
        super().__init__()
        self.cloud = cloud
        self.max_microversion = max_microversion
        self.log = WireLog()
        self.fail_next: dict[tuple[str, str], tuple[int, str]] = {}  # (method, path) -> (status, message), once

    # ---- transport ------------------------------------------------------
    def send(self, request: Any, **kwargs: Any) -> requests.Response:  # noqa: ARG002
        url = urlparse(request.url)
        service = "placement" if url.netloc == "placement.test" else "compute"
        path = url.path[len("/v2.1"):] if service == "compute" and url.path.startswith("/v2.1") else url.path
        path = unquote(path.rstrip("/") or "/")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        header = request.headers.get("OpenStack-API-Version") or ""
        microversion = header.split(" ", 1)[1] if header.startswith(service + " ") else None
        body = json.loads(request.body) if request.body else None
        self.log.requests.append(Request(request.method, (service == "placement" and "placement:" or "") + path, query, microversion, body))
        try:
            if (request.method, path) in self.fail_next:
                status, message = self.fail_next.pop((request.method, path))
                raise ApiError(status, message, f"{request.method} {path}")
            status, answer = (self._placement if service == "placement" else self._compute)(request.method, path, query, body)
        except ApiError as err:
            status, answer = err.status, {ERROR_KEYS.get(err.status, "computeFault"): {"message": err.message, "code": err.status}}
        response = requests.Response()
        response.request, response.url, response.status_code = request, request.url, status
        response._content = b"" if answer is None else json.dumps(answer).encode()  # pylint: disable=protected-access
        response.headers["Content-Type"] = "application/json"
        response.headers["x-openstack-request-id"] = f"req-{len(self.log.requests)}"
        return response

    def close(self) -> None:
        pass

    # ---- helpers --------------------------------------------------------
    def _page(self, items: list[dict], key: str, path: str, query: dict[str, str], marker_key: str) -> dict:
        """Nova's paging: at most min(limit, page_size) items after ``marker``; a next link when the page is full."""
        if "marker" in query:
            ids = [str(i[marker_key]) for i in items]
            if query["marker"] not in ids:
                raise ApiError(400, f"Marker {query['marker']} could not be found.", "GET")
            items = items[ids.index(query["marker"]) + 1:]
        limit = min(int(query.get("limit", self.cloud.page_size)), self.cloud.page_size)
        page = items[:limit]
        answer: dict[str, Any] = {key: page}
        if len(page) == limit:
            following = {k: v for k, v in query.items() if k != "marker"}
            following["marker"] = str(page[-1][marker_key])
            answer[f"{key}_links"] = [{"rel": "next", "href": f"{NOVA}{path}?{urlencode(following)}"}]
        return answer

    def _actions(self, server_id: str) -> list[dict]:
        """One instance action per migration of the server; failed ones carry the reason as an Error event."""
        found = []
        for mig in self.cloud.migration_list:
            if mig["instance_uuid"] != server_id:
                continue
            events = [{"event": "conductor_live_migrate_instance", "result": "Error" if mig.get("_reason") else "Success",
                       "details": mig.get("_reason"), "start_time": None, "finish_time": None}]
            found.append({"action": "live-migration" if mig["migration_type"] == "live-migration" else "migrate",
                          "request_id": f"req-mig-{mig['id']}", "start_time": f"2026-12-01T10:00:00.{mig['id']:06d}",
                          "message": "Error" if mig.get("_reason") else None, "events": events})
        return found

    # ---- compute ----------------------------------------------------------
    def _compute(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        cloud = self.cloud
        parts = path.strip("/").split("/")
        if path == "/":
            return 200, {"version": {"id": "v2.1", "status": "CURRENT", "version": self.max_microversion, "min_version": "2.1",
                                     "links": [{"rel": "self", "href": NOVA + "/"}]}}
        if parts == ["os-services"] and method == "GET":
            return 200, {"services": cloud.services(host=query.get("host"), binary=query.get("binary", "nova-compute"))}
        if parts[0] == "os-services" and method == "PUT":
            return 200, {"service": cloud.update_service(parts[1], body["status"], body.get("disabled_reason"))}
        if parts == ["servers", "detail"]:
            servers = sorted(cloud.servers(host=query.get("host")), key=lambda s: s["id"])
            return 200, self._page(servers, "servers", path, query, "id")
        if parts == ["os-migrations"]:
            found = cloud.migrations(instance_uuid=query.get("instance_uuid"), host=query.get("host"),
                                     migration_type=query.get("migration_type"))
            found = [dict(m, uuid=f"mig-uuid-{m['id']}") for m in sorted(found, key=lambda m: m["id"], reverse=True)]
            return 200, self._page(found, "migrations", path, query, "uuid")
        if parts == ["os-aggregates"]:
            return 200, {"aggregates": [dict(a, id=n, uuid=f"agg-{n}") for n, a in enumerate(cloud.aggregates(), 1)]}
        if parts == ["os-hypervisors", "detail"]:
            return 200, {"hypervisors": [self._hypervisor(n, host, query.get("with_servers") == "True")
                                         for n, host in enumerate(sorted(cloud.service_map), 1)]}
        if parts[0] == "servers" and len(parts) >= 2:
            return self._server(method, parts[1], parts[2:], body)
        raise ApiError(404, f"fake Nova has no {method} {path}", method)

    def _hypervisor(self, number: int, host: str, with_servers: bool) -> dict:
        svc = self.cloud.service_map[host]
        found = {"id": f"hyp-{host}", "hypervisor_hostname": f"{host}.lab", "state": svc["state"], "status": svc["status"],
                 "host_ip": getattr(self.cloud, "host_ips", {}).get(host, f"192.0.2.{number}"), "hypervisor_type": "fake",
                 "service": {"host": host, "id": svc["id"], "disabled_reason": svc["disabled_reason"]}}
        servers = [{"uuid": s["id"], "name": s["name"]} for s in self.cloud.servers(host=host)]
        if with_servers and servers:
            found["servers"] = servers
        return found

    def _server(self, method: str, server_id: str, rest: list[str], body: Any) -> tuple[int, Any]:
        cloud = self.cloud
        if not rest and method == "GET":
            return 200, {"server": cloud.server(server_id)}
        if rest == ["action"]:
            (action, args), = body.items()
            args = args or {}
            handlers = {
                "os-migrateLive": lambda: cloud.live_migrate(server_id, args.get("host")),
                "migrate": lambda: cloud.cold_migrate(server_id, args.get("host")),
                "confirmResize": lambda: cloud.confirm_resize(server_id),
                "os-resetState": lambda: cloud.reset_state(server_id, args["state"]),
                "os-stop": lambda: cloud.stop(server_id),
                "os-start": lambda: cloud.start(server_id),
            }
            if action not in handlers:
                raise ApiError(400, f"fake Nova has no action {action}", "POST")
            cloud.server(server_id)  # 404 for a deleted server, like Nova
            handlers[action]()
            return 202, None
        if rest == ["metadata"] and method == "POST":
            for key, value in body["metadata"].items():
                cloud.set_metadata(server_id, key, value)
            return 200, {"metadata": cloud.server(server_id)["metadata"]}
        if len(rest) == 2 and rest[0] == "metadata" and method == "PUT":
            (key, value), = body["meta"].items()
            cloud.set_metadata(server_id, key, value)
            return 200, {"meta": {key: value}}
        if len(rest) == 2 and rest[0] == "metadata" and method == "DELETE":
            had = rest[1] in cloud.server(server_id)["metadata"]
            cloud.delete_metadata(server_id, rest[1])
            if not had:
                raise ApiError(404, f"Metadata item was not found for key {rest[1]}", "DELETE")
            return 204, None
        if len(rest) == 2 and rest[0] == "migrations" and method == "DELETE":
            cloud.abort_migration(server_id, int(rest[1]))
            return 202, None
        if len(rest) == 3 and rest[0] == "migrations" and rest[2] == "action":
            cloud.force_complete(server_id, int(rest[1]))
            return 202, None
        if rest == ["os-instance-actions"]:
            cloud.server(server_id)
            return 200, {"instanceActions": [{k: v for k, v in a.items() if k != "events"} for a in self._actions(server_id)]}
        if len(rest) == 2 and rest[0] == "os-instance-actions":
            found = [a for a in self._actions(server_id) if a["request_id"] == rest[1]]
            if not found:
                raise ApiError(404, f"Action {rest[1]} not found", "GET")
            return 200, {"instanceAction": found[0]}
        raise ApiError(404, f"fake Nova has no {method} /servers/{server_id}/{'/'.join(rest)}", method)

    # ---- placement ------------------------------------------------------
    def _placement(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:  # noqa: ARG002
        cloud = self.cloud
        parts = path.strip("/").split("/")
        if path == "/":
            return 200, {"versions": [{"id": "v1.0", "status": "CURRENT", "max_version": "1.39", "min_version": "1.0",
                                       "links": [{"rel": "self", "href": ""}]}]}
        if parts == ["resource_providers"]:
            return 200, {"resource_providers": [dict(rp, generation=1) for rp in cloud.resource_providers()]}
        known = {rp["uuid"] for rp in cloud.resource_providers()}
        if len(parts) == 3 and parts[0] == "resource_providers":
            if parts[1] not in known:
                raise ApiError(404, f"No resource provider with uuid {parts[1]} found", "GET")
            if parts[2] == "inventories":
                return 200, {"inventories": cloud.inventories(parts[1]), "resource_provider_generation": 1}
            if parts[2] == "usages":
                return 200, {"usages": cloud.usages(parts[1]), "resource_provider_generation": 1}
        raise ApiError(404, f"fake Placement has no {method} {path}", method)


def sdk_connection(cloud: Any, **options: Any) -> tuple[Any, FakeNovaHttp]:
    """A real openstacksdk Connection (no clouds.yaml, no OS_* environment) whose HTTP goes to ``cloud``."""
    import openstack.connection  # pylint: disable=import-outside-toplevel

    fake = FakeNovaHttp(cloud, **options)
    # no cloud name: the SDK reads neither clouds.yaml nor OS_* variables
    conn = openstack.connection.Connection(auth_type="none", compute_endpoint_override=NOVA, placement_endpoint_override=PLACEMENT)
    conn.session.session.mount("http://", fake)
    return conn, fake
