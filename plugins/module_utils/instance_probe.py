# SPDX-License-Identifier: Apache-2.0
"""Pure logic of the per-instance probe: which addresses to probe, and the report section it produces.

No Ansible or SDK imports: the ``probe_targets`` module, the report filter and unit tests share it. The probe
itself (sockets, gap analysis) is roles/flow_verify/files/ndu_udp_probe.py, which runs on the probing host.
"""

from __future__ import annotations

from typing import Any


def server_host(server: dict[str, Any]) -> str | None:
    return server.get("OS-EXT-SRV-ATTR:host")


def fixed_ipv4(server: dict[str, Any], network: str | None) -> tuple[str, str] | None:
    """(network, address) of the server's first fixed IPv4 address, on ``network`` when given."""
    for net_name in sorted(server.get("addresses") or {}):
        if network and net_name != network:
            continue
        for entry in server["addresses"][net_name] or []:
            if entry.get("version", 4) == 4 and entry.get("OS-EXT-IPS:type", "fixed") == "fixed" and entry.get("addr"):
                return net_name, entry["addr"]
    return None


def probe_targets(servers: list[dict[str, Any]], hosts: list[str], network: str | None = None,
                  statuses: tuple[str, ...] = ("ACTIVE",)) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The probe's targets among ``servers``: those on ``hosts`` (every host when empty) in one of ``statuses``.

    Returns (targets, skipped): a target is {id, name, address, network, host}; a server on those hosts that cannot
    be probed is in skipped with the reason (not active, no fixed IPv4 address on the network).
    """
    targets: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for server in sorted(servers, key=lambda s: (server_host(s) or "", s.get("name") or "", s["id"])):
        host = server_host(server)
        if hosts and host not in hosts:
            continue
        name = server.get("name") or server["id"]
        if server.get("status") not in statuses:
            skipped.append({"id": server["id"], "name": name, "host": host, "reason": f"status {server.get('status')}"})
            continue
        found = fixed_ipv4(server, network)
        if found is None:
            where = f"on network '{network}'" if network else "on any network"
            skipped.append({"id": server["id"], "name": name, "host": host, "reason": f"no fixed IPv4 address {where}"})
            continue
        targets.append({"id": server["id"], "name": name, "address": found[1], "network": found[0], "host": host})
    return targets, skipped


def report_section(result: dict[str, Any] | None, targets: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """The report's ``probe`` section from the probe's own report (None when no probe ran).

    Keeps, per instance, the figures of the probe plus the host it was on when the probe started; a probe that
    could not run is kept as {failed, msg}.
    """
    if not result:
        return None
    if result.get("failed"):
        return {"failed": True, "msg": result.get("msg", "the probe failed")}
    hosts = {t["id"]: t.get("host") for t in targets or []}
    instances = {}
    for key, entry in (result.get("instances") or {}).items():
        kept = ("name", "address", "sent", "received", "lost", "longest_gap_ms", "gaps_total", "gaps", "duplicates", "answered_warmup")
        instances[key] = {**{k: entry.get(k) for k in kept}, "host_at_start": hosts.get(key)}
    return {
        "rate": result.get("rate"),
        "started": result.get("started"),
        "ended": result.get("ended"),
        "duration_s": result.get("duration_s"),
        "instances": instances,
        "worst": result.get("worst"),
        "sent": result.get("sent"),
        "lost": result.get("lost"),
        "longest_gap_ms": result.get("longest_gap_ms"),
        "unanswered": result.get("unanswered", []),
    }


def summary_line(section: dict[str, Any] | None) -> str | None:
    """One sentence for the roll's summary: the worst instance, or why there is no figure."""
    if not section:
        return None
    if section.get("failed"):
        return f"probe: FAILED ({section.get('msg')})"
    count = len(section.get("instances") or {})
    worst = section.get("worst")
    if not worst:
        return "probe: no instance to probe"
    text = (f"probe: {count} instance(s) at {section.get('rate')} pkt/s each, {section.get('lost')} of {section.get('sent')} lost; "
            f"worst {worst['name']} ({worst['address']}) lost {worst['lost']} of {worst['sent']}, longest gap {worst['longest_gap_ms']} ms")
    if section.get("unanswered"):
        text += f"; never answered: {', '.join(section['unanswered'])}"
    return text
