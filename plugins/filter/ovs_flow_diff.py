# SPDX-License-Identifier: Apache-2.0
"""Filter ``ovs_flow_diff``: compare two ``ovs_flow_snapshot`` results, knowing who owns the flows."""
from __future__ import annotations

from typing import Any, Callable

from ansible.errors import AnsibleFilterError
from ansible_collections.ndu.dataplane.plugins.module_utils.ovs_flows import OWNER_NONE, OWNERS, diff_owned


def ovs_flow_diff(before: Any, after: Any, allowed: list[Any] | None = None, owner: str = OWNER_NONE) -> dict[str, Any]:
    """Return missing and extra flows, groups, meters and port changes per bridge.

    With ``owner`` a controller (``ovn-controller``, ``neutron-openvswitch-agent``), flows the controller removed or
    added are notes, and what fails is a port that lost its flows, a gone bridge or a port change (``diff_owned``).
    """
    for name, value in (("before", before), ("after", after)):
        if not isinstance(value, dict) or "bridges" not in value:
            raise AnsibleFilterError(f"Failed to compare flow snapshots: '{name}' is not a snapshot (a dict with 'bridges'), got {type(value).__name__}")
    if allowed is not None and not isinstance(allowed, list):
        raise AnsibleFilterError(f"Failed to compare flow snapshots: 'allowed' must be a list, got {type(allowed).__name__}")
    if owner not in OWNERS:
        raise AnsibleFilterError(f"Failed to compare flow snapshots: unknown owner '{owner}' (expected one of {', '.join(OWNERS)})")
    return diff_owned(before, after, owner, allowed)


class FilterModule:
    """Flow snapshot filters of ndu.dataplane."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"ovs_flow_diff": ovs_flow_diff}
