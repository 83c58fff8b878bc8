# SPDX-License-Identifier: Apache-2.0
"""The lab's instances are network endpoints on the Neutron dataplane of the
running backend (ovn or ovs): a booted instance's port is ACTIVE through the
controller, its namespace exists on the host Nova names and nowhere else;
traffic passes between instances on different hosts; a live migration moves
the namespace and the port binding (a failed one leaves both on the source);
delete unplugs; a rebooted host gets its instances re-plugged by Nova."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from labhelpers import (
    compute_service,
    host_of,
    live_migrate,
    nova,
    podman_env,
    server,
    set_behaviour,
    wait_for,
    wait_migration,
    wait_settled,
)

HOSTSCTL = Path(__file__).resolve().parents[2] / "lab" / "hosts" / "hostsctl"
RESPONDER_PORT = 40001


def _lab_json(lab: Any) -> dict[str, Any]:
    return json.loads((lab.lab_dir / "lab.json").read_text())


@pytest.fixture(scope="module")
def conn(lab: Any) -> Any:
    if len(lab.computes) < 3:
        pytest.skip("needs 3 test hosts")
    if not _lab_json(lab).get("network"):
        pytest.skip("the lab runs no network backend")
    return lab.connect()


@pytest.fixture(scope="module")
def backend(lab: Any, conn: Any) -> str:
    return _lab_json(lab)["network"]


def _exec(host: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "exec", host, *argv], capture_output=True, text=True,
                          timeout=timeout, check=False, env=podman_env())


def _boot(conn: Any, name: str, host: str) -> dict[str, Any]:
    # A host just rebooted (test_rebooted_host_...) answers before its nova-compute reported again; until then the
    # scheduler counts it down and a boot pinned to it ends in NoValidHost (seen in make test on 2026-12-02).
    wait_for(f"nova-compute on {host} up and enabled",
             lambda: (svc := compute_service(conn, host)) is not None and svc.state == "up" and svc.status == "enabled",
             120, 2)
    image = conn.image.find_image("ndu-lab-image")
    flavor = conn.compute.find_flavor("ndu-lab-tiny")
    net = conn.network.find_network("ndu-lab-net")
    body = {"server": {"name": name, "imageRef": image.id, "flavorRef": flavor.id,
                       "networks": [{"uuid": net.id}], "host": host}}
    server_id = nova(conn, "post", "/servers", body)["server"]["id"]

    def active() -> dict[str, Any] | None:
        srv = server(conn, server_id)
        if srv["status"] == "ERROR":
            raise AssertionError(f"server {name} went to ERROR: {srv.get('fault')}")
        return srv if srv["status"] == "ACTIVE" else None
    return wait_for(f"server {name} ACTIVE on {host}", active, 240, 2)


def _port(conn: Any, server_id: str) -> Any:
    ports = list(conn.network.ports(device_id=server_id))
    assert len(ports) == 1, f"server {server_id} has ports {[p.id for p in ports]}"
    return ports[0]


def _namespace_hosts(lab: Any, server_id: str) -> list[str]:
    return [h for h in lab.computes
            if _exec(h, "test", "-e", f"/run/netns/vm-{server_id}").returncode == 0]


def _tap_ids(host: str, port_id: str) -> dict[str, str]:
    tap = f"tap{port_id}"[:14]
    out = _exec(host, "ovs-vsctl", "--format=json", "--columns=external_ids", "list", "Interface", tap)
    assert out.returncode == 0, f"{tap} on {host}: {out.stderr}"
    return dict(json.loads(out.stdout)["data"][0][0][1])


def _ip(port: Any) -> str:
    return port.fixed_ips[0]["ip_address"]


def _udp_echo(src_host: str, src_id: str, dst_ip: str, count: int = 20) -> int:
    script = (
        "import socket,struct,time\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(0.2);got=set()\n"
        f"for i in range({count}):\n"
        f"    s.sendto(struct.pack('!QQ',i,time.time_ns()),('{dst_ip}',{RESPONDER_PORT}))\n"
        "    try:\n"
        "        d,_=s.recvfrom(64);got.add(struct.unpack('!Q',d[:8])[0])\n"
        "    except OSError: pass\n"
        "end=time.time()+1\n"
        "while time.time()<end:\n"
        "    try:\n"
        "        d,_=s.recvfrom(64);got.add(struct.unpack('!Q',d[:8])[0])\n"
        "    except OSError: pass\n"
        "print(len(got))\n"
    )
    out = _exec(src_host, "ip", "netns", "exec", f"vm-{src_id}", "python3", "-c", script)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


def _ping(src_host: str, src_id: str, dst_ip: str) -> subprocess.CompletedProcess[str]:
    return _exec(src_host, "ip", "netns", "exec", f"vm-{src_id}", "ping", "-n", "-c", "5", "-i", "0.2",
                 "-W", "2", dst_ip)


def _traffic_ok(src_host: str, src_id: str, dst_ip: str) -> bool:
    return _ping(src_host, src_id, dst_ip).returncode == 0 and _udp_echo(src_host, src_id, dst_ip) >= 19


def _check_endpoint(lab: Any, conn: Any, backend: str, srv: dict[str, Any], active: bool = True) -> Any:
    host = host_of(srv)
    if active:
        port = wait_for(f"port of {srv['name']} ACTIVE",
                        lambda: (p := _port(conn, srv["id"])).status == "ACTIVE" and p, 60, 1)
    else:
        port = _port(conn, srv["id"])
    assert port.binding_host_id == host
    assert _namespace_hosts(lab, srv["id"]) == [host]
    ids = _tap_ids(host, port.id)
    assert ids["iface-id"] == port.id
    assert ids["attached-mac"] == port.mac_address
    assert ids["vm-uuid"] == srv["id"]
    assert ids["iface-status"] == "active"
    if backend == "ovn":
        assert ids.get("ovn-installed") == "true", ids
    inner = _exec(host, "ip", "netns", "exec", f"vm-{srv['id']}", "ip", "-j", "addr", "show", "dev", "eth0")
    info = json.loads(inner.stdout)[0]
    assert info["address"] == port.mac_address
    assert _ip(port) in [a["local"] for a in info["addr_info"]]
    return port


@pytest.fixture(scope="module")
def pair(lab: Any, conn: Any) -> Iterator[dict[str, dict[str, Any]]]:
    """Two instances with ports, on compute1 and compute2; deleted afterwards."""
    stamp = time.strftime("%H%M%S")
    made = {"a": _boot(conn, f"ndu-net-a-{stamp}", lab.computes[0]),
            "b": _boot(conn, f"ndu-net-b-{stamp}", lab.computes[1])}
    yield made
    for srv in made.values():
        conn.compute.delete_server(srv["id"], ignore_missing=True)


def test_booted_instance_has_an_active_port_and_one_namespace(lab: Any, conn: Any, backend: str,
                                                              pair: dict[str, dict[str, Any]]) -> None:
    for srv in pair.values():
        _check_endpoint(lab, conn, backend, srv)


def test_traffic_passes_between_instances_on_two_hosts(lab: Any, conn: Any, pair: dict[str, dict[str, Any]]) -> None:
    a, b = pair["a"], pair["b"]
    ip_b, ip_a = _ip(_port(conn, b["id"])), _ip(_port(conn, a["id"]))
    ping = _ping(host_of(a), a["id"], ip_b)
    assert ping.returncode == 0 and " 0% packet loss" in ping.stdout, ping.stdout + ping.stderr
    assert _udp_echo(host_of(a), a["id"], ip_b) >= 19
    assert _udp_echo(host_of(b), b["id"], ip_a) >= 19


def test_live_migration_moves_namespace_and_binding(lab: Any, conn: Any, backend: str,
                                                    pair: dict[str, dict[str, Any]]) -> None:
    a, b = pair["a"], pair["b"]
    before = _port(conn, a["id"])
    dest = lab.computes[2]
    set_behaviour(lab.lab_dir, {"default": {"duration": 2, "mode": "ok"}})
    live_migrate(conn, a["id"], dest)
    mig = wait_migration(conn, a["id"], ("completed", "failed", "error", "cancelled"), 180)
    assert mig["status"] == "completed", mig
    srv = wait_settled(conn, a["id"])
    assert host_of(srv) == dest
    wait_for(f"namespace of {a['name']} only on {dest}", lambda: _namespace_hosts(lab, a["id"]) == [dest], 60, 1)
    port = _check_endpoint(lab, conn, backend, srv)
    assert (port.mac_address, _ip(port)) == (before.mac_address, _ip(before))
    pair["a"] = srv
    wait_for(f"traffic {b['name']} -> {srv['name']} on {dest}",
             lambda: _traffic_ok(host_of(b), b["id"], _ip(port)), 60, 2)


def test_failed_live_migration_leaves_the_endpoint_on_the_source(lab: Any, conn: Any, backend: str,
                                                                 pair: dict[str, dict[str, Any]]) -> None:
    b = pair["b"]
    source = host_of(b)
    dest = next(h for h in lab.computes if h not in (source, host_of(pair["a"])))
    set_behaviour(lab.lab_dir, {b["name"]: {"duration": 2, "mode": "fail"}})
    try:
        live_migrate(conn, b["id"], dest)
        mig = wait_migration(conn, b["id"], ("completed", "failed", "error", "cancelled"), 180)
    finally:
        set_behaviour(lab.lab_dir, {})
    assert mig["status"] == "failed", mig
    srv = wait_settled(conn, b["id"])
    assert host_of(srv) == source
    wait_for(f"namespace of {b['name']} only on {source}", lambda: _namespace_hosts(lab, b["id"]) == [source], 60, 1)
    # ML2/OVN (neutron 29): the rollback's binding update leaves the port DOWN in
    # Neutron although ovn-controller keeps it installed (docs/lab.md); the
    # dataplane is checked instead: ovn-installed on the source, traffic passes.
    port = _check_endpoint(lab, conn, backend, srv, active=backend != "ovn")
    assert port.binding_host_id == source
    wait_for(f"traffic {pair['a']['name']} -> {b['name']} on {source}",
             lambda: _traffic_ok(host_of(pair["a"]), pair["a"]["id"], _ip(port)), 60, 2)


def test_rebooted_host_gets_its_instances_plugged_again(lab: Any, conn: Any, backend: str,
                                                        pair: dict[str, dict[str, Any]]) -> None:
    a, b = pair["a"], pair["b"]
    host = host_of(a)
    proc = subprocess.run([str(HOSTSCTL), "reboot", host], capture_output=True, text=True, timeout=400,
                          check=False, env=dict(podman_env(), NDU_LAB_DIR=str(lab.lab_dir)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    wait_for(f"namespace of {a['name']} back on {host}", lambda: _namespace_hosts(lab, a["id"]) == [host], 240, 3)
    port = _check_endpoint(lab, conn, backend, server(conn, a["id"]))
    wait_for(f"traffic {b['name']} -> {a['name']} after the reboot",
             lambda: _traffic_ok(host_of(b), b["id"], _ip(port)), 90, 3)


def test_delete_unplugs(lab: Any, conn: Any, pair: dict[str, dict[str, Any]]) -> None:
    srv = _boot(conn, f"ndu-net-del-{time.strftime('%H%M%S')}", lab.computes[2])
    port = _port(conn, srv["id"])
    host = host_of(srv)
    conn.compute.delete_server(srv["id"])
    conn.compute.wait_for_delete(conn.compute.get_server(srv["id"]), wait=120)
    wait_for(f"namespace of {srv['name']} gone", lambda: _namespace_hosts(lab, srv["id"]) == [], 60, 1)
    tap = f"tap{port.id}"[:14]
    assert _exec(host, "ovs-vsctl", "port-to-br", tap).returncode != 0, f"{tap} still on br-int of {host}"


def test_switching_the_backend_of_a_running_lab_is_refused(lab: Any, backend: str) -> None:
    other = "ovs" if backend == "ovn" else "ovn"
    proc = lab.labctl("up", "--network", other, timeout=300)
    assert proc.returncode != 0
    assert f"the lab is up with the {backend} network backend" in proc.stderr, proc.stderr
    assert f"run `make lab-down` first, then `make lab-up NETWORK={other}`" in proc.stderr, proc.stderr
    assert json.loads((lab.lab_dir / "lab.json").read_text())["network"] == backend
