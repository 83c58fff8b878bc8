# SPDX-License-Identifier: Apache-2.0
"""Flow normalisation and snapshot comparison (plugins/module_utils/ovs_flows.py)."""
from __future__ import annotations

import copy

from ansible_collections.ndu.dataplane.plugins.module_utils import ovs_flows

DUMP_BEFORE = """\
OFPST_FLOW reply (OF1.3) (xid=0x2):
 cookie=0x0, duration=121.473s, table=0, n_packets=1204, n_bytes=72240, reset_counts priority=100,in_port=1 actions=output:2
 cookie=0x0, duration=121.470s, table=0, n_packets=1180, n_bytes=70800, reset_counts priority=100,in_port=2 actions=output:1
 cookie=0xabc, duration=9.2s, table=1, n_packets=0, n_bytes=0, idle_timeout=60, idle_age=3, hard_age=4, priority=0 actions=drop
"""
# The same flows after a flow-preserving restart: other counters and order.
DUMP_AFTER = """\
OFPST_FLOW reply (OF1.3) (xid=0x2):
 cookie=0xabc, duration=0.1s, table=1, n_packets=0, n_bytes=0, idle_timeout=60, priority=0 actions=drop
 cookie=0x0, duration=0.412s, table=0, n_packets=3, n_bytes=180, reset_counts priority=100,in_port=2 actions=output:1
 cookie=0x0, duration=0.412s, table=0, n_packets=7, n_bytes=420, reset_counts priority=100,in_port=1 actions=output:2
"""


def snapshot(flows: list[str], ports: dict | None = None, groups: list[str] | None = None) -> dict:
    return {"bridges": {"br-int": {"datapath_type": "netdev", "flows": flows, "groups": groups or [], "meters": [],
                                   "ports": ports or {"vm1-p": {"ofport": 1, "type": "system", "options": {}}}}}}


def test_normalise_flow_drops_counters_ages_and_zero_cookie():
    line = " cookie=0x0, duration=121.473s, table=0, n_packets=12, n_bytes=720, idle_age=2, priority=100,in_port=1 actions=output:2"
    assert ovs_flows.normalise_flow(line) == "table=0,priority=100,in_port=1 actions=output:2"


def test_normalise_flow_keeps_nonzero_cookie_and_timeouts():
    line = " cookie=0xabc, duration=9.2s, table=1, n_packets=0, n_bytes=0, idle_timeout=60, idle_age=3, priority=0 actions=drop"
    assert ovs_flows.normalise_flow(line) == "cookie=0xabc,table=1,idle_timeout=60,priority=0 actions=drop"


def test_normalise_flow_keeps_actions_verbatim():
    line = "table=0, priority=10,ip actions=set_field:00:00:00:00:00:01->eth_dst,resubmit(,1)"
    assert ovs_flows.normalise_flow(line) == "table=0,priority=10,ip actions=set_field:00:00:00:00:00:01->eth_dst,resubmit(,1)"


def test_header_and_blank_lines_are_not_flows():
    assert ovs_flows.normalise_flow("NXST_FLOW reply (xid=0x4):") is None
    assert ovs_flows.normalise_flow("   ") is None


def test_the_same_flows_with_other_counters_and_order_normalise_equal():
    before, after = ovs_flows.normalise_flows(DUMP_BEFORE), ovs_flows.normalise_flows(DUMP_AFTER)
    assert len(before) == 3
    assert before == after


def test_groups_and_meters_lose_their_statistics_and_join_continuation_lines():
    groups = "OFPST_GROUP_DESC reply (OF1.3) (xid=0x2):\n group_id=2,type=all,bucket=actions=output:2\n group_id=1,type=select,bucket=actions=output:1\n"
    assert ovs_flows.normalise_groups(groups) == ["group_id=1,type=select,bucket=actions=output:1", "group_id=2,type=all,bucket=actions=output:2"]
    meters = "OFPST_METER_CONFIG reply (OF1.3) (xid=0x2):\nmeter=1 kbps burst stats bands=\ntype=drop rate=1000 burst_size=100\n"
    assert ovs_flows.normalise_meters(meters) == ["meter=1,kbps,burst,stats,bands=,type=drop,rate=1000,burst_size=100"]


def test_parse_ports_reads_ovs_vsctl_csv_json():
    text = ('name,ofport,type,options\n'
            'vxlan0,3,vxlan,"[""map"",[[""key"",""flow""],[""remote_ip"",""192.0.2.2""]]]"\n'
            'vm1-p,1,"""""","[""map"",[]]"\n'
            'broken,-1,"""""","[""map"",[]]"\n'
            'pending,"[""set"",[]]",internal,"[""map"",[]]"\n')
    ports = ovs_flows.parse_ports(text)
    assert ports["vxlan0"] == {"ofport": 3, "type": "vxlan", "options": {"key": "flow", "remote_ip": "192.0.2.2"}}
    assert ports["vm1-p"] == {"ofport": 1, "type": "system", "options": {}}
    assert ports["broken"]["ofport"] == -1
    assert ports["pending"]["ofport"] == -1
    assert ovs_flows.tunnel_ports(ports) == {"vxlan0": ports["vxlan0"]}


def test_identical_snapshots_are_ok():
    snap = snapshot(ovs_flows.normalise_flows(DUMP_BEFORE))
    result = ovs_flows.diff_snapshots(snap, copy.deepcopy(snap))
    assert result["ok"] is True
    assert result["bridges"] == {} and result["summary"] == []


def test_missing_and_extra_flows_are_reported_per_bridge():
    before = snapshot(["table=0,priority=1 actions=drop", "table=0,priority=100,in_port=1 actions=output:2"])
    after = snapshot(["table=0,priority=1 actions=drop", "table=0,priority=100,in_port=1 actions=output:3"])
    result = ovs_flows.diff_snapshots(before, after)
    assert result["ok"] is False
    assert result["bridges"]["br-int"]["missing_flows"] == ["table=0,priority=100,in_port=1 actions=output:2"]
    assert result["bridges"]["br-int"]["extra_flows"] == ["table=0,priority=100,in_port=1 actions=output:3"]
    assert result["summary"] == ["bridge 'br-int': 1 flows missing", "bridge 'br-int': 1 flows extra"]


def test_allowed_patterns_hide_expected_differences_globally_or_per_bridge():
    before = snapshot(["table=0,priority=1 actions=drop", "cookie=0x99,table=5,priority=1 actions=CONTROLLER:65535"])
    after = snapshot(["table=0,priority=1 actions=drop"])
    assert ovs_flows.diff_snapshots(before, after, [r"cookie=0x99,"])["ok"] is True
    assert ovs_flows.diff_snapshots(before, after, [{"bridge": "br-int", "pattern": "table=5"}])["ok"] is True
    assert ovs_flows.diff_snapshots(before, after, [{"bridge": "br-ex", "pattern": "table=5"}])["ok"] is False


def test_port_number_changes_and_bridge_changes_are_mismatches():
    before = snapshot([], ports={"vm1-p": {"ofport": 1, "type": "system", "options": {}}})
    after = snapshot([], ports={"vm1-p": {"ofport": 7, "type": "system", "options": {}}})
    result = ovs_flows.diff_snapshots(before, after)
    assert result["bridges"]["br-int"]["port_changes"] == ["port 'vm1-p' changed: ofport 1 -> 7"]
    gone = ovs_flows.diff_snapshots(before, {"bridges": {}})
    assert gone["missing_bridges"] == ["br-int"] and gone["ok"] is False


def test_missing_groups_are_reported():
    before = snapshot([], groups=["group_id=1,type=select,bucket=actions=output:1"])
    result = ovs_flows.diff_snapshots(before, snapshot([]))
    assert result["bridges"]["br-int"]["missing_groups"] == ["group_id=1,type=select,bucket=actions=output:1"]


# --- owner-aware comparison ---------------------------------------------------------------------------------------
VIF_PORTS = {"tap1": {"ofport": 5, "type": "system", "options": {}}, "tap2": {"ofport": 6, "type": "system", "options": {}}}


def test_parse_flow_splits_table_priority_cookie_match_and_actions():
    parsed = ovs_flows.parse_flow("cookie=0x5a1,table=8,priority=50,reg14=0x1,metadata=0x2 actions=resubmit(,9)")
    assert parsed == {"table": 8, "priority": 50, "cookie": "0x5a1", "match": "metadata=0x2,reg14=0x1", "actions": "resubmit(,9)"}
    assert ovs_flows.parse_flow("in_port=1 actions=drop")["priority"] == ovs_flows.DEFAULT_PRIORITY
    assert ovs_flows.flow_ports("table=0,priority=100,in_port=5 actions=load:0x1->NXM_NX_REG13[],output:6") == {"5", "6"}


def test_agent_cookies_may_be_regenerated_but_ovn_cookies_are_compared():
    before = snapshot(["cookie=0x1111,table=0,priority=10,in_port=5 actions=mod_vlan_vid:1,resubmit(,60)"], VIF_PORTS)
    after = snapshot(["cookie=0x2222,table=0,priority=10,in_port=5 actions=mod_vlan_vid:1,resubmit(,60)"], VIF_PORTS)
    agent = ovs_flows.diff_owned(before, after, ovs_flows.OWNER_AGENT)
    assert agent["ok"] is True and agent["bridges"] == {} and agent["notes"] == []
    ovn = ovs_flows.diff_owned(before, after, ovs_flows.OWNER_OVN)
    assert ovn["ok"] is True  # the port still has flows: a re-programmed flow is the controller's choice
    assert ovn["bridges"]["br-int"]["tables"][0] == {"missing": [before["bridges"]["br-int"]["flows"][0]],
                                                     "extra": [after["bridges"]["br-int"]["flows"][0]]}
    assert ovn["notes"] == ["bridge 'br-int' table 0: 1 flows removed by the controller",
                            "bridge 'br-int' table 0: 1 flows added by the controller"]
    strict = ovs_flows.diff_owned(before, after, ovs_flows.OWNER_NONE)
    assert strict["ok"] is False and strict["owner"] == "none"


def test_a_flow_removed_on_purpose_is_not_a_failure_but_a_port_that_lost_its_flows_is():
    flows = ["cookie=0xa,table=0,priority=100,in_port=5 actions=resubmit(,8)",
             "cookie=0xb,table=0,priority=100,in_port=6 actions=resubmit(,8)",
             "cookie=0xc,table=65,priority=100,reg15=0x2 actions=output:6",
             "cookie=0xd,table=40,priority=0 actions=drop"]
    before = snapshot(flows, VIF_PORTS)
    removed = snapshot([f for f in flows if "table=40" not in f], VIF_PORTS)
    result = ovs_flows.diff_owned(before, removed, ovs_flows.OWNER_OVN)
    assert result["ok"] is True and result["bridges"]["br-int"]["tables"][40]["missing"] == [flows[3]]
    lost = snapshot([flows[0], flows[3]], VIF_PORTS)
    result = ovs_flows.diff_owned(before, lost, ovs_flows.OWNER_OVN)
    assert result["ok"] is False
    assert result["summary"] == ["bridge 'br-int': port 'tap2' lost its flows (2 before, none now)"]
    assert result["bridges"]["br-int"]["ports_without_flows"] == ["tap2"]


def test_a_gone_port_or_bridge_still_fails_with_a_controller():
    before = snapshot(["table=0,priority=100,in_port=5 actions=drop"], VIF_PORTS)
    after = snapshot([], {"tap1": VIF_PORTS["tap1"]})
    result = ovs_flows.diff_owned(before, after, ovs_flows.OWNER_AGENT)
    assert "bridge 'br-int': port 'tap2' is gone (was ofport 6)" in result["summary"]
    assert "bridge 'br-int': port 'tap1' lost its flows (1 before, none now)" in result["summary"]
    assert ovs_flows.diff_owned(before, {"bridges": {}}, ovs_flows.OWNER_OVN)["summary"] == ["bridge 'br-int' is gone"]


def test_allowed_differences_and_unknown_owners():
    before = snapshot(["table=0,priority=100,in_port=5 actions=drop"], VIF_PORTS)
    after = snapshot([], VIF_PORTS)
    assert ovs_flows.diff_owned(before, after, ovs_flows.OWNER_OVN, [r"in_port=5"])["ok"] is True
    try:
        ovs_flows.diff_owned(before, after, "odl")
    except ValueError as err:
        assert "unknown flow owner 'odl'" in str(err)
    else:
        raise AssertionError("an unknown owner must be refused")
