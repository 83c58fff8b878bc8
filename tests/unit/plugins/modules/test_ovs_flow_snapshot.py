# SPDX-License-Identifier: Apache-2.0
"""The ``ovs_flow_snapshot`` module with canned ovs-vsctl/ovs-ofctl output."""
from __future__ import annotations

from ovs_module_harness import run_module

from ansible_collections.ndu.dataplane.plugins.modules import ovs_flow_snapshot

INTERFACES = ('name,ofport,type,options\n'
              '"br-int","65534","internal","[""map"",[]]"\n'
              '"vm1-p",1,"""""","[""map"",[]]"\n'
              '"vxlan0",3,vxlan,"[""map"",[[""remote_ip"",""192.0.2.2""]]]"\n')
FLOWS = ("OFPST_FLOW reply (OF1.3) (xid=0x2):\n"
         " cookie=0x0, duration=3.1s, table=0, n_packets=5, n_bytes=300, priority=100,in_port=1 actions=output:3\n")


def ovs(argv: list[str]) -> tuple[int, str, str]:
    cmd = argv[1:]
    if cmd[0] == "--timeout=10":
        cmd = cmd[1:]
        answers = {"list-br": "br-int\n", "list-ifaces": "vm1-p\nvxlan0\n", "get": '"netdev"\n'}
        if cmd[0] == "--format=csv":
            return 0, INTERFACES, ""
        return 0, answers[cmd[0]], ""
    assert cmd[:2] == ["-O", "OpenFlow13"]
    return 0, {"dump-flows": FLOWS, "dump-groups": "OFPST_GROUP_DESC reply (OF1.3) (xid=0x2):\n", "dump-meters": ""}[cmd[2]], ""


def test_snapshot_of_every_bridge():
    out = run_module(ovs_flow_snapshot.main, {}, ovs)
    assert not out.failed and out.result["changed"] is False
    snap = out.result["snapshot"]
    assert snap["bridges"]["br-int"]["flows"] == ["table=0,priority=100,in_port=1 actions=output:3"]
    assert snap["bridges"]["br-int"]["datapath_type"] == "netdev"
    assert snap["bridges"]["br-int"]["ports"]["vxlan0"]["ofport"] == 3
    assert snap["tunnel_ports"] == {"vxlan0": {"ofport": 3, "type": "vxlan", "options": {"remote_ip": "192.0.2.2"}}}
    assert snap["flow_count"] == 1


def test_a_bridge_that_does_not_exist_fails_by_name():
    out = run_module(ovs_flow_snapshot.main, {"bridges": ["br-nope"]}, ovs)
    assert out.failed
    assert out.result["msg"] == "Failed to find bridge 'br-nope': it does not exist on this host (bridges: br-int)"


def test_an_ofctl_error_names_the_bridge():
    def broken(argv: list[str]) -> tuple[int, str, str]:
        if "dump-flows" in argv:
            return 1, "", "ovs-ofctl: br-int: failed to connect to socket (Connection refused)"
        return ovs(argv)
    out = run_module(ovs_flow_snapshot.main, {}, broken)
    assert out.failed
    assert out.result["msg"] == "Failed to read OpenFlow flows of bridge 'br-int': ovs-ofctl: br-int: failed to connect to socket (Connection refused)"
