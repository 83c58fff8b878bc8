#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Read nova-compute services and the migrations in progress on a host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: compute_service_info
short_description: Read compute services and the migrations running on a host
version_added: 0.1.0
description:
  - Returns the nova-compute services (all, or the one on O(host)) with the state of each and whether this
    collection's marker is in its disabled reason, and the migrations that are still in progress to or from O(host).
  - Fails when O(host) is given and Nova knows no such host, so it doubles as the "cloud reachable, host known" probe.
extends_documentation_fragment:
  - ndu.dataplane.openstack
options:
  host:
    description:
      - Nova service host to read. Without it every compute service is returned and no migrations are read.
    type: str
  binary:
    description:
      - Service binary.
    type: str
    default: nova-compute
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
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
- name: Read the host's compute service and its running migrations
  ndu.dataplane.compute_service_info:
    cloud: ndu-lab
    host: "{{ ndu_nova_host }}"
  delegate_to: localhost
  register: preflight_service
"""

RETURN = r"""
services:
  description: The compute services, sorted by host.
  returned: always
  type: list
  elements: dict
  contains:
    host: {description: Nova service host., type: str, returned: always}
    binary: {description: Service binary., type: str, returned: always}
    status: {description: V(enabled) or V(disabled)., type: str, returned: always}
    state: {description: V(up) or V(down)., type: str, returned: always}
    zone: {description: Availability zone., type: str, returned: always}
    disabled_reason: {description: "Free-text reason, null when enabled.", type: str, returned: always}
    ours: {description: Whether the reason carries this collection's marker., type: bool, returned: always}
migrations_in_progress:
  description: Migrations to or from O(host) whose status is not final (empty without O(host)).
  returned: always
  type: list
  elements: dict
  sample:
    - {id: 12, instance_uuid: 6f1c..., status: running, migration_type: live-migration, source_compute: compute1, dest_compute: compute2}
"""

from ansible_collections.ndu.dataplane.plugins.module_utils.ndu_openstack import NduOpenStackModule
from ansible_collections.ndu.dataplane.plugins.module_utils.reason_marker import is_ours

FINAL_STATUSES = frozenset({"completed", "error", "failed", "cancelled", "confirmed", "reverted", "done", "finished"})
MIGRATION_KEYS = ("id", "instance_uuid", "status", "migration_type", "source_compute", "dest_compute", "created_at", "updated_at")


class ComputeServiceInfo(NduOpenStackModule):
    argument_spec = {
        "host": {"type": "str"},
        "binary": {"type": "str", "default": "nova-compute"},
    }

    def run(self) -> None:
        host, binary = self.params["host"], self.params["binary"]
        found = self.nova.services(host=host, binary=binary)
        if host and not found:
            known = sorted(s["host"] for s in self.nova.services(binary=binary))
            self.fail(f"Failed to find service '{binary}' on host '{host}': Nova knows no such host "
                      f"(known {binary} hosts: {', '.join(known) or 'none'})")
        services = []
        for svc in sorted(found, key=lambda s: s["host"]):
            reason = svc.get("disabled_reason") if svc["status"] == "disabled" else None
            services.append({"host": svc["host"], "binary": svc["binary"], "status": svc["status"], "state": svc.get("state"),
                             "zone": svc.get("zone"), "disabled_reason": reason, "ours": is_ours(reason)})
        running = []
        if host:
            running = [{k: m.get(k) for k in MIGRATION_KEYS} for m in self.nova.migrations(host=host)
                       if m["status"] not in FINAL_STATUSES]
        self.exit(changed=False, services=services, migrations_in_progress=running)


def main() -> None:
    ComputeServiceInfo()()


if __name__ == "__main__":
    main()
