# SPDX-License-Identifier: Apache-2.0
"""Pure logic of the lab's test hosts: per-host dataplane configs and the flows
the boot unit programs from them. No podman, no OVS: the running lab proves
the rest (hostsctl up checks ping and UDP between hosts)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import ipaddress
import itertools
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent


def _load(name: str, path: Path) -> ModuleType:
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


hostsctl = _load("hostsctl", HERE / "hostsctl")
dataplane = _load("ndu_lab_dataplane", HERE / "image" / "rootfs" / "usr" / "local" / "sbin" / "ndu-lab-dataplane")


def _configs(count: int) -> list[dict]:
    return [dataplane.normalise(hostsctl.dataplane_config(i, count)) for i in range(1, count + 1)]


@pytest.mark.parametrize("count", range(1, hostsctl.MAX_COMPUTES + 1))
def test_addresses_follow_the_lab_contract(count: int) -> None:
    configs = _configs(count)
    for index, cfg in enumerate(configs, start=1):
        assert cfg["host"] == f"compute{index}"
        assert cfg["underlay"]["ip"] == f"10.213.0.{10 + index}"
        assert [w["ip"] for w in cfg["workloads"]] == [f"10.214.0.{10 * index + 1}", f"10.214.0.{10 * index + 2}"]
        assert sorted(p["host"] for p in cfg["peers"]) == sorted(f"compute{j}" for j in range(1, count + 1) if j != index)
    ips = [w["ip"] for cfg in configs for w in cfg["workloads"]]
    macs = [w["mac"] for cfg in configs for w in cfg["workloads"]]
    host_macs = [hostsctl.host_mac(i) for i in range(1, count + 1)]
    assert len(set(ips)) == len(ips) == 2 * count
    assert len(set(macs + host_macs)) == 3 * count
    assert all(ipaddress.IPv4Address(ip) in hostsctl.WORKLOAD_NET for ip in ips)


@pytest.mark.parametrize("count", range(1, hostsctl.MAX_COMPUTES + 1))
def test_flows_are_explicit_and_cover_every_workload(count: int) -> None:
    for cfg in _configs(count):
        flows = dataplane.int_flows(cfg)
        assert not any("NORMAL" in f.upper() for f in flows)
        local_ports = {w["ip"]: w["ofport"] for w in cfg["workloads"]}
        remote_ports = {w["ip"]: p["ofport"] for p in cfg["peers"] for w in p["workloads"]}
        # From a local port: every workload of the lab is reachable, ARP and IP.
        for ip, port in itertools.chain(local_ports.items(), remote_ports.items()):
            for proto, field in (("arp", "arp_tpa"), ("ip", "nw_dst")):
                assert f"table=10,priority=100,{proto},{field}={ip},actions=output:{port}" in "\n".join(flows)
        # From a tunnel: local workloads only, never back into another tunnel.
        table20 = [f for f in flows if "table=20," in f]
        assert {f.rsplit("output:", 1)[1] for f in table20 if "output:" in f} <= {str(p) for p in local_ports.values()}
        # Each table ends in an explicit drop; anti-spoofing on workload ports.
        for table in (0, 10, 20):
            assert any(f"table={table},priority=0,actions=drop" in f for f in flows)
        for w in cfg["workloads"]:
            assert any(f"in_port={w['ofport']},dl_src={w['mac']},ip,nw_src={w['ip']}" in f for f in flows)
        # table 0: 4 anti-spoofing + 1 per tunnel + drop; table 10: ARP+IP per
        # workload of the lab + drop; table 20: ARP+IP per local workload + drop.
        table0 = 4 + (count - 1) + 1
        table10 = 2 * 2 * count + 1
        assert len(flows) == table0 + table10 + 5 == 5 * count + 10


def test_mac_for_is_stable_and_locally_administered() -> None:
    assert dataplane.mac_for("10.214.0.11") == "02:00:0a:d6:00:0b"
    assert hostsctl.host_mac(1) == "02:00:0a:d5:00:0b"


def test_traffic_pairs_target_each_host_once() -> None:
    assert hostsctl.traffic_pairs(1) == [(1, 1)]
    for count in range(2, hostsctl.MAX_COMPUTES + 1):
        pairs = hostsctl.traffic_pairs(count)
        assert sorted(dst for _, dst in pairs) == list(range(1, count + 1))
        assert all(src != dst for src, dst in pairs)


def test_host_names_outside_the_lab_are_refused() -> None:
    assert hostsctl.host_index("compute3") == 3
    for bad in ("compute0", "compute7", "controller", "compute1x"):
        with pytest.raises(hostsctl.LabError):
            hostsctl.host_index(bad)
