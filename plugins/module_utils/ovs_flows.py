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
