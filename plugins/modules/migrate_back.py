#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Return the instances an evacuation moved off a host to that host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: migrate_back
short_description: Return evacuated instances to their original compute host
version_added: 0.1.0
description:
  - Finds the instances whose metadata says C(ndu:origin_host=<host>) (written by M(ndu.dataplane.host_evacuate)), or
    the instances given in O(instances), and migrates each one that is elsewhere back to O(host), live for ACTIVE and
    PAUSED instances and cold for SHUTOFF ones when O(shutoff_policy=cold_migrate).
  - After an instance is home the metadata key is removed (O(clear_origin)), so a second run changes nothing.
  - The host must be enabled and up (in check mode only a warning says so); undrain it first
    (M(ndu.dataplane.compute_service) with O(ndu.dataplane.compute_service#module:state=enabled)).
extends_documentation_fragment:
  - ndu.dataplane.openstack
  - ndu.dataplane.migration
options:
  host:
    description:
      - Nova service host the instances return to.
    type: str
    required: true
  instances:
    description:
      - Server UUIDs to return (for example from the host fact the M(ndu.dataplane.host_evacuate) result was stored in).
      - When omitted, every server of every project whose metadata names O(host) as origin is returned.
    type: list
    elements: str
  clear_origin:
    description:
      - Remove C(ndu:origin_host) from an instance once it is back home.
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Returns the plan and moves nothing.
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
- name: Bring back every instance this collection moved off the host
  ndu.dataplane.migrate_back:
    cloud: ndu-lab
    host: "{{ ndu_nova_host }}"
    concurrency: 3
  delegate_to: localhost
"""

RETURN = r"""
instances:
  description: One record per instance considered (same fields as M(ndu.dataplane.host_evacuate)'s RV(ndu.dataplane.host_evacuate#module:instances)).
  returned: always
  type: list
  elements: dict
  sample:
    - {id: 6f1c..., name: web-1, from: compute2, to: compute1, method: live, status: moved, seconds: 8.1, attempts: 1, message: "", migrations: [57]}
summary:
  description: Number of instances per status, plus C(total).
  returned: always
  type: dict
  sample: {total: 8, moved: 8}
origin_cleared:
  description: UUIDs of instances that were already home and only had C(ndu:origin_host) removed.
  returned: always
  type: list
  elements: str
"""

from typing import Any

from ansible_collections.ndu.dataplane.plugins.module_utils.evacuation import Evacuator, Plan, PlanError, PlanItem, Record, plan
from ansible_collections.ndu.dataplane.plugins.module_utils.migration_module import MIGRATION_ARGUMENT_SPEC, MigrationModule
from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import ORIGIN_KEY, ApiError, server_host


class MigrateBack(MigrationModule):
    argument_spec = {
        "host": {"type": "str", "required": True},
        "instances": {"type": "list", "elements": "str"},
        "clear_origin": {"type": "bool", "default": True},
        **MIGRATION_ARGUMENT_SPEC,
    }

    def options_from_params(self) -> Any:
        return self.options(retries=0, unmovable_policy="fail")

    def servers(self) -> list[dict[str, Any]]:
        host = self.params["host"]
        if self.params["instances"] is None:
            return [s for s in self.nova.servers() if (s.get("metadata") or {}).get(ORIGIN_KEY) == host]
        found = []
        for server_id in self.params["instances"]:
            try:
                found.append(self.nova.server(server_id))
            except ApiError as err:
                if err.status != 404:
                    raise
                self.ansible.warn(f"Server '{server_id}' no longer exists; not migrating it back to '{host}'")
        return found

    def run(self) -> None:
        host = self.params["host"]
        service = self.host_service(host)
        if (service["status"] != "enabled" or service["state"] != "up") and self.check_mode:
            self.ansible.warn(f"Host '{host}' is {service['status']} and {service['state']}; a real run needs it enabled and up (undrain it first)")
        elif service["status"] != "enabled" or service["state"] != "up":
            self.fail(f"Failed to migrate instances back to host '{host}': its nova-compute is {service['status']} and {service['state']} "
                      f"({service.get('disabled_reason') or 'no reason'}); undrain it first")
        servers = self.servers()
        home = [s for s in servers if server_host(s) == host]
        away = [s for s in servers if server_host(s) != host]
        items: list[PlanItem] = []
        try:
            for server in away:
                items.extend(plan([server], server_host(server) or "?", self.opts, target=host).items)
        except PlanError as err:
            self.fail(f"Failed to plan the return to host '{host}': {err}; nothing was moved")
        the_plan = Plan(items)
        to_clear = [s["id"] for s in home if (s.get("metadata") or {}).get(ORIGIN_KEY) and self.params["clear_origin"]]
        if self.check_mode:
            records = [Record(i.id, i.name, i.source, i.method, status="planned" if i.method != "leave" else "left") for i in items]
            self.exit(changed=bool(the_plan.moving or to_clear), instances=[r.as_result() for r in records],
                      summary={"total": len(records), "planned": len(the_plan.moving)}, origin_cleared=[])
        for server_id in to_clear:
            self.nova.delete_metadata(server_id, ORIGIN_KEY)
        evacuator = Evacuator(self.nova, self.opts, [host], pin_to_candidates=True, on_moved=self._moved, clock=self.clock, sleep=self.sleep)
        records = evacuator.run(the_plan)
        self.finish("migrate instances back to", host, records, changed=bool(to_clear), origin_cleared=to_clear)

    def _moved(self, item: PlanItem, dest: str) -> None:
        if self.params["clear_origin"] and dest == self.params["host"]:
            self.nova.delete_metadata(item.id, ORIGIN_KEY)


def main() -> None:
    MigrateBack()()


if __name__ == "__main__":
    main()
