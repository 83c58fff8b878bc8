# SPDX-License-Identifier: Apache-2.0
"""Pure logic of the per-instance probe: targets from Nova's servers, the report section and its summary line."""
from __future__ import annotations

from ansible_collections.ndu.dataplane.plugins.module_utils.instance_probe import (probe_targets, report_section,
                                                                                   summary_line)


def server(sid, name, host, status="ACTIVE", **addresses):
    return {"id": sid, "name": name, "status": status, "OS-EXT-SRV-ATTR:host": host,
            "addresses": {net: [{"addr": a, "version": 6 if ":" in a else 4, "OS-EXT-IPS:type": t} for a, t in entries]
                          for net, entries in addresses.items()}}


SERVERS = [
    server("s2", "web-2", "compute2", net=[("fd00::5", "fixed"), ("10.0.0.5", "fixed")]),
    server("s1", "web-1", "compute1", net=[("10.0.0.4", "fixed"), ("172.24.0.9", "floating")], other=[("192.168.9.9", "fixed")]),
    server("s3", "db-1", "compute1", status="SHUTOFF", net=[("10.0.0.6", "fixed")]),
    server("s4", "bare", "compute2"),
    server("s5", "elsewhere", "compute9", net=[("10.0.0.9", "fixed")]),
]


def test_targets_are_the_active_servers_of_the_hosts_with_their_fixed_ipv4_on_the_network():
    targets, skipped = probe_targets(SERVERS, ["compute1", "compute2"], "net")
    assert targets == [{"id": "s1", "name": "web-1", "address": "10.0.0.4", "network": "net", "host": "compute1"},
                       {"id": "s2", "name": "web-2", "address": "10.0.0.5", "network": "net", "host": "compute2"}]
    assert [(s["name"], s["reason"]) for s in skipped] == [("db-1", "status SHUTOFF"),
                                                           ("bare", "no fixed IPv4 address on network 'net'")]


def test_without_a_network_the_first_network_in_name_order_and_without_hosts_every_host():
    targets, _skipped = probe_targets(SERVERS, [], None)
    assert {t["name"]: (t["network"], t["address"]) for t in targets} == {
        "web-1": ("net", "10.0.0.4"), "web-2": ("net", "10.0.0.5"), "elsewhere": ("net", "10.0.0.9")}


def probe_report():
    mk = lambda name, addr, sent, lost, gap: {"name": name, "address": addr, "sent": sent, "received": sent - lost,  # noqa: E731
                                              "lost": lost, "longest_gap_ms": gap, "gaps_total": 1 if lost else 0,
                                              "gaps": [], "duplicates": 0, "answered_warmup": True, "rtt_max_ms": 3.0}
    return {"rate": 200, "started": 10.0, "ended": 70.0, "duration_s": 60.0,
            "instances": {"s1": mk("web-1", "10.0.0.4", 12000, 90, 455.0), "s2": mk("web-2", "10.0.0.5", 12000, 0, 9.0)},
            "worst": {"id": "s1", "name": "web-1", "address": "10.0.0.4", "sent": 12000, "lost": 90, "longest_gap_ms": 455.0},
            "sent": 24000, "lost": 90, "longest_gap_ms": 455.0, "unanswered": []}


def test_report_section_keeps_the_figures_per_instance_and_the_host_at_start():
    targets, _skipped = probe_targets(SERVERS, ["compute1", "compute2"], "net")
    section = report_section(probe_report(), targets)
    assert section["instances"]["s1"]["host_at_start"] == "compute1"
    assert section["instances"]["s2"]["sent"] == 12000 and "rtt_max_ms" not in section["instances"]["s2"]
    assert section["worst"]["name"] == "web-1" and section["rate"] == 200
    assert report_section(None) is None
    assert report_section({"failed": True, "msg": "Failed to run the UDP probe: x"}) == {"failed": True, "msg": "Failed to run the UDP probe: x"}


def test_summary_names_the_worst_instance():
    assert summary_line(report_section(probe_report())) == (
        "probe: 2 instance(s) at 200 pkt/s each, 90 of 24000 lost; worst web-1 (10.0.0.4) lost 90 of 12000, longest gap 455.0 ms")
    assert summary_line(None) is None
    assert summary_line({"failed": True, "msg": "boom"}) == "probe: FAILED (boom)"
    never = {**probe_report(), "unanswered": ["s2"]}
    assert summary_line(report_section(never)).endswith("; never answered: s2")
