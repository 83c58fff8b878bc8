# SPDX-License-Identifier: Apache-2.0
"""Pure logic for Open vSwitch flow snapshots: normalise, parse, compare.

Nothing here runs a command or imports Ansible: the ``ovs_flow_snapshot``
module feeds it the text of ``ovs-ofctl`` and ``ovs-vsctl``, the
``ovs_flow_diff`` filter compares two snapshots, and unit tests call the
functions directly.
"""
from __future__ import annotations

import csv
import json
import re
from typing import Any, Iterable

# Fields of a dumped flow that change on their own (counters and ages) and
# say nothing about what the flow does.
VOLATILE_FLOW_FIELDS = frozenset(("duration", "n_packets", "n_bytes", "idle_age", "hard_age", "reset_counts"))
# Per-group and per-meter statistics, when a dump carries them.
VOLATILE_STAT_FIELDS = frozenset(("duration", "packet_count", "byte_count", "packet_in_count", "flow_count", "ref_count"))
# Interface types that are tunnels.
TUNNEL_TYPES = frozenset(("vxlan", "geneve", "gre", "stt", "erspan", "ip6erspan", "ip6gre", "lisp", "gtpu", "bareudp", "srv6"))

_HEADER = re.compile(r"^(NXST|OFPST|OFPT|ONFST)_\w+ reply")


def _split_fields(text: str) -> list[str]:
    """Split ``a=1, b=2 c,d=3`` into ``['a=1', 'b=2', 'c', 'd=3']``."""
    return [tok for tok in re.split(r"[,\s]+", text.strip()) if tok]


def normalise_flow(line: str) -> str | None:
    """Return a flow line without counters or ages, or None for non-flow lines.

    ``ovs-ofctl dump-flows`` prints ``cookie=0x0, duration=1.2s, table=0,
    n_packets=3, n_bytes=180, priority=100,in_port=1 actions=output:2``. The
    result keeps what the flow is (cookie unless zero, table, timeouts,
    priority, match) in its printed order and the actions untouched:
    ``table=0,priority=100,in_port=1 actions=output:2``.
    """
    text = line.strip()
    if not text or _HEADER.match(text) or " actions=" not in f" {text}":
        return None
    head, _sep, actions = f" {text}".partition(" actions=")
    kept = []
    for field in _split_fields(head):
        key = field.split("=", 1)[0]
        if key in VOLATILE_FLOW_FIELDS or field == "cookie=0x0":
            continue
        kept.append(field)
    return f"{','.join(kept)} actions={actions.strip()}".lstrip()


def normalise_flows(text: str) -> list[str]:
    """Normalise every flow of a ``dump-flows`` output and sort them."""
    flows = (normalise_flow(line) for line in text.splitlines())
    return sorted(flow for flow in flows if flow is not None)


def _entries(text: str, first_key: str) -> list[str]:
    """Collect dump entries that start with ``first_key=``; continuation lines join the entry."""
    entries: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or _HEADER.match(line):
            continue
        if line.startswith(f"{first_key}=") or not entries:
            entries.append(line)
        else:
            entries[-1] = f"{entries[-1]} {line}"
    return entries


def _drop_stats(entry: str) -> str:
    kept = [f for f in _split_fields(entry) if f.split("=", 1)[0] not in VOLATILE_STAT_FIELDS]
    return ",".join(kept)


def normalise_groups(text: str) -> list[str]:
    """Normalise ``ovs-ofctl dump-groups`` output into sorted group entries."""
    return sorted(_drop_stats(entry) for entry in _entries(text, "group_id"))


def normalise_meters(text: str) -> list[str]:
    """Normalise ``ovs-ofctl dump-meters`` output into sorted meter entries."""
    return sorted(_drop_stats(entry) for entry in _entries(text, "meter"))


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def parse_ports(text: str) -> dict[str, dict[str, Any]]:
    """Parse ``ovs-vsctl --format=csv --data=json --columns=name,ofport,type,options list Interface``.

    Returns ``{name: {"ofport": int, "type": str, "options": {...}}}``.
    """
    ports: dict[str, dict[str, Any]] = {}
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        return ports
    header = rows[0]
    for row in rows[1:]:
        if len(row) != len(header):
            continue
        record = {key: _json_or_text(value) for key, value in zip(header, row)}
        options = record.get("options", ["map", []])
        ports[record["name"]] = {
            "ofport": record.get("ofport") if isinstance(record.get("ofport"), int) else -1,
            "type": record.get("type") or "system",
            "options": dict(options[1]) if isinstance(options, list) and options and options[0] == "map" else {},
        }
    return ports


def tunnel_ports(ports: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The subset of ``ports`` whose interface type is a tunnel."""
    return {name: port for name, port in ports.items() if port["type"] in TUNNEL_TYPES}


def _allowed(entry: str, bridge: str, allowed: Iterable[Any]) -> bool:
    for rule in allowed:
        if isinstance(rule, dict):
            if rule.get("bridge") not in (None, bridge):
                continue
            pattern = rule.get("pattern", "")
        else:
            pattern = str(rule)
        if pattern and re.search(pattern, entry):
            return True
    return False


def _difference(before: list[str], after: list[str], bridge: str, allowed: list[Any]) -> tuple[list[str], list[str]]:
    old, new = set(before), set(after)
    missing = sorted(e for e in old - new if not _allowed(e, bridge, allowed))
    extra = sorted(e for e in new - old if not _allowed(e, bridge, allowed))
    return missing, extra


def _port_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changes = []
    for name in sorted(set(before) | set(after)):
        if name not in after:
            changes.append(f"port '{name}' is gone (was ofport {before[name]['ofport']})")
        elif name not in before:
            changes.append(f"port '{name}' is new (ofport {after[name]['ofport']})")
        elif before[name] != after[name]:
            old, new = before[name], after[name]
            what = [f"{key} {old.get(key)!r} -> {new.get(key)!r}" for key in ("ofport", "type", "options") if old.get(key) != new.get(key)]
            changes.append(f"port '{name}' changed: {', '.join(what)}")
    return changes


def diff_snapshots(before: dict[str, Any], after: dict[str, Any], allowed: list[Any] | None = None) -> dict[str, Any]:
    """Compare two snapshots as returned by the ``ovs_flow_snapshot`` module.

    ``allowed`` lists regular expressions (or ``{"bridge": ..., "pattern": ...}``)
    matching flows, groups or meters that may legitimately differ. Returns
    ``{"ok": bool, "missing_bridges": [...], "extra_bridges": [...],
    "bridges": {name: {"missing_flows", "extra_flows", "missing_groups",
    "extra_groups", "missing_meters", "extra_meters", "port_changes"}},
    "summary": [sentences]}``; only bridges with a difference appear.
    """
    allowed = list(allowed or [])
    old_bridges = before.get("bridges", {})
    new_bridges = after.get("bridges", {})
    result: dict[str, Any] = {
        "missing_bridges": sorted(set(old_bridges) - set(new_bridges)),
        "extra_bridges": sorted(set(new_bridges) - set(old_bridges)),
        "bridges": {},
        "summary": [],
    }
    for name in result["missing_bridges"]:
        result["summary"].append(f"bridge '{name}' is gone")
    for name in result["extra_bridges"]:
        result["summary"].append(f"bridge '{name}' is new")
    for name in sorted(set(old_bridges) & set(new_bridges)):
        old, new = old_bridges[name], new_bridges[name]
        entry: dict[str, Any] = {}
        for kind in ("flows", "groups", "meters"):
            missing, extra = _difference(old.get(kind, []), new.get(kind, []), name, allowed)
            entry[f"missing_{kind}"], entry[f"extra_{kind}"] = missing, extra
            if missing:
                result["summary"].append(f"bridge '{name}': {len(missing)} {kind} missing")
            if extra:
                result["summary"].append(f"bridge '{name}': {len(extra)} {kind} extra")
        entry["port_changes"] = _port_changes(old.get("ports", {}), new.get("ports", {}))
        result["summary"].extend(f"bridge '{name}': {change}" for change in entry["port_changes"])
        if any(entry.values()):
            result["bridges"][name] = entry
    result["ok"] = not result["summary"]
    return result


# --- owner-aware comparison ------------------------------------------------------------------------------------------
# Who programs a bridge decides what a difference means. OVN derives a flow's cookie from its logical flow, so it
# is stable and compared; neutron-openvswitch-agent stamps its flows with a cookie it regenerates when it
# restarts, so its cookies are ignored. A controller may remove flows on purpose while it reconciles (the
# compare only runs after it has caught up); what must never happen is that a port that is still there loses
# every flow that names it.
OWNER_OVN = "ovn-controller"
OWNER_AGENT = "neutron-openvswitch-agent"
OWNER_NONE = "none"
OWNERS = (OWNER_OVN, OWNER_AGENT, OWNER_NONE)
DEFAULT_PRIORITY = 32768
_PORT_REFS = re.compile(r"(?:^|[,\s(])in_port=(\w+)|output:(\w+)|output\(port=(\w+)")


def parse_flow(flow: str) -> dict[str, Any]:
    """Split a normalised flow into ``{table, priority, cookie, match, actions}`` (match fields sorted)."""
    head, _sep, actions = f" {flow}".partition(" actions=")
    table, priority, cookie, match = 0, DEFAULT_PRIORITY, "0x0", []
    for field in _split_fields(head):
        key, _eq, value = field.partition("=")
        if key == "table":
            table = int(value) if value.isdigit() else 0
        elif key == "priority":
            priority = int(value) if value.isdigit() else DEFAULT_PRIORITY
        elif key == "cookie":
            cookie = value.split("/", 1)[0]
        else:
            match.append(field)
    return {"table": table, "priority": priority, "cookie": cookie, "match": ",".join(sorted(match)), "actions": actions.strip()}


def flow_key(flow: str, owner: str) -> str:
    """What is compared of a flow for its owner: priority, match and actions, plus the cookie unless the agent owns it."""
    parsed = parse_flow(flow)
    cookie = "" if owner == OWNER_AGENT else f"cookie={parsed['cookie']} "
    return f"{cookie}priority={parsed['priority']},{parsed['match']} actions={parsed['actions']}"


def flow_ports(flow: str) -> set[str]:
    """OpenFlow port numbers (or names) a flow matches on or outputs to."""
    return {next(g for g in groups if g) for groups in _PORT_REFS.findall(flow)}


def _port_names(ports: dict[str, Any]) -> dict[str, str]:
    """ofport (as printed in flows) -> interface name; names map to themselves."""
    names = {}
    for name, port in ports.items():
        names[name] = name
        if isinstance(port.get("ofport"), int) and port["ofport"] >= 0:
            names[str(port["ofport"])] = name
    return names


def _port_flow_counts(flows: list[str], names: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for flow in flows:
        for ref in flow_ports(flow):
            if ref in names:
                counts[names[ref]] = counts.get(names[ref], 0) + 1
    return counts


def diff_owned(before: dict[str, Any], after: dict[str, Any], owner: str, allowed: list[Any] | None = None) -> dict[str, Any]:
    """Compare two snapshots knowing who owns the flows.

    ``owner`` is ``ovn-controller``, ``neutron-openvswitch-agent`` or ``none``. With ``none`` this is
    :func:`diff_snapshots` (every difference fails). With a controller, per bridge and table the flows are
    compared on priority, match and actions (and the cookie for OVN); a flow the controller removed or
    added is reported in ``notes`` and does not fail, a port still on the bridge that had flows before and
    has none now fails, and so do gone bridges and port changes. Returns ``{ok, owner, bridges: {name:
    {tables: {table: {missing, extra}}, ports_without_flows, port_changes}}, summary: [failures], notes}``.
    """
    if owner not in OWNERS:
        raise ValueError(f"unknown flow owner '{owner}' (expected one of {', '.join(OWNERS)})")
    if owner == OWNER_NONE:
        result = diff_snapshots(before, after, allowed)
        result.update(owner=owner, notes=[])
        return result
    allowed = list(allowed or [])
    old_bridges, new_bridges = before.get("bridges", {}), after.get("bridges", {})
    result: dict[str, Any] = {"owner": owner, "bridges": {}, "summary": [], "notes": [],
                              "missing_bridges": sorted(set(old_bridges) - set(new_bridges)),
                              "extra_bridges": sorted(set(new_bridges) - set(old_bridges))}
    result["summary"].extend(f"bridge '{name}' is gone" for name in result["missing_bridges"])
    result["notes"].extend(f"bridge '{name}' is new" for name in result["extra_bridges"])
    for name in sorted(set(old_bridges) & set(new_bridges)):
        old, new = old_bridges[name], new_bridges[name]
        old_flows = [f for f in old.get("flows", []) if not _allowed(f, name, allowed)]
        new_flows = [f for f in new.get("flows", []) if not _allowed(f, name, allowed)]
        old_keys = {flow_key(f, owner): f for f in old_flows}
        new_keys = {flow_key(f, owner): f for f in new_flows}
        tables: dict[int, dict[str, list[str]]] = {}
        for key in sorted(set(old_keys) - set(new_keys)):
            tables.setdefault(parse_flow(old_keys[key])["table"], {"missing": [], "extra": []})["missing"].append(old_keys[key])
        for key in sorted(set(new_keys) - set(old_keys)):
            tables.setdefault(parse_flow(new_keys[key])["table"], {"missing": [], "extra": []})["extra"].append(new_keys[key])
        old_names = _port_names(old.get("ports", {}))
        new_names = _port_names(new.get("ports", {}))
        before_counts = _port_flow_counts(old_flows, old_names)
        after_counts = _port_flow_counts(new_flows, new_names)
        lost = sorted(port for port, count in before_counts.items()
                      if count and port in new.get("ports", {}) and not after_counts.get(port))
        entry = {"tables": dict(sorted(tables.items())), "ports_without_flows": lost,
                 "port_changes": _port_changes(old.get("ports", {}), new.get("ports", {}))}
        for port in lost:
            result["summary"].append(f"bridge '{name}': port '{port}' lost its flows ({before_counts[port]} before, none now)")
        result["summary"].extend(f"bridge '{name}': {change}" for change in entry["port_changes"])
        for table, diff in entry["tables"].items():
            if diff["missing"]:
                result["notes"].append(f"bridge '{name}' table {table}: {len(diff['missing'])} flows removed by the controller")
            if diff["extra"]:
                result["notes"].append(f"bridge '{name}' table {table}: {len(diff['extra'])} flows added by the controller")
        if entry["tables"] or lost or entry["port_changes"]:
            result["bridges"][name] = entry
    result["ok"] = not result["summary"]
    return result
