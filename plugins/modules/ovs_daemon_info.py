#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Report the running Open vSwitch daemons: PID, binary, and whether that binary was replaced on disk."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ovs_daemon_info
short_description: Report the running Open vSwitch daemons and whether they run a replaced binary
version_added: 0.1.0
description:
  - Reads each daemon's PID file, checks that the process is alive and is that daemon, and reads
    C(/proc/<pid>/exe).
  - After a package upgrade with restarts suppressed, the old daemon keeps running a binary that was deleted from
    disk; C(/proc/<pid>/exe) then ends in C( (deleted)). That is the signal that a switch-over is still needed.
options:
  daemons:
    description: Daemon names; each has a PID file C(<rundir>/<name>.pid).
    type: list
    elements: str
    default: [ovs-vswitchd, ovsdb-server]
  rundir:
    description: Directory with the daemons' PID files.
    type: path
    default: /run/openvswitch
extends_documentation_fragment:
  - ndu.dataplane.read_only
author:
  - ndu.dataplane maintainers (@ndu-dataplane)
"""

EXAMPLES = r"""
- name: Read the running Open vSwitch daemons
  ndu.dataplane.ovs_daemon_info:
  register: ovs_reload_daemons

- name: Tell whether the running ovs-vswitchd is the replaced binary
  ansible.builtin.debug:
    msg: "switch-over needed: {{ ovs_reload_daemons.switchover_needed }}"
"""

RETURN = r"""
daemons:
  description: Per daemon name, what is running.
  returned: always
  type: dict
  sample:
    ovs-vswitchd: {pid: 812, running: true, exe: /usr/sbin/ovs-vswitchd, exe_deleted: true}
    ovsdb-server: {pid: 790, running: true, exe: /usr/sbin/ovsdb-server, exe_deleted: false}
  contains:
    pid:
      description: PID from the PID file, or null when there is none.
      type: int
      returned: always
    running:
      description: Whether that PID is alive and its command name is the daemon's.
      type: bool
      returned: always
    exe:
      description: The binary the process runs (without the C( (deleted)) suffix), or null.
      type: str
      returned: always
    exe_deleted:
      description: Whether the running binary was replaced or removed on disk.
      type: bool
      returned: always
switchover_needed:
  description: Whether ovs-vswitchd runs a binary that was replaced on disk (only when ovs-vswitchd is in O(daemons)).
  returned: always
  type: bool
  sample: true
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ndu.dataplane.plugins.module_utils.ovs_daemons import daemon_info

__all__ = ["daemon_info", "main"]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "daemons": {"type": "list", "elements": "str", "default": ["ovs-vswitchd", "ovsdb-server"]},
            "rundir": {"type": "path", "default": "/run/openvswitch"},
        },
        supports_check_mode=True,
    )
    daemons = {name: daemon_info(name, module.params["rundir"]) for name in module.params["daemons"]}
    vswitchd = daemons.get("ovs-vswitchd", {})
    module.exit_json(changed=False, daemons=daemons, switchover_needed=bool(vswitchd.get("exe_deleted")))


if __name__ == "__main__":
    main()
