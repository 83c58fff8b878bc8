# SPDX-License-Identifier: Apache-2.0
"""Pure logic of the lab's instances as network endpoints: the names and OVS
external_ids the lab driver plugs with (labvif), the plug/unplug command
sequences (against a recording runner, no OVS), and labctl's sentences for a
port a controller never programmed. The running lab proves the rest
(tests/integration/lab)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Sequence

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import labvif  # noqa: E402
from labctl import port_problems  # noqa: E402

PORT = "3f2a9c1e-5b7d-4e21-9a0b-1c2d3e4f5a6b"
VM = "8d5e2f10-aaaa-bbbb-cccc-0123456789ab"
MAC = "fa:16:3e:12:34:56"


def vif(port_id: str = PORT, ip: str = "10.215.0.23", mtu: int | None = 1442) -> dict:
    return {
        "id": port_id,
        "address": MAC,
        "active": False,
        "network": {
            "bridge": "br-int",
            "meta": {"mtu": mtu} if mtu else {},
            "subnets": [{"cidr": "10.215.0.0/24", "gateway": {"address": None},
                         "ips": [{"address": ip, "type": "fixed"}]}],
        },
    }


class Recorder:
    """A runner that records commands and answers like a host with nothing plugged yet."""

    def __init__(self, existing: set[str] | None = None, taps_found: str = "") -> None:
        self.calls: list[list[str]] = []
        self.existing = existing or set()
        self.taps_found = taps_found

    def __call__(self, cmd: Sequence[str], check: bool) -> subprocess.CompletedProcess:
        cmd = list(cmd)
        self.calls.append(cmd)
        rc, out = 0, ""
        if cmd[:3] == ["ip", "link", "show"]:
            rc = 0 if cmd[3] in self.existing else 1
        elif cmd[:2] == ["systemctl", "is-active"]:
            rc = 3
        elif "find" in cmd and cmd[0] == "ovs-vsctl":
            out = self.taps_found
        return subprocess.CompletedProcess(cmd, rc, out, "")


def test_names_follow_os_vif() -> None:
    assert labvif.tap_name(PORT) == "tap3f2a9c1e-5b"
    assert len(labvif.tap_name(PORT)) <= 15  # IFNAMSIZ - 1
    assert labvif.netns_name(VM) == f"vm-{VM}"
    assert labvif.responder_unit(VM) == f"ndu-lab-vm-{VM}.service"


def test_external_ids_are_what_controllers_read() -> None:
    assert labvif.external_ids(PORT, MAC, VM) == {
        "iface-id": PORT, "attached-mac": MAC, "vm-uuid": VM, "iface-status": "active"}


def test_vif_facts_take_mac_ip_prefix_and_mtu() -> None:
    facts = labvif.vif_facts(vif())
    assert facts == {"port_id": PORT, "mac": MAC, "ip": "10.215.0.23", "prefixlen": 24,
                     "gateway": None, "mtu": 1442, "bridge": "br-int"}


def test_add_port_command_sets_every_external_id() -> None:
    cmd = labvif.ovs_add_port_command("br-int", "tap3f2a9c1e-5b", labvif.external_ids(PORT, MAC, VM))
    assert cmd[:6] == ["ovs-vsctl", "--timeout=30", "--may-exist", "add-port", "br-int", "tap3f2a9c1e-5b"]
    assert f'external_ids:iface-id="{PORT}"' in cmd
    assert f'external_ids:attached-mac="{MAC}"' in cmd
    assert f'external_ids:vm-uuid="{VM}"' in cmd
    assert 'external_ids:iface-status="active"' in cmd


def test_plug_builds_namespace_veth_addresses_port_and_responder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labvif, "netns_exists", lambda uuid: False)
    run = Recorder()
    assert labvif.plug(VM, [vif()], run=run) == ["tap3f2a9c1e-5b"]
    flat = [" ".join(c) for c in run.calls]
    assert flat[0] == f"ip netns add vm-{VM}"
    assert f"ip link add tap3f2a9c1e-5b type veth peer name eth0 netns vm-{VM}" in flat
    assert f"ip netns exec vm-{VM} ip link set eth0 address {MAC}" in flat
    assert f"ip netns exec vm-{VM} ip addr replace 10.215.0.23/24 dev eth0" in flat
    assert f"ip netns exec vm-{VM} ip link set eth0 mtu 1442" in flat
    assert f"ip netns exec vm-{VM} ethtool -K eth0 tx off" in flat
    assert any(c.startswith("ovs-vsctl --timeout=30 --may-exist add-port br-int tap3f2a9c1e-5b") for c in flat)
    responder = [c for c in run.calls if c[0] == "systemd-run"]
    assert responder and f"ndu-lab-vm-{VM}.service" in responder[0]
    assert responder[0][-3:] == ["serve", "--port", str(labvif.RESPONDER_PORT)]


def test_plug_again_creates_nothing_new(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labvif, "netns_exists", lambda uuid: True)
    run = Recorder(existing={"tap3f2a9c1e-5b"})
    labvif.plug(VM, [vif()], run=run)
    flat = [" ".join(c) for c in run.calls]
    assert not any(c.startswith("ip netns add") or " type veth " in c for c in flat)


def test_plug_without_ports_plugs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labvif, "netns_exists", lambda uuid: True)
    run = Recorder()
    assert labvif.plug(VM, [], run=run) == []
    assert not any(c[0] == "systemd-run" for c in run.calls)


def test_unplug_finds_ports_by_vm_uuid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labvif, "netns_exists", lambda uuid: True)
    run = Recorder(taps_found="tap3f2a9c1e-5b\n")
    assert labvif.unplug(VM, None, run=run) == ["tap3f2a9c1e-5b"]
    flat = [" ".join(c) for c in run.calls]
    assert f'external_ids:vm-uuid="{VM}"' in flat[0]
    assert f"systemctl stop ndu-lab-vm-{VM}.service" in flat
    assert "ovs-vsctl --timeout=30 --if-exists del-port br-int tap3f2a9c1e-5b" in flat
    assert flat[-1] == f"ip netns del vm-{VM}"


def _host(ports: list[dict]) -> dict:
    return {"running": True, "controller": "active", "ports": ports}


def test_port_problems_name_host_and_port() -> None:
    ports = [{"id": PORT, "status": "DOWN", "binding_host_id": "compute2", "device_id": VM}]
    servers = {VM: {"name": "web-1", "host": "compute2"}}
    agents = [{"host": "compute2", "agent_type": "OVN Controller agent", "is_alive": True}]
    hosts = {"compute2": _host([{"port_id": PORT, "tap": "tap3f2a9c1e-5b", "ovn_installed": False}])}
    problems = port_problems("ovn", ports, servers, hosts, agents)
    assert problems == [f"compute2: ovn-controller never programmed port {PORT} of server web-1 "
                        "(tap3f2a9c1e-5b has no ovn-installed)"]
    hosts["compute2"]["ports"][0]["ovn_installed"] = True
    ovs_agents = [{"host": "compute2", "agent_type": "Open vSwitch agent", "is_alive": True}]
    assert port_problems("ovs", ports, servers, hosts, ovs_agents) == [
        f"compute2: port {PORT} of server web-1 is DOWN in Neutron (neutron-openvswitch-agent never made it ACTIVE)"]


def test_ovn_installed_port_with_stale_neutron_status_is_a_warning() -> None:
    ports = [{"id": PORT, "status": "DOWN", "binding_host_id": "compute2", "device_id": VM}]
    servers = {VM: {"name": "web-1", "host": "compute2"}}
    agents = [{"host": "compute2", "agent_type": "OVN Controller agent", "is_alive": True}]
    hosts = {"compute2": _host([{"port_id": PORT, "ovn_installed": True}])}
    warnings: list[str] = []
    assert port_problems("ovn", ports, servers, hosts, agents, warnings) == []
    assert warnings and warnings[0].startswith(f"compute2: port {PORT} of server web-1 is DOWN in Neutron")


def test_port_problems_missing_tap_and_dead_agent() -> None:
    ports = [{"id": PORT, "status": "ACTIVE", "binding_host_id": "compute1", "device_id": VM}]
    servers = {VM: {"name": "web-1", "host": "compute1"}}
    agents = [{"host": "compute1", "agent_type": "Open vSwitch agent", "is_alive": False}]
    problems = port_problems("ovs", ports, servers, {"compute1": _host([])}, agents)
    assert "compute1: neutron-openvswitch-agent is dead in `openstack network agent list`" in problems
    assert f"compute1: port {PORT} of server web-1 is not plugged (tap3f2a9c1e-5b missing from br-int)" in problems


def test_port_problems_healthy_is_empty() -> None:
    ports = [{"id": PORT, "status": "ACTIVE", "binding_host_id": "compute1", "device_id": VM}]
    servers = {VM: {"name": "web-1", "host": "compute1"}}
    agents = [{"host": "compute1", "agent_type": "OVN Controller agent", "is_alive": True}]
    hosts = {"compute1": _host([{"port_id": PORT, "ovn_installed": True}])}
    assert port_problems("ovn", ports, servers, hosts, agents) == []
    # A host with no chassis at all is named too.
    assert port_problems("ovn", [], {}, {"compute3": _host([])}, agents)[0].startswith("compute3: not registered")
