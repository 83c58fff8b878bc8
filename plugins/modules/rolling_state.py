#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Read, write and clear the rolling upgrade's on-host state files (rolling-state.json, rolling-last.json)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: rolling_state
short_description: Read, write and clear the rolling upgrade's record on a host
version_added: 0.1.0
description:
  - The one owner of the two state files the rolling upgrade keeps on a host, in O(directory) (0700, files 0600).
  - C(rolling-state.json) is the record of a roll in progress (schema C(ndu.dataplane/rolling-state/v1)) - the versions
    from before, the target version, when and with which strategy it started. It is written before the packages
    change, so a re-run can resume and a rollback still knows where to go back to.
  - C(rolling-last.json) is the record of the last finished roll that changed the packages (schema
    C(ndu.dataplane/rolling-last/v1)) - the versions before and after; C(ndu.dataplane.rollback) goes back to it.
  - Files written before the schema existed (no C(schema) key) are read as version 1; a file with another schema
    fails, naming it.
options:
  operation:
    description:
      - C(read) returns both records and changes nothing.
      - C(begin) writes the record of a roll to O(target_version), unless one for the same target is there (a resumed
        roll keeps the versions from before its first attempt).
      - C(finish) writes C(rolling-last.json) when O(versions_after) differs from the recorded versions before, and
        removes C(rolling-state.json).
      - C(clear) removes C(rolling-state.json) (a host back in a known state after a rollback or with nothing done).
    type: str
    choices: [read, begin, finish, clear]
    default: read
  directory:
    description: Directory of the state files.
    type: path
    default: /var/lib/ndu-dataplane
  target_version:
    description: The version the roll goes to. Required with O(operation=begin); with C(finish) recorded in the last roll.
    type: str
  versions_before:
    description: Package name to version before the roll. Required with O(operation=begin); with C(finish) it
      defaults to the versions of the record in progress.
    type: dict
  versions_after:
    description: Package name to version installed now. Required with O(operation=finish).
    type: dict
  strategy:
    description: The strategy of the roll (recorded for a person reading the file).
    type: str
    default: evacuate
attributes:
  check_mode:
    support: full
    description: Reports what it would write or remove and changes nothing.
  diff_mode:
    support: none
    description: No diff is returned.
  idempotent:
    support: full
    description: C(begin) for the same target, C(finish) and C(clear) run again change nothing.
author:
  - ndu.dataplane maintainers (@ndu-dataplane)
"""

EXAMPLES = r"""
- name: Read the records of an unfinished and of the last finished roll
  ndu.dataplane.rolling_state:
  register: ndu_state

- name: Record the versions to go back to before the packages change
  ndu.dataplane.rolling_state:
    operation: begin
    target_version: 3.1.0-2+deb12u2
    versions_before: {openvswitch-common: 3.1.0-2+deb12u1, openvswitch-switch: 3.1.0-2+deb12u1}

- name: The roll finished; keep what it changed for a later rollback
  ndu.dataplane.rolling_state:
    operation: finish
    versions_after: {openvswitch-common: 3.1.0-2+deb12u2, openvswitch-switch: 3.1.0-2+deb12u2}
"""

RETURN = r"""
state:
  description: The record of a roll in progress (after the operation), or null when there is none.
  returned: always
  type: dict
  sample: {schema: ndu.dataplane/rolling-state/v1, target_version: 3.1.0-2+deb12u2, started: 1764624000,
           strategy: evacuate, versions_before: {openvswitch-switch: 3.1.0-2+deb12u1}}
  contains:
    schema:
      description: C(ndu.dataplane/rolling-state/v1).
      type: str
      returned: always
    target_version:
      description: The version the roll goes to.
      type: str
      returned: always
    versions_before:
      description: Package name to version before the roll.
      type: dict
      returned: always
    started:
      description: When the roll started (epoch seconds).
      type: int
      returned: always
    strategy:
      description: The roll's strategy.
      type: str
      returned: always
last:
  description: The record of the last finished roll that changed the packages, or null when there is none.
  returned: always
  type: dict
  sample: {schema: ndu.dataplane/rolling-last/v1, target_version: 3.1.0-2+deb12u2, finished: 1764625000,
           versions_before: {openvswitch-switch: 3.1.0-2+deb12u1}, versions_after: {openvswitch-switch: 3.1.0-2+deb12u2}}
  contains:
    schema:
      description: C(ndu.dataplane/rolling-last/v1).
      type: str
      returned: always
    versions_before:
      description: Package name to version before that roll (what C(ndu.dataplane.rollback) goes back to).
      type: dict
      returned: always
    versions_after:
      description: Package name to version after it.
      type: dict
      returned: always
    target_version:
      description: The version that roll went to.
      type: str
      returned: always
    finished:
      description: When it finished (epoch seconds).
      type: int
      returned: always
"""

import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ndu.dataplane.plugins.module_utils import rolling_state as logic


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    directory = p["directory"]
    state = logic.read(directory, "state")
    last = logic.read(directory, "last")
    changed = False
    if p["operation"] == "begin":
        if logic.begin_needed(state, p["target_version"]):
            state = logic.state_document(p["target_version"], p["versions_before"], int(time.time()), p["strategy"])
            changed = True
            if not module.check_mode:
                logic.write(directory, "state", state)
    elif p["operation"] == "finish":
        before = p["versions_before"] or (state or {}).get("versions_before") or {}
        if logic.finish_plan(before, p["versions_after"]):
            target = p["target_version"] or (state or {}).get("target_version") or ""
            document = logic.last_document(before, p["versions_after"], target, int(time.time()))
            if (last or {}).get("versions_before") != document["versions_before"] or last.get("versions_after") != document["versions_after"]:
                last = document
                changed = True
                if not module.check_mode:
                    logic.write(directory, "last", last)
        if state is not None:
            state = None
            changed = True
            if not module.check_mode:
                logic.remove(directory, "state")
    elif p["operation"] == "clear" and state is not None:
        state = None
        changed = True
        if not module.check_mode:
            logic.remove(directory, "state")
    return {"changed": changed, "state": state, "last": last}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "operation": {"type": "str", "choices": ["read", "begin", "finish", "clear"], "default": "read"},
            "directory": {"type": "path", "default": logic.DIRECTORY},
            "target_version": {"type": "str"},
            "versions_before": {"type": "dict"},
            "versions_after": {"type": "dict"},
            "strategy": {"type": "str", "default": "evacuate"},
        },
        required_if=[("operation", "begin", ("target_version", "versions_before")),
                     ("operation", "finish", ("versions_after",))],
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except logic.StateError as err:
        module.fail_json(msg=str(err))


if __name__ == "__main__":
    main()
