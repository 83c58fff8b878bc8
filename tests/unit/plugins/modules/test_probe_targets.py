# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

from ansible_collections.ndu.dataplane.plugins.modules.probe_targets import ProbeTargets


def give_address(cloud, server_id, addr, net="ndu-lab-net"):
    cloud.server_map[server_id]["addresses"] = {net: [{"addr": addr, "version": 4, "OS-EXT-IPS:type": "fixed"}]}


def test_targets_of_the_hosts(run_module, cloud):
    give_address(cloud, cloud.add_server("web", "compute1"), "10.0.0.4")
    give_address(cloud, cloud.add_server("db", "compute2"), "10.0.0.5")
    give_address(cloud, cloud.add_server("other", "compute3"), "10.0.0.6")
    cloud.add_server("noport", "compute2")
    result = run_module(ProbeTargets, {"hosts": ["compute1", "compute2"], "network": "ndu-lab-net"}, check_mode=True)
    assert result["rc"] == 0 and not result["changed"]
    assert [(t["name"], t["address"], t["host"]) for t in result["targets"]] == [("web", "10.0.0.4", "compute1"),
                                                                                 ("db", "10.0.0.5", "compute2")]
    assert [s["name"] for s in result["skipped"]] == ["noport"]


def test_require_all_fails_naming_the_server(run_module, cloud):
    cloud.add_server("noport", "compute2")
    result = run_module(ProbeTargets, {"hosts": ["compute2"], "require_all": True})
    assert result["failed"]
    assert result["msg"] == "Failed to list the probe's targets: server 'noport' on compute2 has no fixed IPv4 address on any network"
