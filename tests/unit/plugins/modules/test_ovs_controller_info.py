# SPDX-License-Identifier: Apache-2.0
"""The ``ovs_controller_info`` module with canned command output."""
from __future__ import annotations

import json

from ovs_module_harness import run_module

from ansible_collections.ndu.dataplane.plugins.modules import ovs_controller_info


def _table(headings, rows):
    return json.dumps({"headings": headings, "data": rows})


def _ovsdb(external_ids, other_config=None, interfaces=()):
    lines = [
        _table(["external_ids", "other_config"], [[["map", list(external_ids.items())], ["map", list((other_config or {}).items())]]]),
        _table(["name", "ofport", "external_ids"], [[name, ofport, ["map", list(ext.items())]] for name, ofport, ext, _tag in interfaces]),
        _table(["name", "tag"], [[name, tag if tag is not None else ["set", []]] for name, _o, _e, tag in interfaces]),
    ]
    return "\n".join(lines) + "\n"


def _commands(ovsdb, controllers="", br_exists=0, appctl=None, ss="", flows=""):
    def answer(argv):
        joined = " ".join(argv)
        if "list Open_vSwitch" in joined:
            return 0, ovsdb, ""
        if "br-exists" in joined:
            return br_exists, "", ""
        if "get-controller" in joined:
            return 0, controllers, ""
        if argv[0].endswith("systemctl"):
            return 3, "\n".join("inactive" for _ in argv[2:]) + "\n", ""
        if "connection-status" in joined:
            return (0, "connected\n", "") if appctl else (1, "", "cannot connect")
        if "stopwatch/show" in joined:
            return (0, appctl, "") if appctl else (1, "", "cannot connect")
        if argv[0].endswith("/ss"):
            return 0, ss, ""
        if "dump-flows" in joined:
            return 0, flows, ""
        raise AssertionError(f"unexpected command {argv}")
    return answer


def test_an_ovn_chassis_that_caught_up(monkeypatch, tmp_path):
    monkeypatch.setattr(ovs_controller_info, "read_processes", lambda: [(812, "ovn-controller", "ovn-controller")])
    ids = {"ovn-remote": "tcp:10.213.0.2:6642", "ovn-encap-type": "geneve", "ovn-encap-ip": "10.213.0.11", "system-id": "compute1"}
    ovsdb = _ovsdb(ids, interfaces=[("tap1", 5, {"iface-id": "p1", "ovn-installed": "true"}, None)])
    ss = ('u_str ESTAB 0 0 /run/openvswitch/br-int.mgmt 1 * 2 users:(("ovs-vswitchd",pid=5,fd=4))\n'
          'u_str ESTAB 0 0 * 2 * 1 users:(("ovn-controller",pid=812,fd=9))\n')
    stopwatch = "Statistics for 'flow-generation'\n\t Total samples: 2\n\t Maximum: 30 msec\n\t Minimum: 1 msec\n"
    out = run_module(ovs_controller_info.main, {"ovn_rundir": str(tmp_path)}, _commands(ovsdb, appctl=stopwatch, ss=ss))
    assert out.failed is False, out.result
    assert out.result["backend"] == "ovn-controller"
    assert out.result["stopwatch"]["max_ms"] == 30.0
    # the PID file is missing in tmp_path: the caught-up check says ovn-controller is not running
    assert out.result["caught_up"]["ok"] is False and out.result["caught_up"]["openflow_connected"] is True
    assert out.result["caught_up"]["waiting"] == ["ovn-controller is not running"]
    assert out.result["vifs"] == [{"name": "tap1", "iface_id": "p1", "ofport": 5, "tag": None}]
    assert out.result["changed"] is False


def test_an_agent_host_that_is_still_wiring(monkeypatch):
    monkeypatch.setattr(ovs_controller_info, "read_processes", lambda: [(70, "python", "python -m neutron.cmd.agents.ovs_neutron_agent")])
    ovsdb = _ovsdb({"system-id": "x"}, {"flow-restore-wait": "true"}, [("tap1", 5, {"iface-id": "p1"}, 4095)])
    out = run_module(ovs_controller_info.main, {}, _commands(ovsdb, controllers="tcp:127.0.0.1:6633\n"))
    assert out.result["backend"] == "neutron-openvswitch-agent"
    assert out.result["flow_restore_wait"] is True
    waiting = out.result["caught_up"]["waiting"]
    assert len(waiting) == 3 and "no canary flow in table 23" in waiting[1] and "tap1" in waiting[2]


def test_a_dead_agent_is_refused_naming_it(monkeypatch):
    monkeypatch.setattr(ovs_controller_info, "read_processes", lambda: [])
    out = run_module(ovs_controller_info.main, {}, _commands(_ovsdb({}), controllers="tcp:127.0.0.1:6633\n"))
    assert out.failed is True
    assert out.result["msg"].startswith("Failed to detect the controller of bridge 'br-int': br-int has the controller tcp:127.0.0.1:6633")
    assert "neutron-openvswitch-agent does not run" in out.result["msg"]
    quiet = run_module(ovs_controller_info.main, {"fail_on_refusal": False}, _commands(_ovsdb({}), controllers="tcp:127.0.0.1:6633\n"))
    assert quiet.failed is False and quiet.result["backend"] is None and quiet.result["caught_up"]["ok"] is False


def test_plain_ovs_without_br_int_is_none(monkeypatch):
    monkeypatch.setattr(ovs_controller_info, "read_processes", lambda: [])
    out = run_module(ovs_controller_info.main, {}, _commands(_ovsdb({}), br_exists=2))
    assert out.result["backend"] == "none" and out.result["caught_up"]["ok"] is True
    assert "bridge br-int does not exist" in out.result["evidence"]
