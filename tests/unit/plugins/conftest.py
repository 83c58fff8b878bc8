# SPDX-License-Identifier: Apache-2.0
"""Shared fakes for the cloud-side unit tests: a simulated Nova/Placement.

``FakeCloud`` has the same methods as ``module_utils.nova_api.NovaApi`` and
a fake clock: ``sleep`` advances time and moves migrations along according to
a per-instance behaviour (duration, mode ok|fail|hang, fail_times), like the
lab's driver does. Module tests reach it through the real NovaApi and openstacksdk:
``sdk_fake.FakeNovaHttp`` answers the SDK's HTTP requests from it. One fake, used by
every cloud unit test.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import ApiError


@dataclass
class Behaviour:
    duration: float = 8.0
    mode: str = "ok"  # ok | fail | hang | lost | dropped | error (the conductor fails and sets vm_state ERROR)
    fail_times: int = 1_000_000  # with mode fail, lost or dropped: only the first N attempts
    cold: str = "ok"  # a cold migration of it: ok | fail (Nova ends it in error, the instance stays) | hang
    cold_duration: float = 4.0


@dataclass
class FakeCloud:
    now: float = 1000.0
    service_map: dict[str, dict] = field(default_factory=dict)
    server_map: dict[str, dict] = field(default_factory=dict)
    migration_list: list[dict] = field(default_factory=list)
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    calls: list[tuple] = field(default_factory=list)
    aggregate_hosts: dict[str, list[str]] = field(default_factory=dict)
    page_size: int = 1000  # Nova's [api] max_limit, for the HTTP front (sdk_fake)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # ---- building -----------------------------------------------------
    def add_host(self, host: str, status: str = "enabled", state: str = "up", reason: str | None = None, zone: str = "nova") -> None:
        self.service_map[host] = {"id": f"svc-{host}", "host": host, "binary": "nova-compute", "status": status, "state": state,
                               "disabled_reason": reason, "zone": zone, "updated_at": "2026-11-21T17:00:00.000000"}

    def add_server(self, name: str, host: str, status: str = "ACTIVE", **behaviour: Any) -> str:
        server_id = f"{name}-uuid"
        self.server_map[server_id] = {"id": server_id, "name": name, "status": status, "OS-EXT-SRV-ATTR:host": host,
                                   "OS-EXT-STS:task_state": None, "OS-EXT-STS:power_state": 4 if status == "SHUTOFF" else 1,
                                   "metadata": {}, "tenant_id": "p1"}
        if behaviour:
            self.behaviour[name] = Behaviour(**behaviour)
        return server_id

    def on(self, host: str) -> list[str]:
        return sorted(s["name"] for s in self.server_map.values() if s["OS-EXT-SRV-ATTR:host"] == host)

    # ---- clock --------------------------------------------------------
    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self._progress()

    def _progress(self) -> None:
        for mig in self.migration_list:
            server = self.server_map.get(mig["instance_uuid"])
            if server is None:  # deleted
                continue
            if mig["status"] == "running":
                b = self.behaviour.get(server["name"], Behaviour())
                done = self.now - mig["_start"] >= b.duration
                if mig.get("_abort"):
                    self._finish(mig, "cancelled", moved=False)
                elif mig.get("_force") or (done and b.mode != "hang" and (b.mode != "fail" or mig["_attempt"] > b.fail_times)):
                    self._finish(mig, "completed", moved=True)
                elif done and b.mode == "fail":
                    self._finish(mig, "error", moved=False)
            elif mig["status"] == "migrating":
                b = self.behaviour.get(server["name"], Behaviour())
                if b.cold == "hang" or self.now - mig["_start"] < b.cold_duration:
                    continue
                if b.cold == "fail":  # reverted by Nova: back to its state before, on the source
                    mig.update(status="error", _reason="Lab fake: cold migration failed on purpose", _end=self.now)
                    server.update({"status": mig["_was"], "OS-EXT-STS:task_state": None})
                    continue
                mig["status"] = "finished"
                server.update({"status": "VERIFY_RESIZE", "OS-EXT-STS:task_state": None, "OS-EXT-SRV-ATTR:host": mig["dest_compute"]})

    def _finish(self, mig: dict, status: str, moved: bool) -> None:
        mig["status"] = status
        if status == "error":
            mig["_reason"] = "Lab fake: live migration failed on purpose"
        mig["_end"] = self.now
        server = self.server_map[mig["instance_uuid"]]
        server.update({"status": mig["_was"], "OS-EXT-STS:task_state": None})
        if moved:
            server["OS-EXT-SRV-ATTR:host"] = mig["dest_compute"]

    # ---- NovaApi surface ----------------------------------------------
    def services(self, host: str | None = None, binary: str = "nova-compute") -> list[dict]:
        return [dict(s) for s in self.service_map.values() if host in (None, s["host"]) and s["binary"] == binary]

    def update_service(self, service_id: str, status: str, reason: str | None = None) -> dict:
        self.calls.append(("update_service", service_id, status, reason))
        svc = next(s for s in self.service_map.values() if s["id"] == service_id)
        svc.update(status=status, disabled_reason=reason if status == "disabled" else None)
        return dict(svc)

    def servers(self, host: str | None = None, **filters: str) -> list[dict]:
        return [json.loads(json.dumps(s)) for s in self.server_map.values() if host in (None, s["OS-EXT-SRV-ATTR:host"])]

    def server(self, server_id: str) -> dict:
        if server_id not in self.server_map:
            raise ApiError(404, f"Instance {server_id} could not be found.", f"GET /servers/{server_id}")
        return json.loads(json.dumps(self.server_map[server_id]))

    def _scheduler(self, source: str, host: str | None) -> str | None:
        fits = [h for h, s in sorted(self.service_map.items()) if s["status"] == "enabled" and s["state"] == "up" and h != source]
        if host is not None:
            if host not in self.service_map:
                raise ApiError(400, f"Compute host {host} could not be found.", "POST /servers/x/action")
            fits = [h for h in fits if h == host]
        if not fits:
            return None  # like Nova >= 2.34: NoValidHost is reported asynchronously
        return min(fits, key=lambda h: (len(self.on(h)), h))

    def _new_migration(self, server: dict, dest: str, kind: str, status: str) -> dict:
        attempt = 1 + sum(1 for m in self.migration_list if m["instance_uuid"] == server["id"])
        mig = {"id": next(self._ids), "instance_uuid": server["id"], "status": status, "migration_type": kind,
               "source_compute": server["OS-EXT-SRV-ATTR:host"], "dest_compute": dest, "_start": self.now,
               "_attempt": attempt, "_was": server["status"]}
        self.migration_list.append(mig)
        return mig

    def live_migrate(self, server_id: str, host: str | None) -> None:
        self.calls.append(("live_migrate", server_id, host))
        server = self.server_map[server_id]
        if server["OS-EXT-STS:task_state"] or server["status"] not in ("ACTIVE", "PAUSED"):
            raise ApiError(409, f"Cannot 'os-migrateLive' instance {server_id} while it is in vm_state {server['status']}", "POST")
        b = self.behaviour.get(server["name"], Behaviour())
        asked = sum(1 for c in self.calls if c[:2] == ("live_migrate", server_id))
        if b.mode in ("lost", "dropped") and asked <= b.fail_times:
            if b.mode == "lost":  # the API took it, the message to the conductor never arrived: no migration record
                server.update({"status": "MIGRATING", "OS-EXT-STS:task_state": "migrating"})
            return
        if b.mode == "error" and asked <= b.fail_times:  # the conductor's RPC call timed out: MigrationError, vm_state ERROR
            self._new_migration(server, None, "live-migration", "error")["_reason"] = "Migration error: Timed out waiting for a reply"
            server.update({"status": "ERROR", "OS-EXT-STS:task_state": None})
            return
        dest = self._scheduler(server["OS-EXT-SRV-ATTR:host"], host)
        if dest is None:
            mig = self._new_migration(server, None, "live-migration", "error")
            mig["_reason"] = "No valid host was found. There are not enough hosts available."
            return
        self._new_migration(server, dest, "live-migration", "running")
        server.update({"status": "MIGRATING", "OS-EXT-STS:task_state": "migrating"})

    def cold_migrate(self, server_id: str, host: str | None) -> None:
        self.calls.append(("cold_migrate", server_id, host))
        server = self.server_map[server_id]
        dest = self._scheduler(server["OS-EXT-SRV-ATTR:host"], host)
        if dest is None:
            self._new_migration(server, None, "migration", "error")["_reason"] = "No valid host was found."
            return
        self._new_migration(server, dest, "migration", "migrating")
        server.update({"status": "RESIZE", "OS-EXT-STS:task_state": "resize_migrating"})

    def confirm_resize(self, server_id: str) -> None:
        self.calls.append(("confirm_resize", server_id))
        mig = self.newest_migration(server_id)
        self.server_map[server_id].update({"status": mig["_was"]})
        mig["status"] = "confirmed"

    def delete(self, server_id: str) -> None:
        """What the instance's owner does (not a NovaApi call): its running migration ends in error."""
        del self.server_map[server_id]
        for mig in self.migration_list:
            if mig["instance_uuid"] == server_id and mig["status"] == "running":
                mig["status"] = "error"

    def reset_state(self, server_id: str, state: str) -> None:
        self.calls.append(("reset_state", server_id, state))
        self.server_map[server_id].update({"status": "ACTIVE" if state == "active" else "ERROR", "OS-EXT-STS:task_state": None})

    def stop(self, server_id: str) -> None:
        self.calls.append(("stop", server_id))
        self.server_map[server_id]["status"] = "SHUTOFF"

    def start(self, server_id: str) -> None:
        self.calls.append(("start", server_id))
        self.server_map[server_id]["status"] = "ACTIVE"

    def set_metadata(self, server_id: str, key: str, value: str) -> None:
        self.calls.append(("set_metadata", server_id, key, value))
        if server_id not in self.server_map:
            raise ApiError(404, f"Instance {server_id} could not be found.", f"PUT /servers/{server_id}/metadata")
        self.server_map[server_id]["metadata"][key] = value

    def delete_metadata(self, server_id: str, key: str) -> None:
        self.calls.append(("delete_metadata", server_id, key))
        self.server_map[server_id]["metadata"].pop(key, None)

    def migrations(self, instance_uuid: str | None = None, host: str | None = None, migration_type: str | None = None) -> list[dict]:
        found = [m for m in self.migration_list if instance_uuid in (None, m["instance_uuid"])]
        if host:
            found = [m for m in found if host in (m["source_compute"], m["dest_compute"])]
        return [{k: v for k, v in m.items() if not k.startswith("_")} for m in found]

    def newest_migration(self, server_id: str) -> dict | None:
        found = [m for m in self.migration_list if m["instance_uuid"] == server_id]
        return max(found, key=lambda m: m["id"]) if found else None

    def failure_reason(self, server_id: str) -> str | None:
        newest = self.newest_migration(server_id)
        return newest.get("_reason") if newest else None

    def _running(self, server_id: str, migration_id: int) -> dict:
        mig = next((m for m in self.migration_list if m["id"] == migration_id and m["instance_uuid"] == server_id), None)
        if mig is None or mig["status"] != "running":
            raise ApiError(409, f"Migration {migration_id} is not running", "migration action")
        return mig

    def abort_migration(self, server_id: str, migration_id: int) -> None:
        self.calls.append(("abort", server_id, migration_id))
        self._running(server_id, migration_id)["_abort"] = True

    def force_complete(self, server_id: str, migration_id: int) -> None:
        self.calls.append(("force_complete", server_id, migration_id))
        self._running(server_id, migration_id)["_force"] = True

    def aggregates(self) -> list[dict]:
        return [{"name": name, "hosts": hosts, "availability_zone": None} for name, hosts in self.aggregate_hosts.items()]

    # placement: every host has 8 VCPU (ratio 4), 16 GiB RAM, 100 GB disk; each server uses 1/2048/10
    def resource_providers(self) -> list[dict]:
        return [{"uuid": f"rp-{h}", "name": f"{h}.lab"} for h in self.service_map]

    def inventories(self, provider_uuid: str) -> dict:
        return {"VCPU": {"total": 8, "reserved": 0, "allocation_ratio": 4.0}, "MEMORY_MB": {"total": 16384, "reserved": 512, "allocation_ratio": 1.0},
                "DISK_GB": {"total": 100, "reserved": 0, "allocation_ratio": 1.0}}

    def usages(self, provider_uuid: str) -> dict:
        count = len(self.on(provider_uuid[3:]))
        return {"VCPU": count, "MEMORY_MB": 2048 * count, "DISK_GB": 10 * count}


@pytest.fixture
def cloud() -> FakeCloud:
    """Three enabled computes; instances are added per test."""
    fake = FakeCloud()
    for host in ("compute1", "compute2", "compute3"):
        fake.add_host(host)
    return fake


@pytest.fixture
def wire(cloud):
    """NovaApi on a real openstacksdk Connection whose HTTP is answered by ``cloud`` (sdk_fake.FakeNovaHttp)."""
    from sdk_fake import sdk_connection

    from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import NovaApi

    conn, http = sdk_connection(cloud)
    return NovaApi(conn), http


@pytest.fixture
def run_module(monkeypatch, capsys, cloud):
    """Run a module class against ``cloud``; return its JSON result plus ``rc``.

    ``connect`` is replaced only when ``connect`` is not given, so tests of the
    connection path can pass their own.
    """
    from ansible.module_utils import _internal
    from ansible.module_utils.common import warnings as module_warnings
    from ansible.module_utils.testing import patch_module_args

    from sdk_fake import sdk_connection

    from ansible_collections.ndu.dataplane.plugins.module_utils.ndu_openstack import NduOpenStackModule

    def _run(module_cls: type, args: dict[str, Any], check_mode: bool = False, diff: bool = False, connect: Any = None) -> dict[str, Any]:
        sdk_conn, _http = sdk_connection(cloud)
        monkeypatch.setattr(NduOpenStackModule, "connect", connect or (lambda self: sdk_conn))
        monkeypatch.setattr(NduOpenStackModule, "clock", cloud.clock)
        monkeypatch.setattr(NduOpenStackModule, "sleep", cloud.sleep)
        # Importing controller code (ansible.errors, in other tests) flips this and sends warnings to Display.
        monkeypatch.setattr(_internal, "is_controller", False)
        monkeypatch.setattr(module_warnings, "_global_warnings", {})
        full = {"cloud": "ndu-lab", **args, "_ansible_check_mode": check_mode, "_ansible_diff": diff}
        with patch_module_args(full):
            with pytest.raises(SystemExit) as exit_info:
                module_cls()()
        result = json.loads(capsys.readouterr().out)
        result["rc"] = exit_info.value.code
        result["warnings"] = [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]
        return result

    return _run
