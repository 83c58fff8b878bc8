#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Read the addresses of the instances on compute hosts, for the per-instance probe."""

from __future__ import annotations

DOCUMENTATION = r"""
module: probe_targets
short_description: List the instances of compute hosts with the address the probe sends to
version_added: 0.1.0
description:
  - Reads every server on O(hosts) from Nova (all projects) and returns, for each active one, its id, name, host and
    first fixed IPv4 address (on O(network) when given). These are the targets of the per-instance UDP probe
    (role C(flow_verify), its option C(flow_verify_probe_targets)).
  - Servers on those hosts that cannot be probed (not active, no fixed IPv4 address on the network) are returned in
    RV(skipped) with the reason; with O(require_all=true) any such server fails the module.
extends_documentation_fragment:
  - ndu.dataplane.openstack
options:
  hosts:
    description:
      - Nova service hosts whose instances are probed. Empty means every host.
    type: list
    elements: str
    default: []
  network:
    description:
      - Name of the network whose address is probed (the tenant network the probe can reach). Empty means the first
        network of each server, in name order.
    type: str
    default: ""
  require_all:
    description:
      - Fail when a server on O(hosts) cannot be probed, instead of skipping it.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Read-only; behaves the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
author:
  - ndu.dataplane maintainers (@ndu-dataplane)
"""

EXAMPLES = r"""
- name: Read what the probe sends to
  ndu.dataplane.probe_targets:
    cloud: ndu-lab
    hosts: [compute1, compute2]
    network: ndu-lab-net
  delegate_to: localhost
  register: targets
"""

RETURN = r"""
targets:
  description: The instances to probe, sorted by host and name.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: Server id., type: str, returned: always}
    name: {description: Server name., type: str, returned: always}
    address: {description: The fixed IPv4 address probed., type: str, returned: always}
    network: {description: The network that address is on., type: str, returned: always}
    host: {description: Nova host of the server when read., type: str, returned: always}
  sample:
    - {id: 6f1c..., name: web-1, address: 10.215.0.12, network: ndu-lab-net, host: compute1}
skipped:
  description: Servers on O(hosts) that cannot be probed, with the reason.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: 77aa..., name: db-1, host: compute2, reason: "no fixed IPv4 address on network 'ndu-lab-net'"}
"""

from ansible_collections.ndu.dataplane.plugins.module_utils.instance_probe import probe_targets
from ansible_collections.ndu.dataplane.plugins.module_utils.ndu_openstack import NduOpenStackModule


class ProbeTargets(NduOpenStackModule):
    argument_spec = {
        "hosts": {"type": "list", "elements": "str", "default": []},
        "network": {"type": "str", "default": ""},
        "require_all": {"type": "bool", "default": False},
    }

    def run(self) -> None:
        hosts = self.params["hosts"]
        network = self.params["network"] or None
        servers = []
        for host in hosts or [None]:
            servers.extend(self.nova.servers(host=host))
        targets, skipped = probe_targets(servers, hosts, network)
        if skipped and self.params["require_all"]:
            self.fail("Failed to list the probe's targets: "
                      + "; ".join(f"server '{s['name']}' on {s['host']} has {s['reason']}" for s in skipped), targets=targets, skipped=skipped)
        self.exit(changed=False, targets=targets, skipped=skipped)


def main() -> None:
    ProbeTargets()()


if __name__ == "__main__":
    main()
