# SPDX-License-Identifier: Apache-2.0
"""Pure logic about the SDN controller that owns a host's integration bridge.

Which controller a host has (ovn-controller, neutron-openvswitch-agent or none),
read from what the host shows: the ``Open_vSwitch`` row's ``external_ids``, the
integration bridge's controller targets, the running processes and units. And
the decisions of a controller-aware switch-over: how long ovn-controller waits
before it clears the flows (``ovn-ofctrl-wait-before-clear``), whether
ovn-controller must be restarted, whether ``ovn-match-northd-version`` forbids
the target, and whether the controller has caught up afterwards.

Nothing here runs a command or imports Ansible: the ``ovs_controller_info`` and
``ovn_wait_before_clear`` modules feed it command output, unit tests call it
directly.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable

OVN = "ovn-controller"
AGENT = "neutron-openvswitch-agent"
NONE = "none"
BACKENDS = (OVN, AGENT, NONE)

# Open_vSwitch external_ids that make a host an OVN chassis (ovn-controller(8), "Configuration").
OVN_CHASSIS_KEYS = ("ovn-remote", "ovn-encap-type", "ovn-encap-ip")
# Recorded when present; system-id alone proves nothing (ovs-ctl writes it on plain OVS hosts too).
OVN_INFO_KEYS = ("system-id", "hostname", "ovn-bridge", "ovn-match-northd-version", "ovn-ofctrl-wait-before-clear")
WAIT_BEFORE_CLEAR = "ovn-ofctrl-wait-before-clear"
MATCH_NORTHD = "ovn-match-northd-version"
# neutron-openvswitch-agent's command line, as its console script or as the python module the lab runs.
AGENT_CMDLINE = ("neutron-openvswitch-agent", "ovs_neutron_agent")
# The agent's canary flow lives in this table of br-int; the agent marks a port it has not wired with this VLAN.
AGENT_CANARY_TABLE = 23
AGENT_DEAD_VLAN = 4095

# Sizing of ovn-ofctrl-wait-before-clear (milliseconds).
WBC_FACTOR = 2
WBC_MIN_MS = 2000
WBC_MAX_MS = 60000
WBC_FALLBACK_MS = 8000

_STOPWATCH_HEAD = re.compile(r"^Statistics for '([^']+)'")
_STOPWATCH_ROW = re.compile(r"^\s*(Total samples|Maximum|Minimum|95th percentile|Short term average|Long term average):\s*([\d.]+)\s*(\w+)?")
_UNIT_TO_MS = {"msec": 1.0, "ms": 1.0, "usec": 0.001, "us": 0.001, "nsec": 0.000001, "ns": 0.000001, "sec": 1000.0, "s": 1000.0}
_DEB_UPSTREAM = re.compile(r"^(?:\d+:)?([0-9][0-9A-Za-z.+~]*?)(?:-[0-9A-Za-z.+~]+)?$")


class ControllerError(Exception):
    """A decision cannot be made; the message is a sentence for the operator."""


# --- reading ovsdb output -------------------------------------------------------------------------------------------

def ovsdb_value(value: Any) -> Any:
    """Turn one cell of ``ovs-vsctl --format=json`` into Python: maps to dicts, sets to lists, uuids to strings."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        kind, data = value
        if kind == "map":
            return {str(k): ovsdb_value(v) for k, v in data}
        if kind == "set":
            return [ovsdb_value(v) for v in data]
        if kind in ("uuid", "named-uuid"):
            return data
    return value


def parse_vsctl_table(text: str) -> list[dict[str, Any]]:
    """Parse ``ovs-vsctl --format=json --columns=... list TABLE`` into one dict per row."""
    if not text.strip():
        return []
    table = json.loads(text)
    headings = table.get("headings", [])
    return [{name: ovsdb_value(cell) for name, cell in zip(headings, row)} for row in table.get("data", [])]


def parse_processes(entries: Iterable[tuple[int, str, str]]) -> dict[str, list[int]]:
    """From ``(pid, comm, cmdline)`` triples, the PIDs of ovn-controller and of neutron-openvswitch-agent.

    ``cmdline`` has its NUL separators replaced by spaces. ovn-controller is matched by its command name,
    the agent by its command line (its console script, or python running ``ovs_neutron_agent``); a
    process whose command name is a shell or an editor never counts.
    """
    found: dict[str, list[int]] = {OVN: [], AGENT: []}
    for pid, comm, cmdline in entries:
        if comm == OVN:
            found[OVN].append(pid)
        elif comm not in ("sh", "bash", "dash", "grep", "vi", "vim", "less") and any(word in cmdline for word in AGENT_CMDLINE):
            found[AGENT].append(pid)
    return {name: sorted(pids) for name, pids in found.items()}


# --- backend detection ----------------------------------------------------------------------------------------------

def detect_backend(
    external_ids: dict[str, str],
    bridge_controllers: list[str] | None,
    processes: dict[str, list[int]],
    units: dict[str, str],
    integration_bridge: str = "br-int",
    expected: str = "auto",
) -> dict[str, Any]:
    """Decide which controller owns the integration bridge, say how that was read, or refuse.

    ``bridge_controllers`` is the integration bridge's controller targets (None when the bridge does not
    exist); ``processes`` comes from :func:`parse_processes`; ``units`` maps unit names to their
    ``systemctl is-active`` answer. ``expected`` (``auto`` or a backend) is what the operator says.
    Returns ``{backend, evidence: [sentences], refusal: sentence or None, ovn: {...}}``; ``backend`` is
    None when refused.
    """
    evidence: list[str] = []
    ovn_config = {key: external_ids[key] for key in OVN_CHASSIS_KEYS if external_ids.get(key)}
    for key, value in ovn_config.items():
        evidence.append(f"ovsdb Open_vSwitch external_ids:{key}={value}")
    if external_ids.get("system-id"):
        evidence.append(f"ovsdb Open_vSwitch external_ids:system-id={external_ids['system-id']}")
    ovn_pids = processes.get(OVN, [])
    agent_pids = processes.get(AGENT, [])
    for pid in ovn_pids:
        evidence.append(f"process ovn-controller PID {pid}")
    for pid in agent_pids:
        evidence.append(f"process neutron-openvswitch-agent PID {pid}")
    active_units = sorted(unit for unit, state in units.items() if state == "active")
    for unit in active_units:
        evidence.append(f"unit {unit} active")
    # ovn-host.service is a oneshot wrapper that stays active without ovn-controller: evidence only.
    ovn_units = [u for u in active_units if u.startswith("ovn-controller")]
    agent_units = [u for u in active_units if "openvswitch-agent" in u or "ovs-agent" in u]
    targets = list(bridge_controllers or [])
    if bridge_controllers is None:
        evidence.append(f"bridge {integration_bridge} does not exist")
    elif targets:
        evidence.append(f"bridge {integration_bridge} controller {', '.join(targets)}")
    else:
        evidence.append(f"bridge {integration_bridge} has no controller target")

    ovn_running = bool(ovn_pids or ovn_units)
    agent_running = bool(agent_pids or agent_units)
    host_view = "; ".join(evidence)
    refusal = None
    backend: str | None
    if (ovn_config or ovn_running) and (agent_running or targets):
        backend, refusal = None, (
            f"both OVN and neutron-openvswitch-agent claim {integration_bridge} ({host_view}): a mixed host cannot be "
            "switched over safely; stop the controller that does not belong there, or fix the chassis settings")
    elif ovn_config and not ovn_running:
        backend, refusal = None, (
            f"the host is configured as an OVN chassis but ovn-controller does not run ({host_view}): "
            "start ovn-controller (systemctl start ovn-controller) and roll again")
    elif ovn_running and not external_ids.get("ovn-remote"):
        backend, refusal = None, (
            f"ovn-controller runs but ovsdb has no external_ids:ovn-remote ({host_view}): it is not connected to any "
            "Southbound database; set ovn-remote or stop ovn-controller")
    elif targets and not agent_running:
        backend, refusal = None, (
            f"{integration_bridge} has the controller {', '.join(targets)} but neutron-openvswitch-agent does not run "
            f"({host_view}): start neutron-openvswitch-agent and roll again; a switch-over now would leave the host's "
            "ports without anyone to program them")
    elif agent_running and bridge_controllers is not None and not targets:
        backend, refusal = None, (
            f"neutron-openvswitch-agent runs but {integration_bridge} has no controller target ({host_view}): the agent "
            "has not set up the bridge yet (or runs for another bridge); wait until it has, then roll again")
    elif ovn_running:
        backend = OVN
    elif agent_running:
        backend = AGENT
    else:
        backend = NONE
    if refusal is None and expected != "auto" and expected != backend:
        backend, refusal = None, (
            f"the operator expects the controller '{expected}' but the host shows '{backend}' ({host_view}); "
            "fix the host or the expectation")
    return {
        "backend": backend,
        "evidence": evidence,
        "refusal": refusal,
        "ovn": {key: external_ids[key] for key in OVN_CHASSIS_KEYS + OVN_INFO_KEYS if key in external_ids},
    }


# --- ovn-ofctrl-wait-before-clear -----------------------------------------------------------------------------------

def parse_stopwatch(text: str) -> dict[str, dict[str, Any]]:
    """Parse ``ovn-appctl -t ovn-controller stopwatch/show`` into ``{name: {samples, max_ms, min_ms, p95_ms}}``."""
    watches: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        head = _STOPWATCH_HEAD.match(line.strip())
        if head:
            current = watches.setdefault(head.group(1), {"samples": 0, "max_ms": 0.0, "min_ms": 0.0, "p95_ms": 0.0})
            continue
        row = _STOPWATCH_ROW.match(line)
        if current is None or not row:
            continue
        label, number, unit = row.group(1), float(row.group(2)), row.group(3) or "msec"
        if label == "Total samples":
            current["samples"] = int(number)
            continue
        scale = _UNIT_TO_MS.get(unit, 1.0)
        key = {"Maximum": "max_ms", "Minimum": "min_ms", "95th percentile": "p95_ms"}.get(label)
        if key:
            current[key] = number * scale
    return watches


def size_wait_before_clear(
    stopwatch: dict[str, dict[str, Any]],
    value: int = 0,
    factor: float = WBC_FACTOR,
    minimum: int = WBC_MIN_MS,
    maximum: int = WBC_MAX_MS,
    fallback: int = WBC_FALLBACK_MS,
) -> dict[str, Any]:
    """Choose ``ovn-ofctrl-wait-before-clear`` in milliseconds and say why.

    A positive ``value`` (the operator's variable) wins. Otherwise ``factor`` times the maximum
    ``flow-generation`` time ovn-controller measured (what ovn-controller(8) recommends: twice the
    Maximum), clamped to ``[minimum, maximum]``; without samples, ``fallback``.
    """
    if minimum > maximum:
        raise ControllerError(f"Failed to size {WAIT_BEFORE_CLEAR}: the minimum {minimum} ms is above the maximum {maximum} ms")
    if value > 0:
        return {"value": int(value), "source": "variable", "reason": f"{value} ms from the variable"}
    flow = stopwatch.get("flow-generation") or {}
    if not flow.get("samples"):
        return {"value": int(fallback), "source": "fallback",
                "reason": f"{fallback} ms (ovn-controller has no flow-generation samples yet)"}
    measured = flow["max_ms"]
    wanted = int(round(measured * factor))
    chosen = max(minimum, min(maximum, wanted))
    clamp = "" if chosen == wanted else f", clamped to [{minimum}, {maximum}]"
    return {"value": chosen, "source": "measured",
            "reason": f"{chosen} ms = {factor:g} x the longest flow generation {measured:g} ms over {flow['samples']} samples{clamp}"}


def wait_before_clear_change(current: str | None, remembered: dict[str, Any] | None, wanted: int) -> dict[str, Any]:
    """What setting ``wanted`` does: ``{changed, remember}``; the operator's value is remembered only once.

    ``current`` is the key's value now (None when unset); ``remembered`` the state file written by an
    earlier set (``{"operator": value-or-None, "ours": int}``) or None. A set that finds our own value
    in place (an earlier run stopped before it restored) keeps the first operator value it remembered.
    """
    remember = remembered if remembered is not None else {"operator": current, "ours": wanted}
    remember = dict(remember, ours=wanted)
    return {"changed": current != str(wanted) or remembered != remember, "remember": remember}


def wait_before_clear_restore(current: str | None, remembered: dict[str, Any] | None) -> dict[str, Any]:
    """What restoring does: ``{changed, value}`` (value None = remove the key), or nothing when nothing was remembered.

    The operator's value comes back only when the key still holds ours; if someone changed it since,
    their value stays and only the state file goes.
    """
    if remembered is None:
        return {"changed": False, "value": current, "action": "nothing remembered"}
    if current != str(remembered.get("ours")):
        return {"changed": True, "value": current, "action": f"kept {current!r}: it was changed after we set it"}
    operator = remembered.get("operator")
    return {"changed": True, "value": operator, "action": "removed (the operator had none)" if operator is None else f"put back {operator}"}


# --- versions and restarts ------------------------------------------------------------------------------------------

def upstream_version(version: str) -> str:
    """The upstream part of a Debian or RPM version: ``25.03.0-1+lab1`` -> ``25.03.0``, ``1:3.5.0-1`` -> ``3.5.0``."""
    match = _DEB_UPSTREAM.match(version.strip())
    return match.group(1) if match else version.strip()


def northd_refusal(match_northd: str | None, northd_internal_version: str, target_version: str) -> str | None:
    """A sentence when ``ovn-match-northd-version`` would make the upgraded ovn-controller stop, else None.

    ovn-controller compares its internal version (``<package version>-<SB schema>-<actions>.<minor>``)
    with ``SB_Global options:northd_internal_version`` and stops processing on any difference. Before
    the install only the package version can be compared; ``target_version`` is the ovn-host version
    the host ends up running.
    """
    if str(match_northd).lower() != "true":
        return None
    northd = northd_internal_version.strip()
    target = upstream_version(target_version)
    if not northd:
        return (f"ovn-match-northd-version is true and the Southbound database does not say which ovn-northd runs: "
                f"ovn-controller {target} would stop processing; upgrade is refused")
    northd_pkg = northd.split("-", 1)[0]
    if northd_pkg == target:
        return None
    newer = [int(p) if p.isdigit() else 0 for p in target.split(".")] > [int(p) if p.isdigit() else 0 for p in northd_pkg.split(".")]
    return (f"ovn-match-northd-version is true and ovn-controller would run {target} while ovn-northd runs {northd_pkg} "
            f"(northd_internal_version {northd}): ovn-controller stops processing on that mismatch. "
            + ("OVN upgrades chassis first and central last only without the version match: unset "
               "ovn-match-northd-version for the roll, or upgrade ovn-northd first if your deployment requires the match."
               if newer else "the target is older than ovn-northd; pick the version ovn-northd runs."))


def controller_restart_needed(daemon: dict[str, Any], version_changed: bool) -> dict[str, Any]:
    """Whether ovn-controller must restart: only when the running process runs a replaced binary.

    ``daemon`` is one entry of ``ovs_daemon_info`` (pid, running, exe, exe_deleted).
    """
    if not daemon.get("running"):
        return {"restart": False, "reason": "ovn-controller is not running"}
    if daemon.get("exe_deleted"):
        return {"restart": True, "reason": f"ovn-controller PID {daemon.get('pid')} runs the replaced binary {daemon.get('exe')}"}
    why = " although the package changed (same binary)" if version_changed else ""
    return {"restart": False, "reason": f"ovn-controller PID {daemon.get('pid')} runs the installed binary{why}"}


# --- caught up ------------------------------------------------------------------------------------------------------

def parse_unix_connections(ss_text: str) -> list[dict[str, Any]]:
    """Parse ``ss -x -p -H state connected`` into ``{local, inode, peer, process}`` rows (process may be None)."""
    rows = []
    for line in ss_text.splitlines():
        fields = line.split()
        # u_str ESTAB 0 0 <local> <inode> <peer-path> <peer-inode> [users:((...))]; "state connected" drops State.
        if fields and fields[0].startswith("u_"):
            fields = fields[1:]
        if fields and not fields[0].isdigit():
            fields = fields[1:]
        if len(fields) < 6:
            continue
        local, inode, peer = fields[2], fields[3], fields[5]
        users = " ".join(fields[6:])
        proc = re.search(r'\(\("([^"]+)"', users)
        rows.append({"local": local, "inode": inode, "peer": peer, "process": proc.group(1) if proc else None})
    return rows


def openflow_connected(connections: list[dict[str, Any]], mgmt_socket: str, process: str = OVN) -> bool:
    """Whether ``process`` holds a connection to ovs-vswitchd's management socket ``mgmt_socket`` (br-int.mgmt)."""
    server_peers = {row["peer"] for row in connections if row["local"] == mgmt_socket}
    return any(row["process"] == process and row["inode"] in server_peers for row in connections)


def vifs(interfaces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The interfaces that are VIFs (``external_ids:iface-id`` set), as ``{name, iface_id, ofport, external_ids, tag}``."""
    out = []
    for row in interfaces:
        ext = row.get("external_ids") or {}
        if ext.get("iface-id"):
            out.append({"name": row.get("name"), "iface_id": ext["iface-id"], "ofport": row.get("ofport"),
                        "external_ids": ext, "tag": row.get("tag")})
    return sorted(out, key=lambda v: str(v["name"]))


def ovn_caught_up(sb_status: str, of_connected: bool | None, interfaces: list[dict[str, Any]], controller_running: bool = True) -> dict[str, Any]:
    """Whether ovn-controller caught up: connected to the SB and to ovs-vswitchd, every VIF ``ovn-installed``.

    Returns ``{ok, waiting: [sentences], vifs_not_installed: [names]}``. ``of_connected`` None means the
    OpenFlow connection could not be read (not a reason to wait).
    """
    waiting = []
    if not controller_running:
        waiting.append("ovn-controller is not running")
    if sb_status.strip() != "connected":
        waiting.append(f"ovn-controller is {sb_status.strip() or 'not answering'} to the Southbound database")
    if of_connected is False:
        waiting.append("ovn-controller has no OpenFlow connection to ovs-vswitchd")
    missing = [v["name"] for v in vifs(interfaces) if str(v["external_ids"].get("ovn-installed", "")).lower() != "true"]
    if missing:
        waiting.append(f"{len(missing)} VIF(s) without ovn-installed: {', '.join(missing)}")
    return {"ok": not waiting, "waiting": waiting, "vifs_not_installed": missing}


def flow_restore_wait(other_config: dict[str, str]) -> bool:
    """Whether ``other_config:flow-restore-wait`` is left true (ovs-vswitchd then keeps away from its controllers)."""
    return str(other_config.get("flow-restore-wait", "false")).lower() == "true"


def agent_caught_up(other_config: dict[str, str], interfaces: list[dict[str, Any]], flows: list[str] | None, agent_running: bool = True) -> dict[str, Any]:
    """Whether neutron-openvswitch-agent finished wiring br-int after a switch-over (host side).

    ``flows`` are the normalised flows of br-int (ovs_flow_snapshot). The agent has caught up when it
    runs, ``flow-restore-wait`` is not left true, its canary flow (table 23) is back, and every VIF
    carries a local VLAN tag other than the dead VLAN 4095 it parks unwired ports on. Whether Neutron
    sees the agent alive is read separately (the API).
    """
    waiting = []
    if not agent_running:
        waiting.append("neutron-openvswitch-agent is not running")
    if flow_restore_wait(other_config):
        waiting.append("other_config:flow-restore-wait is still true (ovs-vswitchd does not talk to the agent)")
    if flows is not None and not any(_flow_table(f) == AGENT_CANARY_TABLE for f in flows):
        waiting.append(f"no canary flow in table {AGENT_CANARY_TABLE} of br-int (the agent has not re-set the bridge up)")
    unwired = []
    for vif in vifs(interfaces):
        tag = vif.get("tag")
        if isinstance(tag, list):
            tag = tag[0] if tag else None
        if tag in (None, AGENT_DEAD_VLAN):
            unwired.append(vif["name"])
    if unwired:
        waiting.append(f"{len(unwired)} VIF(s) not wired by the agent (no local VLAN or the dead VLAN {AGENT_DEAD_VLAN}): {', '.join(unwired)}")
    return {"ok": not waiting, "waiting": waiting, "vifs_not_wired": unwired}


def _flow_table(flow: str) -> int:
    match = re.search(r"(?:^|,)table=(\d+)", flow)
    return int(match.group(1)) if match else 0
