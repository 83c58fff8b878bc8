# SPDX-License-Identifier: Apache-2.0
"""The lab's Neutron dataplane as the integration tests see it: instances with a port on the tenant network,
their namespaces on the hosts, and the collection's per-instance probe run from the lab's probe host.

tests/integration/ is on sys.path (its conftest.py lives there): ``from dataplane import ...``. The demo and the
benchmarks import it by path. Everything the lab exposes is read from lab.json / lab.env here, in one place.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polling import wait_for

REPO = Path(__file__).resolve().parents[2]
PROBE = REPO / "roles" / "flow_verify" / "files" / "ndu_udp_probe.py"
HOSTSCTL = REPO / "tests" / "lab" / "hosts" / "hostsctl"
BOOT_MV = "2.74"  # host= on boot
# Requests per second to each instance: 200 (5 ms resolution for gaps; the 2-core lab keeps up with ~10 instances).
RATE = 200
PORT = 40001  # the lab responder's UDP echo
# The lab's trixie hosts and their rebuilt stand-in packages (lab.json "ovs_versions" overrides these once the lab is up).
DEFAULT_VERSIONS = {"original": "3.5.0-1+b1", "lab1": "3.5.0-1+b1+lab1", "broken": "3.5.0-1+b1+lab2broken"}


def versions(lab_dir: Path | str | None = None) -> dict[str, str]:
    """original / lab1 / broken OVS versions of the lab: from lab.json when the lab is up, else the recipe's."""
    path = Path(lab_dir or os.environ.get("NDU_LAB_DIR", "/var/lib/ndu-lab")) / "lab.json"
    found = dict(DEFAULT_VERSIONS)
    try:
        found.update({k: v for k, v in (json.loads(path.read_text()).get("ovs_versions") or {}).items() if v})
    except (OSError, ValueError):
        pass
    return found


@dataclass(frozen=True)
class Dataplane:
    backend: str
    network: str
    probe_host: str
    probe_ns: str
    probe_ip: str
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def original(self) -> str:
        return self.versions["original"]

    @property
    def lab1(self) -> str:
        return self.versions["lab1"]

    @property
    def broken(self) -> str:
        return self.versions["broken"]

    def stop_stray_probe(self) -> None:
        """Stop a rolling playbook's probe that a killed roll left running on the probe host."""
        on_host(self.probe_host, "sh", "-c", "test ! -e /run/ndu-dataplane/ndu_udp_probe.py || python3 /run/ndu-dataplane/ndu_udp_probe.py "
                "stop --stop-file=/run/ndu-dataplane/probe.stop", check=False)

    def roll_vars(self) -> dict[str, Any]:
        """Extra vars that turn the rolling playbook's per-instance probe on, from the lab's probe host."""
        return {"ndu_probe": True, "ndu_probe_host": self.probe_host, "ndu_probe_namespace": self.probe_ns,
                "ndu_probe_network": self.network, "ndu_probe_rate": RATE, "ndu_probe_port": PORT}


def _env_file(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.strip().removeprefix("export ").partition("=")
            if sep and not key.startswith("#"):
                found[key] = shlex.split(value)[0] if value else ""
    return found


def read(lab_dir: Path | str | None = None) -> Dataplane:
    """The running lab's backend, tenant network, probe host and OVS versions; fails with a sentence when missing."""
    lab_dir = Path(lab_dir or os.environ.get("NDU_LAB_DIR", "/var/lib/ndu-lab"))
    lab_json = json.loads((lab_dir / "lab.json").read_text()) if (lab_dir / "lab.json").exists() else {}
    env = _env_file(lab_dir / "lab.env")
    probe = lab_json.get("probe") or {}
    values = {
        "backend": env.get("NDU_LAB_NETWORK_BACKEND") or lab_json.get("network") or "",
        "network": env.get("NDU_LAB_NETWORK") or lab_json.get("tenant_network") or "",
        "probe_host": env.get("NDU_LAB_PROBE_HOST") or probe.get("host") or "",
        "probe_ns": env.get("NDU_LAB_PROBE_NS") or probe.get("namespace") or "",
        "probe_ip": env.get("NDU_LAB_PROBE_IP") or probe.get("ip") or "",
    }
    missing = [k for k, v in values.items() if not v]
    if missing:
        raise AssertionError(f"the lab in {lab_dir} does not say its {', '.join(missing)} (lab.json / lab.env): "
                             "it is not a Neutron-dataplane lab; run `make lab-down` then `make lab-up`")
    found = versions(lab_dir)
    for key in ("original", "lab1", "broken"):
        if env.get(f"NDU_LAB_OVS_{key.upper()}"):
            found[key] = env[f"NDU_LAB_OVS_{key.upper()}"]
    return Dataplane(versions=found, **values)


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    out = subprocess.run([str(HOSTSCTL), "env"], capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep:
            env[key] = value
    return env


def on_host(host: str, *argv: str, check: bool = True, timeout: float = 60, stdin: Any = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["podman", "exec", "-i", host, *argv], capture_output=True, text=True, env=podman_env(),
                          check=False, timeout=timeout, input=stdin)
    if check and proc.returncode != 0:
        raise AssertionError(f"{host}: {' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-1000:]}")
    return proc


# --- instances with ports -------------------------------------------------------------------------------------

def network_id(conn: Any, name: str) -> str:
    net = conn.network.find_network(name)
    assert net is not None, f"the lab's tenant network {name} does not exist"
    return net.id


def boot(conn: Any, placements: list[tuple[str, str]], network: str, timeout: float = 300) -> list[str]:
    """Boot one server per (name, host), each with a port on ``network``; wait until all are ACTIVE."""
    image = conn.image.find_image("ndu-lab-image")
    flavor = conn.compute.find_flavor("ndu-lab-tiny")
    net = network_id(conn, network)
    ids = []
    for name, host in placements:
        body = {"server": {"name": name, "imageRef": image.id, "flavorRef": flavor.id, "networks": [{"uuid": net}], "host": host}}
        resp = conn.compute.post("/servers", json=body, microversion=BOOT_MV)
        assert resp.status_code < 400, f"booting {name} on {host}: {resp.status_code} {resp.text[:500]}"
        ids.append(resp.json()["server"]["id"])

    def active() -> bool:
        states = {i: server(conn, i) for i in ids}
        broken = [f"{s['name']}: {s.get('fault')}" for s in states.values() if s["status"] == "ERROR"]
        assert not broken, f"servers went to ERROR: {broken}"
        return all(s["status"] == "ACTIVE" for s in states.values())
    wait_for(f"{len(ids)} server(s) with ports ACTIVE", active, timeout, 2)
    return ids


def server(conn: Any, server_id: str) -> dict[str, Any]:
    resp = conn.compute.get(f"/servers/{server_id}", microversion=BOOT_MV)
    assert resp.status_code < 400, f"GET /servers/{server_id}: {resp.status_code} {resp.text[:300]}"
    return resp.json()["server"]


def fixed_ip(srv: dict[str, Any], network: str) -> str:
    for entry in (srv.get("addresses") or {}).get(network) or []:
        if entry.get("version") == 4:
            return entry["addr"]
    raise AssertionError(f"server {srv['name']} has no IPv4 address on {network}: {srv.get('addresses')}")


def targets(conn: Any, ids: list[str], network: str) -> list[dict[str, str]]:
    """The probe's targets for these servers: {id, name, address}."""
    found = []
    for server_id in ids:
        srv = server(conn, server_id)
        found.append({"id": server_id, "name": srv["name"], "address": fixed_ip(srv, network)})
    return found


def port_of(conn: Any, server_id: str) -> Any:
    ports = list(conn.network.ports(device_id=server_id))
    assert len(ports) == 1, f"server {server_id} has {len(ports)} ports, expected 1"
    return ports[0]


def namespace(server_id: str) -> str:
    return f"vm-{server_id}"


def namespaces(host: str) -> set[str]:
    out = on_host(host, "ip", "netns", "list").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def where_plugged(server_id: str, hosts: tuple[str, ...]) -> list[str]:
    """The hosts that have the instance's namespace."""
    return [h for h in hosts if namespace(server_id) in namespaces(h)]


# --- the probe, run by hand (the rolling playbook runs the same script itself) -----------------------------------

class Probe:
    """The collection's per-instance probe, from the lab's probe host to ``targets``, until ``stop()``."""

    DIR = "/run/ndu-test-probe"

    def __init__(self, dp: Dataplane, targets: list[dict[str, str]], rate: int = RATE, label: str | None = None) -> None:
        self.dp = dp
        self.label = label or uuid.uuid4().hex[:8]
        self.stop_file = f"{self.DIR}/{self.label}.stop"
        started = f"{self.DIR}/{self.label}.started"
        on_host(dp.probe_host, "mkdir", "-p", self.DIR)
        on_host(dp.probe_host, "sh", "-c", f"cat > {self.DIR}/ndu_udp_probe.py", stdin=PROBE.read_text())
        argv = ["python3", f"{self.DIR}/ndu_udp_probe.py", "run", "--ns", dp.probe_ns, "--rate", str(rate), "--port", str(PORT),
                "--stop-file", self.stop_file, "--started-file", started, "--max-duration", "1800"]
        for t in targets:
            argv += ["--target", f"{t['id']}={t['name']}={t['address']}"]
        self.proc = subprocess.Popen(["podman", "exec", dp.probe_host, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=podman_env())
        deadline = time.monotonic() + 40
        while on_host(dp.probe_host, "test", "-e", started, check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out, err = self.proc.communicate(timeout=10) if self.proc.poll() is not None else ("", "")
                raise AssertionError(f"the probe on {dp.probe_host} did not start: {out[-1000:]} {err[-1000:]}")
            time.sleep(0.2)

    def stop(self) -> dict[str, Any]:
        on_host(self.dp.probe_host, "touch", self.stop_file)
        out, err = self.proc.communicate(timeout=120)
        lines = out.strip().splitlines()
        assert lines, f"the probe printed nothing: {err[-2000:]}"
        report = json.loads(lines[-1])
        assert not report.get("failed"), report
        return report


def assert_measured(report: dict[str, Any] | None, ids: list[str], min_sent: int = 1) -> dict[str, Any]:
    """Per-instance loss was measured, not assumed: every instance has figures, sent > 0 and answered at some point."""
    assert report and not report.get("failed"), f"no probe figures: {report}"
    instances = report["instances"]
    assert set(ids) <= set(instances), f"instances without figures: {sorted(set(ids) - set(instances))}"
    for server_id in ids:
        entry = instances[server_id]
        assert entry["sent"] >= min_sent, (server_id, entry)
        assert entry["received"] > 0, f"{entry['name']} never answered the probe: {entry}"
        assert entry["lost"] == entry["sent"] - entry["received"], entry
        assert entry["longest_gap_ms"] > 0 and isinstance(entry["gaps"], list), entry
    return instances
