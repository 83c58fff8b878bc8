#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Tell which SDN controller owns the host's integration bridge, how that was read, and whether it caught up."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ovs_controller_info
short_description: Detect the controller of a host's integration bridge (ovn-controller, neutron-openvswitch-agent or none)
version_added: 0.1.0
description:
  - Reads the C(Open_vSwitch) row's C(external_ids) (C(ovn-remote), C(ovn-encap-type), C(ovn-encap-ip), C(system-id)),
    the integration bridge's controller targets, the running processes (C(/proc)) and the state of the controller units,
    and decides which controller owns the bridge. RV(evidence) says how that was read, one item per fact.
  - A host whose facts disagree (an OVN chassis without ovn-controller, a bridge pointing at an agent that does not run,
    OVN and the agent both present) is refused with a sentence in RV(refusal); with O(fail_on_refusal) the module fails
    with it.
  - For an OVN chassis it also reads ovn-controller's Southbound connection (C(connection-status)), its OpenFlow
    connection to ovs-vswitchd (C(ss), the management socket of the bridge), its C(flow-generation) stopwatch, whether it
    runs a replaced binary (C(/proc/<pid>/exe)), and the C(ovn-installed) mark of every VIF; for an agent host the
    canary flow, the VIFs' local VLAN tags and C(flow-restore-wait). RV(caught_up) combines them.
  - Read-only. A building block of the controller-aware switch-over; the roles do not call it yet.
options:
  integration_bridge:
    description: The integration bridge; empty means C(external_ids:ovn-bridge), else C(br-int).
    type: str
    default: ""
  expected:
    description: The controller the operator expects; C(auto) accepts what the host shows.
    type: str
    default: auto
    choices: [auto, ovn-controller, neutron-openvswitch-agent, none]
  units:
    description: systemd units whose state counts as evidence (missing units are inactive).
    type: list
    elements: str
    default: [ovn-controller.service, ovn-host.service, neutron-openvswitch-agent.service]
  fail_on_refusal:
    description: Fail with RV(refusal) when the state is unknown or mixed.
    type: bool
    default: true
  ovn_rundir:
    description: Directory with ovn-controller's PID file.
    type: path
    default: /run/ovn
  ovs_rundir:
    description: Directory with the bridges' management sockets (C(<bridge>.mgmt)).
    type: path
    default: /run/openvswitch
  timeout:
    description: Seconds C(ovs-vsctl) and C(ovn-appctl) wait before giving up.
    type: int
    default: 10
extends_documentation_fragment:
  - ndu.dataplane.read_only
requirements:
  - C(ovs-vsctl) and C(ovs-ofctl) on the target host; C(ovn-appctl) and C(ss) on OVN chassis.
author:
  - ndu.dataplane maintainers (@ndu-dataplane)
"""

EXAMPLES = r"""
- name: Detect the controller of br-int, refusing unknown or mixed hosts
  ndu.dataplane.ovs_controller_info:
  register: controller

- name: Wait until ovn-controller caught up after the switch-over
  ndu.dataplane.ovs_controller_info:
    expected: ovn-controller
  register: controller
  until: controller.caught_up.ok
  retries: 60
  delay: 1
"""

RETURN = r"""
backend:
  description: C(ovn-controller), C(neutron-openvswitch-agent), C(none), or null when refused.
  returned: always
  type: str
  sample: ovn-controller
evidence:
  description: How the backend was read, one fact per item.
  returned: always
  type: list
  elements: str
  sample: ["ovsdb Open_vSwitch external_ids:ovn-remote=tcp:10.213.0.2:6642", "process ovn-controller PID 812"]
refusal:
  description: Why the host is refused (unknown or mixed state), or null.
  returned: always
  type: str
integration_bridge:
  description: The bridge that was read.
  returned: always
  type: str
  sample: br-int
ovn:
  description: The chassis settings found in C(external_ids) (ovn-remote, ovn-encap-*, system-id, ovn-match-northd-version,
    ovn-ofctrl-wait-before-clear, ...).
  returned: always
  type: dict
flow_restore_wait:
  description: Whether C(other_config:flow-restore-wait) is true.
  returned: always
  type: bool
controller_daemon:
  description: ovn-controller's PID, whether it runs and whether its binary was replaced on disk (OVN only).
  returned: when the backend is ovn-controller
  type: dict
  sample: {pid: 901, running: true, exe: /usr/bin/ovn-controller, exe_deleted: false}
stopwatch:
  description: ovn-controller's C(flow-generation) stopwatch (samples, max_ms, min_ms, p95_ms); empty when none yet.
  returned: when the backend is ovn-controller
  type: dict
caught_up:
  description: Whether the controller caught up (C(ok)), and what it is still waiting for (C(waiting), sentences).
  returned: always
  type: dict
  sample: {ok: false, waiting: ["1 VIF(s) without ovn-installed: tap1234"], vifs_not_installed: [tap1234]}
vifs:
  description: The VIF interfaces (C(external_ids:iface-id) set) with their ofport and local VLAN tag.
  returned: always
  type: list
  elements: dict
"""

import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ndu.dataplane.plugins.module_utils import ovs_controller as logic
from ansible_collections.ndu.dataplane.plugins.module_utils.ovs_flows import normalise_flows
from ansible_collections.ndu.dataplane.plugins.module_utils.ovs_daemons import daemon_info


def read_processes() -> list[tuple[int, str, str]]:
    """(pid, comm, cmdline) of every process this host shows in /proc."""
    entries = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm", encoding="utf-8", errors="replace") as handle:
                comm = handle.read().strip()
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        entries.append((int(name), comm, cmdline))
    return entries


class ControllerInfo:
    """Runs the read-only commands and feeds their output to the pure logic."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.timeout = module.params["timeout"]
        self.vsctl = [module.get_bin_path("ovs-vsctl", required=True), f"--timeout={self.timeout}"]

    def run(self, args: list[str], what: str, name: str, fail: bool = True) -> tuple[int, str]:
        rc, out, err = self.module.run_command(args)
        if rc != 0 and fail:
            self.module.fail_json(msg=f"Failed to read {what} '{name}': {(err or out).strip() or f'exit code {rc}'}", rc=rc, cmd=args)
        return rc, out if rc == 0 else (err or out)

    def ovsdb(self) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        _rc, out = self.run(self.vsctl + ["--format=json", "--columns=external_ids,other_config", "list", "Open_vSwitch",
                                          "--", "--columns=name,ofport,external_ids", "list", "Interface",
                                          "--", "--columns=name,tag", "list", "Port"], "the Open vSwitch database", "localhost")
        lines = [line for line in out.splitlines() if line.strip()]
        if len(lines) != 3:
            self.module.fail_json(msg=f"Failed to read the Open vSwitch database 'localhost': expected 3 tables, got {len(lines)} lines")
        row = (logic.parse_vsctl_table(lines[0]) or [{}])[0]
        interfaces = logic.parse_vsctl_table(lines[1])
        tags = {port["name"]: port.get("tag") for port in logic.parse_vsctl_table(lines[2])}
        for iface in interfaces:
            tag = tags.get(iface.get("name"))
            iface["tag"] = tag[0] if isinstance(tag, list) and tag else (tag if isinstance(tag, int) else None)
        return row.get("external_ids") or {}, interfaces, row.get("other_config") or {}

    def bridge_controllers(self, bridge: str) -> list[str] | None:
        rc, _out = self.run(self.vsctl + ["br-exists", bridge], "bridge", bridge, fail=False)
        if rc == 2:
            return None
        if rc != 0:
            self.module.fail_json(msg=f"Failed to read bridge '{bridge}': ovs-vsctl br-exists exited {rc}")
        _rc, out = self.run(self.vsctl + ["get-controller", bridge], "controller of bridge", bridge)
        return [line.strip() for line in out.splitlines() if line.strip()]

    def units(self) -> dict[str, str]:
        systemctl = self.module.get_bin_path("systemctl")
        names = self.module.params["units"]
        if not systemctl or not names:
            return {}
        _rc, out, _err = self.module.run_command([systemctl, "is-active"] + names)
        states = out.splitlines()
        return {name: (states[i].strip() if i < len(states) else "unknown") for i, name in enumerate(names)}

    def ovn_state(self, bridge: str, interfaces: list[dict[str, Any]]) -> dict[str, Any]:
        appctl = self.module.get_bin_path("ovn-appctl")
        daemon = daemon_info("ovn-controller", self.module.params["ovn_rundir"])
        sb_status, stopwatch, of_connected = "not answering", {}, None
        if appctl:
            target = [appctl, f"--timeout={self.timeout}", "-t", "ovn-controller"]
            rc, out = self.run(target + ["connection-status"], "connection status of", "ovn-controller", fail=False)
            sb_status = out.strip() if rc == 0 else "not answering"
            rc, out = self.run(target + ["stopwatch/show", "flow-generation"], "stopwatch of", "ovn-controller", fail=False)
            stopwatch = logic.parse_stopwatch(out) if rc == 0 else {}
        ss = self.module.get_bin_path("ss")
        if ss:
            rc, out = self.run([ss, "-x", "-p", "-H", "state", "connected"], "unix sockets of", "localhost", fail=False)
            if rc == 0:
                mgmt = os.path.join(self.module.params["ovs_rundir"], f"{bridge}.mgmt")
                of_connected = logic.openflow_connected(logic.parse_unix_connections(out), mgmt)
        caught = logic.ovn_caught_up(sb_status, of_connected, interfaces, controller_running=daemon["running"])
        caught.update(sb_status=sb_status, openflow_connected=of_connected)
        return {"controller_daemon": daemon, "stopwatch": stopwatch.get("flow-generation", {}), "caught_up": caught}

    def agent_state(self, bridge: str, interfaces: list[dict[str, Any]], other_config: dict[str, Any], running: bool) -> dict[str, Any]:
        ofctl = self.module.get_bin_path("ovs-ofctl", required=True)
        rc, out = self.run([ofctl, "-O", "OpenFlow13", "dump-flows", bridge, f"table={logic.AGENT_CANARY_TABLE}"],
                           "OpenFlow flows of bridge", bridge, fail=False)
        flows = normalise_flows(out) if rc == 0 else []
        flows = [f if f.startswith("table=") else f"table={logic.AGENT_CANARY_TABLE},{f}" for f in flows]
        return {"caught_up": logic.agent_caught_up(other_config, interfaces, flows, agent_running=running)}

    def read(self) -> dict[str, Any]:
        external_ids, interfaces, other_config = self.ovsdb()
        bridge = self.module.params["integration_bridge"] or external_ids.get("ovn-bridge") or "br-int"
        controllers = self.bridge_controllers(bridge)
        processes = logic.parse_processes(read_processes())
        units = self.units()
        found = logic.detect_backend(external_ids, controllers, processes, units, bridge, self.module.params["expected"])
        result: dict[str, Any] = dict(found, integration_bridge=bridge, flow_restore_wait=logic.flow_restore_wait(other_config),
                                      vifs=[{k: v for k, v in vif.items() if k != "external_ids"} for vif in logic.vifs(interfaces)],
                                      caught_up={"ok": False, "waiting": ["refused"]} if found["refusal"] else {"ok": True, "waiting": []})
        if found["backend"] == logic.OVN:
            result.update(self.ovn_state(bridge, interfaces))
        elif found["backend"] == logic.AGENT:
            result.update(self.agent_state(bridge, interfaces, other_config, bool(processes[logic.AGENT])))
        elif found["backend"] == logic.NONE and result["flow_restore_wait"]:
            result["caught_up"] = {"ok": False, "waiting": ["other_config:flow-restore-wait is still true"]}
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "integration_bridge": {"type": "str", "default": ""},
            "expected": {"type": "str", "default": "auto", "choices": ["auto"] + list(logic.BACKENDS)},
            "units": {"type": "list", "elements": "str",
                      "default": ["ovn-controller.service", "ovn-host.service", "neutron-openvswitch-agent.service"]},
            "fail_on_refusal": {"type": "bool", "default": True},
            "ovn_rundir": {"type": "path", "default": "/run/ovn"},
            "ovs_rundir": {"type": "path", "default": "/run/openvswitch"},
            "timeout": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    result = ControllerInfo(module).read()
    if result["refusal"] and module.params["fail_on_refusal"]:
        module.fail_json(msg=f"Failed to detect the controller of bridge '{result['integration_bridge']}': {result['refusal']}", **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
