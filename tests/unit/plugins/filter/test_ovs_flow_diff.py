# SPDX-License-Identifier: Apache-2.0
"""The ``ndu.dataplane.ovs_flow_diff`` filter (plugins/filter/ovs_flow_diff.py)."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ndu.dataplane.plugins.filter.ovs_flow_diff import FilterModule

DIFF = FilterModule().filters()["ovs_flow_diff"]


def snap(flows: list[str]) -> dict:
    return {"bridges": {"br-int": {"flows": flows, "groups": [], "meters": [], "ports": {}}}}


def test_filter_reports_missing_flow():
    result = DIFF(snap(["a actions=drop", "b actions=drop"]), snap(["a actions=drop"]))
    assert result["ok"] is False
    assert result["bridges"]["br-int"]["missing_flows"] == ["b actions=drop"]


def test_filter_passes_allowed_list():
    assert DIFF(snap(["a actions=drop", "b actions=drop"]), snap(["a actions=drop"]), ["^b "])["ok"] is True


@pytest.mark.parametrize("before,after", [({}, snap([])), (snap([]), "text"), (None, snap([]))])
def test_filter_rejects_what_is_not_a_snapshot(before, after):
    with pytest.raises(AnsibleFilterError, match="Failed to compare flow snapshots"):
        DIFF(before, after)


def test_filter_rejects_allowed_that_is_not_a_list():
    with pytest.raises(AnsibleFilterError, match="'allowed' must be a list"):
        DIFF(snap([]), snap([]), "b")


def owned(flows: list[str], ports: dict | None = None) -> dict:
    return {"bridges": {"br-int": {"flows": flows, "groups": [], "meters": [], "ports": ports or {}}}}


TUNNEL = {"ovn-c2-0": {"ofport": 1}, "tapaaa": {"ofport": 4}}


def test_filter_with_ovn_owner_accepts_flows_the_controller_removed():
    # ovn-controller drops a logical datapath's flows once no local port needs it (after the host was drained).
    before = owned(["cookie=0x1,table=0,priority=100,in_port=1 actions=resubmit(,38)",
                    "cookie=0x2,table=71,priority=100,metadata=0x1,dl_dst=fa:16:3e:00:00:01 actions=set_field:0x4->reg15"],
                   TUNNEL)
    after = owned(["cookie=0x1,table=0,priority=100,in_port=1 actions=resubmit(,38)"], TUNNEL)
    strict = DIFF(before, after)
    assert strict["ok"] is False and strict["owner"] == "none"
    result = DIFF(before, after, [], "ovn-controller")
    assert result["ok"] is True and result["owner"] == "ovn-controller"
    assert result["notes"] == ["bridge 'br-int' table 71: 1 flows removed by the controller"]


def test_filter_with_a_controller_fails_a_port_that_lost_its_flows():
    before = owned(["cookie=0x1,table=0,priority=100,in_port=4 actions=resubmit(,8)",
                    "cookie=0x1,table=0,priority=100,in_port=1 actions=resubmit(,38)"], TUNNEL)
    after = owned(["cookie=0x1,table=0,priority=100,in_port=1 actions=resubmit(,38)"], TUNNEL)
    for owner in ("ovn-controller", "neutron-openvswitch-agent"):
        result = DIFF(before, after, [], owner)
        assert result["ok"] is False, owner
        assert result["summary"] == ["bridge 'br-int': port 'tapaaa' lost its flows (1 before, none now)"]


def test_filter_with_the_agent_as_owner_ignores_regenerated_cookies():
    before = owned(["cookie=0xaaa,table=0,priority=2,in_port=4 actions=drop"], TUNNEL)
    after = owned(["cookie=0xbbb,table=0,priority=2,in_port=4 actions=drop"], TUNNEL)
    assert DIFF(before, after, [], "neutron-openvswitch-agent")["ok"] is True
    assert DIFF(before, after, [], "ovn-controller")["ok"] is True  # a changed OVN cookie is a note, ports keep flows
    assert DIFF(before, after)["ok"] is False


def test_filter_rejects_an_unknown_owner():
    with pytest.raises(AnsibleFilterError, match="unknown owner 'odl'"):
        DIFF(snap([]), snap([]), [], "odl")
