#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Read a normalised snapshot of Open vSwitch bridges, ports, flows, groups and meters."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ovs_flow_snapshot
short_description: Read a normalised snapshot of Open vSwitch bridges, ports and OpenFlow tables
version_added: 0.1.0
description:
  - Reads the bridges of the local Open vSwitch, their interfaces with their OpenFlow port numbers, and the
    OpenFlow flows, groups and meters of each bridge.
  - Flows are normalised (counters, durations and ages removed, zero cookies dropped) and sorted, so two
    snapshots taken before and after a switch-over compare equal when the datapath programming is the same.
  - Compare two snapshots with the P(ndu.dataplane.ovs_flow_diff#filter) filter.
  - Read-only; it never changes the switch.
options:
  bridges:
    description:
      - Bridges to read. An empty list reads every bridge.
      - A named bridge that does not exist makes the module fail.
    type: list
    elements: str
    default: []
  protocol:
    description:
      - OpenFlow version passed to C(ovs-ofctl -O). Groups and meters need OpenFlow 1.1 or later; the bridge
        must allow the version in its C(protocols) column (an empty column allows it).
    type: str
    default: OpenFlow13
  timeout:
    description: Seconds C(ovs-vsctl) waits for ovsdb-server before giving up.
    type: int
    default: 10
extends_documentation_fragment:
  - ndu.dataplane.read_only
requirements:
  - C(ovs-vsctl) and C(ovs-ofctl) on the target host.
author:
  - ndu.dataplane maintainers (@ndu-dataplane)
"""

EXAMPLES = r"""
- name: Record the OpenFlow state of br-int before the switch-over
  ndu.dataplane.ovs_flow_snapshot:
    bridges: [br-int]
  register: flow_verify_before

- name: Record every bridge
  ndu.dataplane.ovs_flow_snapshot:
  register: flow_verify_all
"""

RETURN = r"""
snapshot:
  description: The state that was read.
  returned: success
  type: dict
  contains:
    bridges:
      description: Per bridge, its datapath type, ports, flows, groups and meters.
      type: dict
      returned: success
      sample:
        br-int:
          datapath_type: netdev
          ports:
            vm1-p: {ofport: 1, type: internal, options: {}}
          flows: ["priority=100,in_port=1 actions=output:2", "table=0,priority=0 actions=drop"]
          groups: []
          meters: []
    tunnel_ports:
      description: Interfaces of a tunnel type (vxlan, geneve, gre, ...) on the read bridges.
      type: dict
      returned: success
      sample: {vxlan0: {ofport: 3, type: vxlan, options: {remote_ip: 192.0.2.2}}}
    flow_count:
      description: Number of flows over all read bridges.
      type: int
      returned: success
      sample: 12
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ndu.dataplane.plugins.module_utils.ovs_flows import (
    normalise_flows,
    normalise_groups,
    normalise_meters,
    parse_ports,
    tunnel_ports,
)


class Snapshot:
    """Runs the read-only OVS commands and shapes their output."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.vsctl = [module.get_bin_path("ovs-vsctl", required=True), f"--timeout={module.params['timeout']}"]
        self.ofctl = [module.get_bin_path("ovs-ofctl", required=True), "-O", module.params["protocol"]]

    def run(self, args: list[str], what: str, name: str) -> str:
        rc, out, err = self.module.run_command(args)
        if rc != 0:
            self.module.fail_json(msg=f"Failed to read {what} '{name}': {(err or out).strip() or f'exit code {rc}'}", rc=rc, cmd=args)
        return out

    def bridge(self, name: str, interfaces: dict[str, Any]) -> dict[str, Any]:
        ifaces = self.run(self.vsctl + ["list-ifaces", name], "interfaces of bridge", name).split()
        dp_type = self.run(self.vsctl + ["get", "Bridge", name, "datapath_type"], "datapath type of bridge", name).strip().strip('"')
        return {
            "datapath_type": dp_type or "system",
            "ports": {iface: interfaces[iface] for iface in ifaces if iface in interfaces},
            "flows": normalise_flows(self.run(self.ofctl + ["dump-flows", name], "OpenFlow flows of bridge", name)),
            "groups": normalise_groups(self.run(self.ofctl + ["dump-groups", name], "OpenFlow groups of bridge", name)),
            "meters": normalise_meters(self.run(self.ofctl + ["dump-meters", name], "OpenFlow meters of bridge", name)),
        }

    def read(self) -> dict[str, Any]:
        existing = self.run(self.vsctl + ["list-br"], "bridges of switch", "localhost").split()
        wanted = self.module.params["bridges"] or existing
        unknown = [name for name in wanted if name not in existing]
        if unknown:
            self.module.fail_json(
                msg=f"Failed to find bridge '{unknown[0]}': it does not exist on this host (bridges: {', '.join(existing) or 'none'})",
                existing_bridges=existing,
            )
        columns = "name,ofport,type,options"
        interfaces = parse_ports(self.run(self.vsctl + ["--format=csv", "--data=json", f"--columns={columns}", "list", "Interface"],
                                          "interfaces of switch", "localhost"))
        bridges = {name: self.bridge(name, interfaces) for name in wanted}
        tunnels: dict[str, Any] = {}
        for data in bridges.values():
            tunnels.update(tunnel_ports(data["ports"]))
        return {"bridges": bridges, "tunnel_ports": tunnels, "flow_count": sum(len(b["flows"]) for b in bridges.values())}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "bridges": {"type": "list", "elements": "str", "default": []},
            "protocol": {"type": "str", "default": "OpenFlow13"},
            "timeout": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    module.exit_json(changed=False, snapshot=Snapshot(module).read())


if __name__ == "__main__":
    main()
