# SPDX-License-Identifier: Apache-2.0
"""Backend detection and the OVN / agent switch-over decisions (plugins/module_utils/ovs_controller.py)."""
from __future__ import annotations

import json

import pytest

from ansible_collections.ndu.dataplane.plugins.module_utils import ovs_controller as c

OVN_IDS = {"ovn-remote": "tcp:10.213.0.2:6642", "ovn-encap-type": "geneve", "ovn-encap-ip": "10.213.0.11", "system-id": "compute1"}
NO_PROCS = {c.OVN: [], c.AGENT: []}

# What ovn-appctl -t ovn-controller stopwatch/show prints (lib/stopwatch.c's format).
STOPWATCH = """Statistics for 'flow-generation'
\t Total samples: 12
\t Maximum: 2100 msec
\t Minimum: 3 msec
\t 95th percentile: 1800.500000 msec
\t Short term average: 40.100000 msec
\t Long term average: 12.000000 msec
Statistics for 'pinctrl-run'
\t Total samples: 4
\t Maximum: 900 usec
\t Minimum: 1 usec
\t 95th percentile: 800.000000 usec
\t Short term average: 1.000000 usec
\t Long term average: 1.000000 usec
"""


def test_an_ovn_chassis_is_read_from_ovsdb_and_the_process():
    found = c.detect_backend(OVN_IDS, [], {c.OVN: [812], c.AGENT: []}, {"ovn-controller.service": "active"})
    assert found["backend"] == c.OVN and found["refusal"] is None
    assert "ovsdb Open_vSwitch external_ids:ovn-remote=tcp:10.213.0.2:6642" in found["evidence"]
    assert "process ovn-controller PID 812" in found["evidence"]
    assert "unit ovn-controller.service active" in found["evidence"]
    assert found["ovn"]["system-id"] == "compute1"


def test_an_agent_host_is_read_from_the_bridge_controller_and_the_process():
    found = c.detect_backend({"system-id": "x"}, ["tcp:127.0.0.1:6633"], {c.OVN: [], c.AGENT: [77]}, {})
    assert found["backend"] == c.AGENT
    assert "bridge br-int controller tcp:127.0.0.1:6633" in found["evidence"]


def test_plain_ovs_is_none_and_system_id_alone_is_not_ovn():
    found = c.detect_backend({"system-id": "abc"}, None, NO_PROCS, {"ovn-controller.service": "inactive"})
    assert found["backend"] == c.NONE and found["refusal"] is None
    assert "bridge br-int does not exist" in found["evidence"]


@pytest.mark.parametrize("ids, controllers, procs, units, words", [
    (OVN_IDS, ["tcp:127.0.0.1:6633"], {c.OVN: [1], c.AGENT: [2]}, {}, "both OVN and neutron-openvswitch-agent"),
    (OVN_IDS, [], NO_PROCS, {"ovn-host.service": "active"}, "ovn-controller does not run"),
    ({}, [], {c.OVN: [1], c.AGENT: []}, {}, "no external_ids:ovn-remote"),
    ({}, ["tcp:127.0.0.1:6633"], NO_PROCS, {}, "neutron-openvswitch-agent does not run"),
    ({}, [], {c.OVN: [], c.AGENT: [5]}, {}, "has no controller target"),
])
def test_unknown_or_mixed_hosts_are_refused_with_a_sentence(ids, controllers, procs, units, words):
    found = c.detect_backend(ids, controllers, procs, units)
    assert found["backend"] is None
    assert words in found["refusal"] and found["refusal"].count("(") >= 1


def test_the_operator_expectation_must_match():
    found = c.detect_backend(OVN_IDS, [], {c.OVN: [1], c.AGENT: []}, {}, expected=c.AGENT)
    assert found["backend"] is None and "expects the controller 'neutron-openvswitch-agent'" in found["refusal"]


def test_processes_are_matched_by_name_and_command_line():
    procs = c.parse_processes([
        (10, "ovn-controller", "ovn-controller unix:/run/openvswitch/db.sock"),
        (11, "python", "/opt/venv/bin/python -c import sys; from neutron.cmd.agents.ovs_neutron_agent import main"),
        (12, "neutron-openvsw", "/usr/bin/python3 /usr/bin/neutron-openvswitch-agent --config-file x"),
        (13, "grep", "grep neutron-openvswitch-agent"),
        (14, "bash", "bash -c ovs_neutron_agent"),
    ])
    assert procs == {c.OVN: [10], c.AGENT: [11, 12]}


def test_vsctl_json_tables_become_dicts():
    text = json.dumps({"headings": ["external_ids", "other_config"],
                       "data": [[["map", [["ovn-remote", "tcp:1.2.3.4:6642"]]], ["map", []]]]})
    assert c.parse_vsctl_table(text) == [{"external_ids": {"ovn-remote": "tcp:1.2.3.4:6642"}, "other_config": {}}]
    assert c.ovsdb_value(["set", [1, 2]]) == [1, 2] and c.ovsdb_value(["uuid", "u"]) == "u"
    assert c.parse_vsctl_table("") == []


def test_stopwatch_is_parsed_in_milliseconds():
    watches = c.parse_stopwatch(STOPWATCH)
    assert watches["flow-generation"] == {"samples": 12, "max_ms": 2100.0, "min_ms": 3.0, "p95_ms": 1800.5}
    assert watches["pinctrl-run"]["max_ms"] == pytest.approx(0.9)


def test_wait_before_clear_is_twice_the_longest_flow_generation_clamped_or_the_variable():
    watches = c.parse_stopwatch(STOPWATCH)
    assert c.size_wait_before_clear(watches)["value"] == 4200
    assert "2 x the longest flow generation 2100 ms over 12 samples" in c.size_wait_before_clear(watches)["reason"]
    small = {"flow-generation": {"samples": 3, "max_ms": 10.0}}
    assert c.size_wait_before_clear(small) == {"value": 2000, "source": "measured",
                                               "reason": "2000 ms = 2 x the longest flow generation 10 ms over 3 samples, clamped to [2000, 60000]"}
    assert c.size_wait_before_clear({"flow-generation": {"samples": 1, "max_ms": 90000.0}})["value"] == 60000
    assert c.size_wait_before_clear({})["value"] == 8000 and c.size_wait_before_clear({})["source"] == "fallback"
    assert c.size_wait_before_clear(watches, value=1500) == {"value": 1500, "source": "variable", "reason": "1500 ms from the variable"}
    with pytest.raises(c.ControllerError, match="minimum 5 ms is above the maximum 1 ms"):
        c.size_wait_before_clear(watches, minimum=5, maximum=1)


def test_the_operator_value_is_remembered_once_and_put_back():
    first = c.wait_before_clear_change("500", None, 4200)
    assert first == {"changed": True, "remember": {"operator": "500", "ours": 4200}}
    again = c.wait_before_clear_change("4200", first["remember"], 4200)
    assert again["changed"] is False and again["remember"]["operator"] == "500"
    assert c.wait_before_clear_restore("4200", first["remember"]) == {"changed": True, "value": "500", "action": "put back 500"}
    assert c.wait_before_clear_restore("4200", {"operator": None, "ours": 4200})["value"] is None
    kept = c.wait_before_clear_restore("9999", first["remember"])
    assert kept["value"] == "9999" and "changed after we set it" in kept["action"]
    assert c.wait_before_clear_restore("500", None) == {"changed": False, "value": "500", "action": "nothing remembered"}


def test_northd_version_match_refuses_a_different_ovn_controller():
    northd = "25.03.0-20.41.0-76.1"
    assert c.northd_refusal(None, northd, "25.09.0-1") is None
    assert c.northd_refusal("false", northd, "25.09.0-1") is None
    assert c.northd_refusal("true", northd, "25.03.0-1+lab1") is None
    newer = c.northd_refusal("true", northd, "25.09.0-1")
    assert "ovn-controller would run 25.09.0 while ovn-northd runs 25.03.0" in newer and "unset ovn-match-northd-version" in newer
    assert "older than ovn-northd" in c.northd_refusal("true", northd, "24.03.2-1")
    assert "does not say which ovn-northd runs" in c.northd_refusal("true", "", "25.03.0-1")
    assert c.upstream_version("1:3.5.0-1+b1") == "3.5.0"


def test_ovn_controller_restarts_only_for_a_replaced_binary():
    assert c.controller_restart_needed({"pid": 9, "running": True, "exe": "/usr/bin/ovn-controller", "exe_deleted": True}, True)["restart"]
    same = c.controller_restart_needed({"pid": 9, "running": True, "exe": "/usr/bin/ovn-controller", "exe_deleted": False}, True)
    assert same == {"restart": False, "reason": "ovn-controller PID 9 runs the installed binary although the package changed (same binary)"}
    assert c.controller_restart_needed({"running": False}, True)["restart"] is False


SS = """u_str ESTAB 0 0 /run/openvswitch/br-int.mgmt 4001 * 4002 users:(("ovs-vswitchd",pid=50,fd=40))
u_str ESTAB 0 0 * 4002 * 4001 users:(("ovn-controller",pid=60,fd=12))
u_str ESTAB 0 0 /run/openvswitch/db.sock 4003 * 4004 users:(("ovsdb-server",pid=40,fd=20))
u_str ESTAB 0 0 * 4004 * 4003 users:(("ovn-controller",pid=60,fd=11))
"""


def test_the_openflow_connection_is_read_from_the_management_socket():
    rows = c.parse_unix_connections(SS)
    assert c.openflow_connected(rows, "/run/openvswitch/br-int.mgmt") is True
    assert c.openflow_connected(rows[2:], "/run/openvswitch/br-int.mgmt") is False
    # "state connected" drops the State column.
    assert c.parse_unix_connections('u_str 0 0 * 7 * 8 users:(("x",pid=1,fd=2))') == [{"local": "*", "inode": "7", "peer": "8", "process": "x"}]


def _iface(name, **ext):
    return {"name": name, "ofport": 5, "external_ids": dict({"iface-id": f"port-{name}"}, **ext)}


def test_ovn_caught_up_needs_sb_openflow_and_every_vif_installed():
    ifaces = [_iface("tap1", **{"ovn-installed": "true"}), _iface("tap2"), {"name": "br-int", "external_ids": {}}]
    state = c.ovn_caught_up("connected", True, ifaces)
    assert state["ok"] is False and state["vifs_not_installed"] == ["tap2"]
    ifaces[1]["external_ids"]["ovn-installed"] = "true"
    assert c.ovn_caught_up("connected", True, ifaces)["ok"] is True
    assert c.ovn_caught_up("connected", None, ifaces)["ok"] is True
    waiting = c.ovn_caught_up("not connected", False, ifaces, controller_running=False)["waiting"]
    assert waiting == ["ovn-controller is not running", "ovn-controller is not connected to the Southbound database",
                       "ovn-controller has no OpenFlow connection to ovs-vswitchd"]


def test_agent_caught_up_needs_the_canary_wired_vifs_and_no_flow_restore_wait():
    ifaces = [dict(_iface("tap1"), tag=1), dict(_iface("tap2"), tag=4095)]
    flows = ["table=23,priority=0 actions=drop"]
    state = c.agent_caught_up({"flow-restore-wait": "true"}, ifaces, flows)
    assert state["ok"] is False and state["vifs_not_wired"] == ["tap2"]
    assert any("flow-restore-wait is still true" in w for w in state["waiting"])
    ifaces[1]["tag"] = 2
    assert c.agent_caught_up({}, ifaces, flows)["ok"] is True
    assert "no canary flow in table 23" in c.agent_caught_up({}, ifaces, [])["waiting"][0]
    assert c.flow_restore_wait({"flow-restore-wait": "false"}) is False
