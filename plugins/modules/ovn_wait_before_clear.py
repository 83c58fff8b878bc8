#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Set ovn-controller's ovn-ofctrl-wait-before-clear for a switch-over, remembering the operator's value, and put it back."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ovn_wait_before_clear
short_description: Size and set ovn-ofctrl-wait-before-clear for a switch-over, and restore the operator's value
version_added: 0.1.0
description:
  - When ovn-controller (re)starts it clears the flows of the integration bridge on its first OpenFlow connection and
    installs the ones it computed; C(external_ids:ovn-ofctrl-wait-before-clear) (milliseconds) makes it wait that long
    before the clear, so the old flows keep forwarding while it computes. ovn-controller(8) recommends twice the
    C(Maximum) of C(ovn-appctl -t ovn-controller stopwatch/show flow-generation).
  - O(state=set) sizes the value (O(value) when positive, else O(factor) times the measured maximum, clamped to
    [O(minimum), O(maximum)], else O(fallback) when ovn-controller has no sample), remembers the operator's value (or its
    absence) in O(state_file) once, and sets the key.
  - O(state=restore) puts the operator's value back (or removes the key if there was none) when the key still holds the
    value this module set, and deletes O(state_file). Without a state file it changes nothing.
  - A building block of the controller-aware switch-over; the roles do not call it yet.
options:
  state:
    description: C(set) before the switch-over, C(restore) after it (also from an always path).
    type: str
    choices: [set, restore]
    required: true
  value:
    description: Milliseconds to set; 0 sizes it from ovn-controller's measurement.
    type: int
    default: 0
  factor:
    description: Multiplier of the longest measured flow generation.
    type: float
    default: 2.0
  minimum:
    description: Lower clamp of the sized value, in milliseconds.
    type: int
    default: 2000
  maximum:
    description: Upper clamp of the sized value, in milliseconds.
    type: int
    default: 60000
  fallback:
    description: Milliseconds to set when ovn-controller has no flow-generation sample (edpm-ansible's default is 8000).
    type: int
    default: 8000
  state_file:
    description: Where the operator's value waits while ours is set; this module is its only reader and writer.
    type: path
    default: /var/lib/ndu-dataplane/ovn-wait-before-clear.json
  timeout:
    description: Seconds C(ovs-vsctl) and C(ovn-appctl) wait before giving up.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    description: Says what it would set or restore and changes nothing.
  diff_mode:
    support: none
    description: No diff output.
  idempotent:
    support: full
    description: A second set with the same value, or a restore with nothing remembered, changes nothing.
requirements:
  - C(ovs-vsctl) on the target host; C(ovn-appctl) to size from the measurement.
author:
  - ndu.dataplane maintainers (@ndu-dataplane)
"""

EXAMPLES = r"""
- name: Let ovn-controller keep the old flows while it computes after its restart
  ndu.dataplane.ovn_wait_before_clear:
    state: set
  register: wait_before_clear

- name: Put the operator's value back
  ndu.dataplane.ovn_wait_before_clear:
    state: restore
"""

RETURN = r"""
value:
  description: The key's value after the module ran (null when unset).
  returned: always
  type: str
  sample: "8000"
previous:
  description: The key's value before the module ran (null when unset).
  returned: always
  type: str
source:
  description: Where a set value came from, C(variable), C(measured) or C(fallback); C(restore) for a restore.
  returned: always
  type: str
reason:
  description: One sentence on what was set or restored and why.
  returned: always
  type: str
  sample: "4200 ms = 2 x the longest flow generation 2100 ms over 12 samples"
remembered:
  description: The state file's content (the operator's value and ours), or null.
  returned: always
  type: dict
"""

import json
import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ndu.dataplane.plugins.module_utils import ovs_controller as logic

KEY = logic.WAIT_BEFORE_CLEAR


class WaitBeforeClear:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.vsctl = [module.get_bin_path("ovs-vsctl", required=True), f"--timeout={module.params['timeout']}"]
        self.path = module.params["state_file"]

    def vsctl_run(self, args: list[str], what: str) -> str:
        rc, out, err = self.module.run_command(self.vsctl + args)
        if rc != 0:
            self.module.fail_json(msg=f"Failed to {what} '{KEY}': {(err or out).strip() or f'exit code {rc}'}", rc=rc)
        return out

    def current(self) -> str | None:
        out = self.vsctl_run(["--if-exists", "get", "Open_vSwitch", ".", f"external_ids:{KEY}"], "read external_ids")
        value = out.strip().strip('"')
        return value or None

    def remembered(self) -> dict[str, Any] | None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            self.module.fail_json(msg=f"Failed to read the state file '{self.path}': {err}")
        if not isinstance(data, dict) or data.get("schema") != 1:
            self.module.fail_json(msg=f"Failed to read the state file '{self.path}': not a schema 1 file of this module")
        return {"operator": data.get("operator"), "ours": data.get("ours")}

    def write(self, remember: dict[str, Any]) -> None:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        tmp = f"{self.path}.new"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(dict(remember, schema=1), handle)
        os.replace(tmp, self.path)

    def measure(self) -> dict[str, Any]:
        appctl = self.module.get_bin_path("ovn-appctl")
        if not appctl:
            return {}
        rc, out, _err = self.module.run_command([appctl, f"--timeout={self.module.params['timeout']}", "-t", "ovn-controller",
                                                 "stopwatch/show", "flow-generation"])
        return logic.parse_stopwatch(out) if rc == 0 else {}

    def set(self) -> dict[str, Any]:
        p = self.module.params
        try:
            sized = logic.size_wait_before_clear(self.measure() if p["value"] <= 0 else {}, p["value"], p["factor"],
                                                 p["minimum"], p["maximum"], p["fallback"])
        except logic.ControllerError as err:
            self.module.fail_json(msg=str(err))
        current, remembered = self.current(), self.remembered()
        change = logic.wait_before_clear_change(current, remembered, sized["value"])
        if change["changed"] and not self.module.check_mode:
            self.write(change["remember"])
            if current != str(sized["value"]):
                self.vsctl_run(["set", "Open_vSwitch", ".", f"external_ids:{KEY}={sized['value']}"], "set external_ids")
        return {"changed": change["changed"], "value": str(sized["value"]), "previous": current, "source": sized["source"],
                "reason": sized["reason"], "remembered": change["remember"]}

    def restore(self) -> dict[str, Any]:
        current, remembered = self.current(), self.remembered()
        plan = logic.wait_before_clear_restore(current, remembered)
        if plan["changed"] and not self.module.check_mode:
            if plan["value"] != current:
                if plan["value"] is None:
                    self.vsctl_run(["remove", "Open_vSwitch", ".", "external_ids", KEY], "remove external_ids")
                else:
                    self.vsctl_run(["set", "Open_vSwitch", ".", f"external_ids:{KEY}={plan['value']}"], "set external_ids")
            os.remove(self.path)
        return {"changed": plan["changed"], "value": plan["value"], "previous": current, "source": "restore",
                "reason": plan["action"], "remembered": remembered}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["set", "restore"], "required": True},
            "value": {"type": "int", "default": 0},
            "factor": {"type": "float", "default": 2.0},
            "minimum": {"type": "int", "default": 2000},
            "maximum": {"type": "int", "default": 60000},
            "fallback": {"type": "int", "default": 8000},
            "state_file": {"type": "path", "default": "/var/lib/ndu-dataplane/ovn-wait-before-clear.json"},
            "timeout": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    worker = WaitBeforeClear(module)
    module.exit_json(**(worker.set() if module.params["state"] == "set" else worker.restore()))


if __name__ == "__main__":
    main()
