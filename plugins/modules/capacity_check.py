#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Can the remaining enabled hosts absorb the instances of a batch of hosts?"""

from __future__ import annotations

DOCUMENTATION = r"""
module: capacity_check
short_description: Check that the other compute hosts can absorb a batch's instances
version_added: 0.1.0
description:
  - Reads Placement inventories and usages of every compute host and the nova-compute service state, and compares what
    the hosts in O(hosts) use with what enabled, up hosts outside the batch have free, per resource class.
  - Free capacity is C((total - reserved) * allocation_ratio - used). The check is aggregate, not a bin-packing
    simulation; RV(resources[].largest_free) shows the largest single host's free amount.
  - Resource providers are matched to Nova service hosts by name, also ignoring a domain suffix
    (C(compute1) matches C(compute1.example.org)).
extends_documentation_fragment:
  - ndu.dataplane.openstack
options:
  hosts:
    description:
      - Nova service hosts of the batch about to be drained.
    type: list
    elements: str
    required: true
  resource_classes:
    description:
      - Placement resource classes to compare.
    type: list
    elements: str
    default: [VCPU, MEMORY_MB, DISK_GB]
  margin_percent:
    description:
      - Share of each receiving host's capacity kept in reserve, from 0 up to (not including) 100.
    type: float
    default: 0
  fail_on_shortage:
    description:
      - Fail with a table when the batch does not fit. With V(false) the result only reports RV(fits=false).
    type: bool
    default: true
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
- name: Check the other hosts can take this batch's instances
  ndu.dataplane.capacity_check:
    cloud: ndu-lab
    hosts: "{{ ansible_play_batch | map('extract', hostvars, 'ndu_nova_host') | list }}"
    margin_percent: 10
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
fits:
  description: Whether every resource class has non-negative headroom.
  returned: always
  type: bool
receivers:
  description: Enabled, up compute hosts outside the batch.
  returned: always
  type: list
  elements: str
resources:
  description: One row per resource class.
  returned: always
  type: list
  elements: dict
  contains:
    resource_class: {description: Placement resource class., type: str, returned: always}
    demand: {description: What the batch hosts use now., type: int, returned: always}
    free: {description: Free on the receivers (after the margin)., type: int, returned: always}
    headroom: {description: free minus demand; negative means it does not fit., type: int, returned: always}
    largest_free: {description: Largest free amount on one receiver., type: int, returned: always}
    fits: {description: headroom >= 0., type: bool, returned: always}
  sample:
    - {resource_class: VCPU, demand: 8, free: 88, headroom: 80, largest_free: 48, fits: true}
table:
  description: The rows as an aligned text table.
  returned: always
  type: str
"""

from dataclasses import asdict
from typing import Any

from ansible_collections.ndu.dataplane.plugins.module_utils.capacity import HostCapacity, assess, format_table
from ansible_collections.ndu.dataplane.plugins.module_utils.ndu_openstack import NduOpenStackModule


def short(name: str) -> str:
    return name.split(".", 1)[0]


class CapacityCheck(NduOpenStackModule):
    argument_spec = {
        "hosts": {"type": "list", "elements": "str", "required": True},
        "resource_classes": {"type": "list", "elements": "str", "default": ["VCPU", "MEMORY_MB", "DISK_GB"]},
        "margin_percent": {"type": "float", "default": 0},
        "fail_on_shortage": {"type": "bool", "default": True},
    }

    def validate(self) -> None:
        margin = self.params["margin_percent"]
        if not 0 <= margin < 100:
            self.fail(f"Failed to validate option margin_percent: must be from 0 up to 100, got {margin}")
        if not self.params["hosts"]:
            self.fail("Failed to validate option hosts: give at least one compute host")

    def run(self) -> None:
        batch = self.params["hosts"]
        services = self.nova.services()
        known = {s["host"] for s in services}
        unknown = [h for h in batch if h not in known]
        if unknown:
            self.fail(f"Failed to check capacity for batch {', '.join(batch)}: Nova knows no compute host {', '.join(unknown)} "
                      f"(known: {', '.join(sorted(known))})")
        providers: dict[str, dict[str, Any]] = {}
        for rp in self.nova.resource_providers():
            for svc_host in known:
                if rp["name"] == svc_host or short(rp["name"]) == short(svc_host):
                    providers.setdefault(svc_host, rp)
        hosts = []
        for svc in services:
            rp = providers.get(svc["host"])
            if rp is None:
                self.ansible.warn(f"No Placement resource provider matches compute host '{svc['host']}'; counting it as empty")
            inventories = self.nova.inventories(rp["uuid"]) if rp else {}
            usages = self.nova.usages(rp["uuid"]) if rp else {}
            hosts.append(HostCapacity(svc["host"], svc["status"] == "enabled", svc["state"] == "up", inventories, usages))
        result = assess(hosts, batch, self.params["resource_classes"], self.params["margin_percent"])
        table = format_table(result.rows)
        out = {"fits": result.fits, "receivers": result.receivers, "resources": [asdict(r) for r in result.rows], "table": table}
        if not result.fits and self.params["fail_on_shortage"]:
            short_of = ", ".join(r.resource_class for r in result.rows if not r.fits)
            self.fail(f"Failed to fit batch {', '.join(batch)} on the remaining hosts ({', '.join(result.receivers) or 'none enabled and up'}): "
                      f"short of {short_of}.\n{table}", **out)
        self.exit(changed=False, **out)


def main() -> None:
    CapacityCheck()()


if __name__ == "__main__":
    main()
