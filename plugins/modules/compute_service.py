#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Disable or enable a host's nova-compute service with a recognisable reason."""

from __future__ import annotations

DOCUMENTATION = r"""
module: compute_service
short_description: Disable or enable a host's nova-compute service, marking our own disables
version_added: 0.1.0
description:
  - Disables a compute host's nova-compute service so the scheduler stops placing instances on it, or enables it again.
  - The disabled reason carries the marker C([ndu.dataplane]) (optionally with a tag), so that enabling re-enables only a
    service this collection disabled. A service someone else disabled is left alone unless O(force=true).
  - A service that is already disabled by someone else is not taken over when disabling; RV(owner) says who disabled it.
  - Disabling a service this collection already disabled (with the same O(reason_tag)) updates the reason when it differs,
    so that a host left drained on purpose says why (for example that its rollback failed).
extends_documentation_fragment:
  - ndu.dataplane.openstack
options:
  host:
    description:
      - The Nova service host name of the compute node (as in C(openstack compute service list)).
    type: str
    required: true
  binary:
    description:
      - The service binary to act on.
    type: str
    default: nova-compute
  state:
    description:
      - V(disabled) disables the service with the marked reason; V(enabled) enables it again.
    type: str
    required: true
    choices: [enabled, disabled]
  reason:
    description:
      - Human-readable reason stored after the marker when disabling.
    type: str
    default: dataplane upgrade in progress
  reason_tag:
    description:
      - Optional tag stored in the marker (for example a run or batch id).
      - When enabling, a tag restricts re-enabling to disables carrying that same tag.
    type: str
  force:
    description:
      - When enabling, also enable a service disabled by someone else (without our marker).
    type: bool
    default: false
  wait:
    description:
      - After enabling, wait until Nova reports the service up.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for the service to report up when O(wait=true).
    type: int
    default: 120
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
author:
  - ndu.dataplane maintainers (@ndu-dataplane)
"""

EXAMPLES = r"""
- name: Stop the scheduler from placing instances on this host
  ndu.dataplane.compute_service:
    cloud: ndu-lab
    host: "{{ ndu_nova_host }}"
    state: disabled
    reason: OVS upgrade, batch 2
  delegate_to: localhost

- name: Re-enable the host only if this collection disabled it
  ndu.dataplane.compute_service:
    cloud: ndu-lab
    host: "{{ ndu_nova_host }}"
    state: enabled
  delegate_to: localhost
"""

RETURN = r"""
before:
  description: The service before the change.
  returned: always
  type: dict
  contains:
    host: {description: Nova service host., type: str, returned: always}
    binary: {description: Service binary., type: str, returned: always}
    status: {description: V(enabled) or V(disabled)., type: str, returned: always}
    state: {description: V(up) or V(down)., type: str, returned: always}
    disabled_reason: {description: "Free-text reason, null when enabled.", type: str, returned: always}
    ours: {description: Whether the reason carries this collection's marker., type: bool, returned: always}
after:
  description: The service after the change (what it would be, in check mode).
  returned: always
  type: dict
  sample: {host: compute1, binary: nova-compute, status: disabled, state: up, disabled_reason: "[ndu.dataplane] OVS upgrade", ours: true}
owner:
  description: Who disabled the service before this task - V(ndu.dataplane), V(other) or V(none) when it was enabled.
  returned: always
  type: str
  sample: ndu.dataplane
msg:
  description: What was done, in a sentence.
  returned: always
  type: str
"""

from typing import Any

from ansible_collections.ndu.dataplane.plugins.module_utils.backoff import poll_until
from ansible_collections.ndu.dataplane.plugins.module_utils.ndu_openstack import NduOpenStackModule
from ansible_collections.ndu.dataplane.plugins.module_utils.reason_marker import format_reason, is_ours


def view(service: dict[str, Any]) -> dict[str, Any]:
    reason = service.get("disabled_reason") if service.get("status") == "disabled" else None
    return {"host": service["host"], "binary": service["binary"], "status": service["status"], "state": service.get("state"),
            "disabled_reason": reason, "ours": is_ours(reason)}


class ComputeService(NduOpenStackModule):
    argument_spec = {
        "host": {"type": "str", "required": True},
        "binary": {"type": "str", "default": "nova-compute"},
        "state": {"type": "str", "required": True, "choices": ["enabled", "disabled"]},
        "reason": {"type": "str", "default": "dataplane upgrade in progress"},
        "reason_tag": {"type": "str"},
        "force": {"type": "bool", "default": False},
        "wait": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 120},
    }

    def validate(self) -> None:
        if self.params["timeout"] < 0:
            self.fail(f"Failed to validate option timeout: must not be negative, got {self.params['timeout']}")
        try:
            self.marked_reason = format_reason(self.params["reason"], self.params["reason_tag"])
        except ValueError as err:
            self.fail(f"Failed to validate option reason_tag: {err}")

    def find(self) -> dict[str, Any]:
        host, binary = self.params["host"], self.params["binary"]
        found = self.nova.services(host=host, binary=binary)
        if not found:
            known = sorted(s["host"] for s in self.nova.services(binary=binary))
            self.fail(f"Failed to find service '{binary}' on host '{host}': Nova knows no such host "
                      f"(known {binary} hosts: {', '.join(known) or 'none'})")
        return found[0]

    def run(self) -> None:
        service = self.find()
        before = view(service)
        owner = "none" if before["status"] == "enabled" else ("ndu.dataplane" if before["ours"] else "other")
        want = self.params["state"]
        host = self.params["host"]
        target: dict[str, Any] | None = None
        ours = is_ours(before["disabled_reason"], self.params["reason_tag"])  # our disable, with this tag when one is given
        if want == "disabled":
            if before["status"] == "disabled" and ours and before["disabled_reason"] != self.marked_reason:
                target = {"status": "disabled", "disabled_reason": self.marked_reason}
                msg = f"Updated the reason of our disable on '{host}' to {self.marked_reason!r}"
            elif before["status"] == "disabled":
                by = "this collection" if before["ours"] else f"someone else ({before['disabled_reason']!r}); left as it is"
                msg = f"Service on '{host}' was already disabled by {by}"
            else:
                target = {"status": "disabled", "disabled_reason": self.marked_reason}
                msg = f"Disabled service on '{host}' with reason {self.marked_reason!r}"
        else:
            if before["status"] == "enabled":
                msg = f"Service on '{host}' was already enabled"
            elif ours or self.params["force"]:
                target = {"status": "enabled", "disabled_reason": None}
                msg = f"Enabled service on '{host}'" + ("" if ours else f" although someone else disabled it ({before['disabled_reason']!r}), as force=true")
            else:
                msg = (f"Left service on '{host}' disabled: it was disabled by someone else ({before['disabled_reason']!r}), "
                       "not by this collection; use force=true to enable it anyway")
                self.ansible.warn(msg)
        after = dict(before)
        if target:
            after.update(target)
            after["ours"] = is_ours(after["disabled_reason"])
            if not self.check_mode:
                after = view(self.nova.update_service(service["id"], target["status"], target["disabled_reason"]))
                if target["status"] == "enabled" and self.params["wait"]:
                    after = self.wait_up(after)
        diff = {"before": {k: before[k] for k in ("status", "disabled_reason")}, "after": {k: after[k] for k in ("status", "disabled_reason")}}
        self.exit(changed=target is not None, before=before, after=after, owner=owner, msg=msg, diff=diff)

    def wait_up(self, current: dict[str, Any]) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            latest = view(self.find())
            return latest if latest["state"] == "up" else None
        try:
            return poll_until(probe, timeout=self.params["timeout"], initial=1, maximum=5, clock=self.clock, sleep=self.sleep)
        except TimeoutError:
            self.fail(f"Failed to see service '{self.params['binary']}' on host '{self.params['host']}' come up: it is enabled but Nova "
                      f"still reports it down after {self.params['timeout']}s; check nova-compute on that host", after=current)


def main() -> None:
    ComputeService()()


if __name__ == "__main__":
    main()
