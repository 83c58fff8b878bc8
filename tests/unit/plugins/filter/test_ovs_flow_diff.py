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
