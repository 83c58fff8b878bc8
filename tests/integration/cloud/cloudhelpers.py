# SPDX-License-Identifier: Apache-2.0
"""Helpers of the cloud-side integration tests: run the small playbooks in
playbooks/ with the JSON callback, and read the cloud back through
openstacksdk with explicit microversions (never through our own modules)."""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dataplane
from polling import wait_for  # noqa: F401  (re-exported to the tests)

REPO = Path(__file__).resolve().parents[3]
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
ANSIBLE_PLAYBOOK = Path(os.environ.get("NDU_VENV", REPO / ".venv")) / "bin" / "ansible-playbook"
MV = "2.80"
ORIGIN_KEY = "ndu:origin_host"
RUN = uuid.uuid4().hex[:6]
PREFIX = f"ndu-it-{RUN}-"  # every server these tests boot
TEST_REASON = f"ndu-it {RUN}: kept out by a test"  # a disable that is not ours


@dataclass
class PlaybookRun:
    rc: int
    output: dict[str, Any]
    stderr: str
    seconds: float

    def results(self, task_name: str) -> dict[str, dict[str, Any]]:
        """host -> result of the (last) task whose name contains ``task_name`` (role tasks carry a role prefix)."""
        found: dict[str, dict[str, Any]] = {}
        for play in self.output.get("plays", []):
            for task in play.get("tasks", []):
                if task_name in task["task"]["name"]:
                    found.update(task["hosts"])
        if not found:
            names = [t["task"]["name"] for p in self.output.get("plays", []) for t in p.get("tasks", [])]
            raise AssertionError(f"no task named {task_name!r} ran; tasks: {names}\nstderr: {self.stderr[-2000:]}")
        return found

    def result(self, task_name: str, host: str) -> dict[str, Any]:
        return self.results(task_name)[host]

    def changed(self) -> dict[str, int]:
        return {host: stats["changed"] for host, stats in self.output.get("stats", {}).items()}

    def failures(self) -> dict[str, int]:
        return {host: stats["failures"] for host, stats in self.output.get("stats", {}).items()}


def run_playbook(lab: Any, playbook: str, limit: str | None = None, check: bool = False, timeout: float = 600,
                 background: bool = False, **extra_vars: Any) -> PlaybookRun | subprocess.Popen[str]:
    argv = [str(ANSIBLE_PLAYBOOK), "-i", str(lab.inventory), str(PLAYBOOKS / playbook), "-e", json.dumps(extra_vars)]
    if limit:
        argv += ["--limit", limit]
    if check:
        argv.append("--check")
    env = dict(lab.env, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json", ANSIBLE_NOCOLOR="1")
    if background:
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return parse_run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def parse_run(rc: int, stdout: str, stderr: str, seconds: float) -> PlaybookRun:
    try:
        output = json.loads(stdout[stdout.index("{"):])
    except ValueError as err:
        raise AssertionError(f"ansible-playbook printed no JSON (rc {rc}): {stdout[-2000:]}\n{stderr[-2000:]}") from err
    return PlaybookRun(rc, output, stderr, seconds)


def finish(proc: subprocess.Popen[str], timeout: float = 600) -> PlaybookRun:
    started = time.monotonic()
    stdout, stderr = proc.communicate(timeout=timeout)
    return parse_run(proc.returncode, stdout, stderr, time.monotonic() - started)


# ---- reading the cloud back -------------------------------------------------------
def nova(conn: Any, method: str, url: str, body: dict[str, Any] | None = None, mv: str = MV) -> Any:
    resp = getattr(conn.compute, method)(url, json=body, microversion=mv)
    if resp.status_code >= 400:
        raise AssertionError(f"{method.upper()} {url} -> {resp.status_code}: {resp.text[:500]}")
    return resp.json() if resp.content else None


def server(conn: Any, server_id: str) -> dict[str, Any]:
    return nova(conn, "get", f"/servers/{server_id}")["server"]


def host_of(srv: dict[str, Any]) -> str:
    return srv["OS-EXT-SRV-ATTR:host"]


def names_on(conn: Any, host: str, prefix: str) -> list[str]:
    """Servers of all projects on ``host`` whose name starts with ``prefix`` (openstacksdk's compute_host filter)."""
    return sorted(s.name for s in conn.compute.servers(all_projects=True, compute_host=host) if s.name.startswith(prefix))


def only_ours_on(conn: Any, host: str, prefix: str, timeout: float = 180) -> None:
    """Evacuation empties the whole host: wait until only this run's servers are there (other suites clean up)."""
    def clear() -> bool:
        return all(s.name.startswith(prefix) for s in conn.compute.servers(all_projects=True, compute_host=host))
    wait_for(f"{host} to hold only servers named {prefix}*", clear, timeout, 3)


def service(conn: Any, host: str) -> dict[str, Any]:
    found = nova(conn, "get", f"/os-services?binary=nova-compute&host={host}", mv="2.53")["services"]
    assert len(found) == 1, f"expected one nova-compute on {host}, found {found}"
    return found[0]


def set_service(conn: Any, host: str, status: str, reason: str | None = None) -> None:
    body: dict[str, Any] = {"status": status}
    if reason:
        body["disabled_reason"] = reason
    nova(conn, "put", f"/os-services/{service(conn, host)['id']}", body, mv="2.53")


def migrations(conn: Any, server_id: str) -> list[dict[str, Any]]:
    found = nova(conn, "get", f"/os-migrations?instance_uuid={server_id}&migration_type=live-migration")["migrations"]
    return sorted(found, key=lambda m: m["id"])


def boot_many(conn: Any, names: list[str], host: str, image_id: str, flavor_id: str, created: list[str]) -> list[dict[str, Any]]:
    """Boot servers pinned to ``host`` (microversion 2.74 ``host``) and wait until all are ACTIVE there.

    Each id goes into ``created`` (the cleanup list) as soon as Nova returns it, so a failed boot is deleted too.
    """
    ids = []
    net = dataplane.network_id(conn, dataplane.read().network)  # every instance has a port on the tenant network
    for name in names:
        body = {"server": {"name": name, "imageRef": image_id, "flavorRef": flavor_id, "networks": [{"uuid": net}], "host": host}}
        ids.append(nova(conn, "post", "/servers", body)["server"]["id"])
        created.append(ids[-1])

    def all_active() -> list[dict[str, Any]] | None:
        found = [server(conn, i) for i in ids]
        broken = [s["name"] for s in found if s["status"] == "ERROR"]
        assert not broken, f"servers went to ERROR: {broken}"
        return found if all(s["status"] == "ACTIVE" and host_of(s) == host for s in found) else None
    return wait_for(f"{len(names)} servers ACTIVE on {host}", all_active, 240, 2)


def delete_servers(conn: Any, ids: list[str]) -> None:
    for server_id in ids:
        resp = conn.compute.delete(f"/servers/{server_id}", microversion=MV)
        assert resp.status_code in (204, 404), resp.text
    wait_for("servers deleted", lambda: all(conn.compute.get(f"/servers/{i}", microversion=MV).status_code == 404 for i in ids), 120, 2)


def set_behaviour(lab_dir: Path, table: dict[str, Any]) -> None:
    """Rewrite the lab driver's behaviour file atomically (read at each migration start)."""
    target = lab_dir / "driver" / "behaviour.json"
    tmp = target.with_suffix(".cloud-tmp")
    tmp.write_text(json.dumps(table, indent=2) + "\n")
    os.replace(tmp, target)


def parse_time(stamp: str) -> float:
    from datetime import datetime, timezone
    return datetime.fromisoformat(stamp.replace("Z", "")).replace(tzinfo=timezone.utc).timestamp()


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """Largest number of intervals open at the same instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak
