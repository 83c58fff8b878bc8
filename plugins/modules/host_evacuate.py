#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Live-migrate every instance off a compute host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: host_evacuate
short_description: Live-migrate every instance off a compute host
version_added: 0.1.0
description:
  - Moves the instances on one compute host to other hosts, O(concurrency) at a time, watching each migration through
    the Nova migrations API with bounded backoff (never C(os-hypervisors/detail)).
  - ACTIVE and PAUSED instances are live-migrated (block migration C(auto)); SHUTOFF ones are cold-migrated or left,
    per O(shutoff_policy); instances that cannot be live-migrated follow O(unmovable_policy).
  - A failed live migration is retried up to O(retries) times on another host, chosen explicitly.
  - An ACTIVE instance that Nova put in ERROR for a live migration that failed before it started (the conductor's
    own call timed out, for example while RabbitMQ restarted) while its guest kept running on the host is reset to
    ACTIVE, so the retry can move it; the result's message says so. See also O(request_timeout).
  - Before an instance moves, its origin is written to server metadata C(ndu:origin_host=<host>) (unless
    O(record_origin=false)) and kept if already present, so M(ndu.dataplane.migrate_back) can return it even after a
    crashed run.
  - Does not disable the host; use M(ndu.dataplane.compute_service) first so the scheduler does not place new instances on it.
extends_documentation_fragment:
  - ndu.dataplane.openstack
  - ndu.dataplane.migration
options:
  host:
    description:
      - Nova service host to empty.
    type: str
    required: true
  retries:
    description:
      - How many times a failed live migration is retried, each time on a host it has not failed on. Not negative.
    type: int
    default: 1
  target_host:
    description:
      - Send every instance to this host (retries are then impossible).
    type: str
  target_aggregate:
    description:
      - Send instances only to enabled, up hosts of this host aggregate, least loaded first.
    type: str
  unmovable_policy:
    description:
      - What to do with an instance that cannot be live-migrated (a status other than ACTIVE, PAUSED or SHUTOFF, or
        live migration failed after all retries).
      - V(fail) fails (at planning time, before anything moves, when the status already says so);
        V(skip_host) moves nothing more and returns RV(host_skipped=true) without failing;
        V(cold_migrate) cold-migrates it; V(stop_and_cold_migrate) stops it, cold-migrates it and starts it again if it was running.
      - An instance stopped for its cold migration is started again also when that migration is refused, fails or times
        out, once Nova no longer holds it (up to O(settle_timeout)); its RV(instances[].message) says whether it runs again.
    type: str
    choices: [fail, skip_host, cold_migrate, stop_and_cold_migrate]
    default: fail
  record_origin:
    description:
      - Write C(ndu:origin_host) to each moved instance's metadata before moving it.
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Returns the plan (RV(instances) with status V(planned) or V(left)) and moves nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details: A host that is already empty (or holds only instances left by policy) is not changed.
notes:
  - Instances are found with the C(host) filter of C(GET /servers/detail) for all projects.
author:
  - ndu.dataplane maintainers (@ndu-dataplane)
"""

EXAMPLES = r"""
- name: Move every instance off the host, three at a time
  ndu.dataplane.host_evacuate:
    cloud: ndu-lab
    host: "{{ ndu_nova_host }}"
    concurrency: 3
    timeout: 300
    on_timeout: force_complete
    retries: 2
  delegate_to: localhost
  register: live_migrate_result

- name: Show what would move, without moving anything
  ndu.dataplane.host_evacuate:
    cloud: ndu-lab
    host: compute1
    shutoff_policy: cold_migrate
  check_mode: true
  delegate_to: localhost
"""

RETURN = r"""
instances:
  description: One record per instance that was on the host.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: Server UUID., type: str, returned: always}
    name: {description: Server name., type: str, returned: always}
    from: {description: Host it was on., type: str, returned: always}
    to: {description: "Host it is on now, null when it did not move.", type: str, returned: always}
    method: {description: "V(live), V(cold), V(stop_and_cold) or V(leave).", type: str, returned: always}
    status:
      description: >-
        V(moved), V(left), V(planned) (check mode), V(gone) (deleted by its owner while the host was emptied),
        V(failed), V(aborted), V(timed_out) or V(not_started).
      type: str
      returned: always
    seconds: {description: Wall time spent on it., type: float, returned: always}
    attempts: {description: Migrations started for it., type: int, returned: always}
    message: {description: Why it failed or was not started., type: str, returned: always}
    migrations: {description: Nova migration ids of its live migrations., type: list, elements: int, returned: always}
  sample:
    - {id: 6f1c..., name: web-1, from: compute1, to: compute2, method: live, status: moved, seconds: 8.4, attempts: 1, message: "", migrations: [41]}
summary:
  description: Number of instances per status, plus C(total).
  returned: always
  type: dict
  sample: {total: 8, moved: 8}
host_skipped:
  description: True when O(unmovable_policy=skip_host) decided to leave this host out.
  returned: always
  type: bool
skip_reason:
  description: Why the host was skipped.
  returned: when RV(host_skipped) is true
  type: str
remaining:
  description: Names of instances still on the host afterwards (left by policy or failed).
  returned: always
  type: list
  elements: str
"""

from typing import Any

from ansible_collections.ndu.dataplane.plugins.module_utils.evacuation import (
    UNMOVABLE_POLICIES, Evacuator, Options, PlanError, PlanItem, Record, plan)
from ansible_collections.ndu.dataplane.plugins.module_utils.migration_module import MIGRATION_ARGUMENT_SPEC, MigrationModule
from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import ORIGIN_KEY, server_host


class HostEvacuate(MigrationModule):
    argument_spec = {
        "host": {"type": "str", "required": True},
        "retries": {"type": "int", "default": 1},
        "target_host": {"type": "str"},
        "target_aggregate": {"type": "str"},
        "unmovable_policy": {"type": "str", "default": "fail", "choices": list(UNMOVABLE_POLICIES)},
        "record_origin": {"type": "bool", "default": True},
        **MIGRATION_ARGUMENT_SPEC,
    }
    module_kwargs = {"mutually_exclusive": [("target_host", "target_aggregate")]}

    def options_from_params(self) -> Options:
        return self.options(retries=self.params["retries"], unmovable_policy=self.params["unmovable_policy"])

    def candidates(self, host: str) -> tuple[list[str], bool]:
        """Hosts that may receive instances, and whether the first attempt names one explicitly."""
        services = self.nova.services()
        usable = sorted(s["host"] for s in services if s["status"] == "enabled" and s["state"] == "up" and s["host"] != host)
        target, aggregate = self.params["target_host"], self.params["target_aggregate"]
        if target:
            if target not in {s["host"] for s in services}:
                self.fail(f"Failed to evacuate host '{host}': target_host '{target}' is not a nova-compute host")
            return [target], True
        if aggregate:
            found = [a for a in self.nova.aggregates() if a["name"] == aggregate]
            if not found:
                self.fail(f"Failed to evacuate host '{host}': host aggregate '{aggregate}' does not exist")
            return sorted(set(usable) & set(found[0].get("hosts") or [])), True
        return usable, False

    def run(self) -> None:
        host = self.params["host"]
        self.host_service(host)
        the_plan = self._plan(host)
        candidates, pinned = self.candidates(host)
        skipped = bool(the_plan.skip_reason)
        if the_plan.moving and not candidates and not skipped:
            where = f" in aggregate '{self.params['target_aggregate']}'" if self.params["target_aggregate"] else ""
            self.fail(f"Failed to evacuate host '{host}': no enabled, up nova-compute host{where} other than '{host}' can receive its "
                      f"{len(the_plan.moving)} instance(s) (Nova would answer NoValidHost); nothing was moved")
        extra: dict[str, Any] = {"host_skipped": skipped}
        if skipped:
            extra["skip_reason"] = the_plan.skip_reason
        if self.check_mode or skipped:
            records = [Record(i.id, i.name, i.source, i.method, status="left" if i.method == "leave" or skipped else "planned")
                       for i in the_plan.items]
            self.exit(changed=bool(the_plan.moving) and not skipped, instances=[r.as_result() for r in records],
                      summary={"total": len(records), **({"planned": len(the_plan.moving)} if the_plan.moving else {})},
                      remaining=[i.name for i in the_plan.items], **extra)
        origins = {s["id"]: (s.get("metadata") or {}).get(ORIGIN_KEY) for s in self.servers}
        evacuator = Evacuator(self.nova, self.opts, candidates, pin_to_candidates=pinned,
                              on_start=lambda item: self._record_origin(item, origins), clock=self.clock, sleep=self.sleep)
        records = evacuator.run(the_plan)
        extra["host_skipped"] = evacuator.host_skipped
        if evacuator.host_skipped:
            extra["skip_reason"] = evacuator.halted
        remaining = sorted(s.get("name") or s["id"] for s in self.nova.servers(host=host))
        self.finish("evacuate", host, records, skipped=evacuator.host_skipped, remaining=remaining, **extra)

    def _plan(self, host: str) -> Any:
        self.servers = [s for s in self.nova.servers(host=host) if server_host(s) == host]
        try:
            return plan(self.servers, host, self.opts, target=self.params["target_host"])
        except PlanError as err:
            self.fail(f"Failed to plan the evacuation of host '{host}': {err}; nothing was moved")

    def _record_origin(self, item: PlanItem, origins: dict[str, str | None]) -> None:
        if self.params["record_origin"] and not origins.get(item.id):
            self.nova.set_metadata(item.id, ORIGIN_KEY, item.source)


def main() -> None:
    HostEvacuate()()


if __name__ == "__main__":
    main()
