# SPDX-License-Identifier: Apache-2.0
"""Small helpers for the lab's own integration tests (Nova REST calls with an
explicit microversion, the driver behaviour file, podman exec)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import dataplane
from polling import wait_for  # noqa: F401  (re-exported to the tests)

MV = "2.80"  # host= on boot (2.74), abort in any state (2.65), os-migrations filters (2.80)


def nova(conn: Any, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    resp = getattr(conn.compute, method)(url, json=body, microversion=MV,
                                         headers={"OpenStack-API-Version": f"compute {MV}"})
    if resp.status_code >= 400:
        raise AssertionError(f"{method.upper()} {url} -> {resp.status_code}: {resp.text[:500]}")
    return resp.json() if resp.content else None


def boot_on(conn: Any, name: str, host: str, image_id: str, flavor_id: str) -> dict[str, Any]:
    net = dataplane.network_id(conn, dataplane.read().network)  # every instance has a port on the tenant network
    body = {"server": {"name": name, "imageRef": image_id, "flavorRef": flavor_id,
                       "networks": [{"uuid": net}], "host": host}}
    server_id = nova(conn, "post", "/servers", body)["server"]["id"]
    return wait_for(f"server {name} ACTIVE on {host}", lambda: _active(conn, server_id), 180, 2)


def _active(conn: Any, server_id: str) -> dict[str, Any] | None:
    server = nova(conn, "get", f"/servers/{server_id}")["server"]
    if server["status"] == "ERROR":
        raise AssertionError(f"server {server['name']} went to ERROR: {server.get('fault')}")
    return server if server["status"] == "ACTIVE" else None


def server(conn: Any, server_id: str) -> dict[str, Any]:
    return nova(conn, "get", f"/servers/{server_id}")["server"]


def host_of(srv: dict[str, Any]) -> str:
    return srv["OS-EXT-SRV-ATTR:host"]


def live_migrate(conn: Any, server_id: str, dest: str) -> None:
    nova(conn, "post", f"/servers/{server_id}/action",
         {"os-migrateLive": {"host": dest, "block_migration": "auto"}})


def migrations(conn: Any, server_id: str) -> list[dict[str, Any]]:
    found = nova(conn, "get", f"/os-migrations?instance_uuid={server_id}&migration_type=live-migration")
    return sorted(found["migrations"], key=lambda m: m["id"])


def latest_migration(conn: Any, server_id: str) -> dict[str, Any] | None:
    found = migrations(conn, server_id)
    return found[-1] if found else None


def wait_migration(conn: Any, server_id: str, statuses: tuple[str, ...], timeout: float = 120) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        mig = latest_migration(conn, server_id)
        return mig if mig and mig["status"] in statuses else None
    return wait_for(f"migration of {server_id} in {statuses}", probe, timeout)


def wait_settled(conn: Any, server_id: str, timeout: float = 60) -> dict[str, Any]:
    """Server ACTIVE with no task in flight (a rollback has finished)."""
    def probe() -> dict[str, Any] | None:
        srv = server(conn, server_id)
        return srv if srv["status"] in ("ACTIVE", "ERROR") and not srv["OS-EXT-STS:task_state"] else None
    return wait_for(f"server {server_id} settled", probe, timeout)


def set_behaviour(lab_dir: Path, table: dict[str, Any]) -> None:
    """Rewrite the driver behaviour file atomically (the containers see it at once)."""
    target = lab_dir / "driver" / "behaviour.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(table, indent=2) + "\n")
    os.replace(tmp, target)


HOSTSCTL = Path(__file__).resolve().parents[2] / "lab" / "hosts" / "hostsctl"
_PODMAN_ENV: dict[str, str] = {}


def podman_env() -> dict[str, str]:
    """os.environ plus what `hostsctl env` says podman needs on this machine."""
    if not _PODMAN_ENV:
        _PODMAN_ENV.update(os.environ)
        out = subprocess.run([str(HOSTSCTL), "env"], capture_output=True, text=True, check=False)
        for line in out.stdout.splitlines():
            key, sep, value = line.strip().removeprefix("export ").partition("=")
            if sep:
                _PODMAN_ENV[key] = value
    return dict(_PODMAN_ENV)


def compute_service(conn: Any, host: str) -> Any:
    found = [s for s in conn.compute.services(binary="nova-compute") if s.host == host]
    return found[0] if found else None
