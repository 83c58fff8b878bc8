# SPDX-License-Identifier: Apache-2.0
"""The rolling upgrade report (plugins/module_utils/rolling_report.py) and the rolling_* filters."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ndu.dataplane.plugins.filter.rolling import FilterModule
from ansible_collections.ndu.dataplane.plugins.module_utils import rolling_report

FILTERS = FilterModule().filters()
PLAN = {"batches": [["c1"], ["c2"]], "hosts": {
    "c1": {"nova_host": "c1", "action": "roll", "reasons": ["ovs 1 -> 2"], "strategy": "evacuate", "strategy_reason": "requested", "batch": 1},
    "c2": {"nova_host": "c2", "action": "roll", "reasons": ["ovs 1 -> 2"], "strategy": "evacuate", "strategy_reason": "requested", "batch": 2},
    "c3": {"nova_host": "c3", "action": "skip", "reasons": ["already at 2"], "strategy": "evacuate", "strategy_reason": "requested"}}}


def record(host: str, **over) -> dict:
    base = {"host": host, "nova_host": host, "batch": 1, "status": "rolled", "action": "roll", "strategy": "evacuate",
            "marks": [{"step": "preflight", "at": 100.0}, {"step": "drain", "at": 101.5}, {"step": "live_migrate", "at": 102.0}],
            "finished_at": 130.0,
            "instances": [{"id": "i1", "name": "web", "from": host, "to": "c2", "seconds": 8.44, "status": "moved"},
                          {"id": "i2", "name": "off", "from": host, "to": None, "seconds": 0, "status": "left"}],
            "packages_before": {"ovs": "1"}, "packages_after": {"ovs": "2"},
            "switchover": {"mode": "flow_preserving", "pid_before": 10, "pid_after": 20, "ok": True},
            "flow_verify": {"ok": True, "summary": []},
            "rollback": None, "failure": None, "compute_service": {"status": "enabled"}}
    base.update(over)
    return base


def test_timeline_steps_end_where_the_next_starts():
    steps = rolling_report.timeline([{"step": "a", "at": 0}, {"step": "b", "at": 2.25}], 5)
    assert [(s["step"], s["seconds"]) for s in steps] == [("a", 2.2), ("b", 2.8)]
    assert steps[0]["started"] == "1970-01-01T00:00:00+00:00"


PROBE = {"rate": 200, "started": 91.0, "ended": 139.0, "duration_s": 48.0, "sent": 2000, "received": 1980, "lost": 20, "longest_gap_ms": 420.0,
         "instances": {"i1": {"name": "web", "address": "10.0.0.4", "sent": 1000, "received": 980, "lost": 20, "longest_gap_ms": 420.0,
                              "gaps_total": 1, "gaps": [{"start": 120.0, "end": 120.42, "ms": 420.0, "lost": 20, "offset_s": 29.0}],
                              "duplicates": 0, "answered_warmup": True, "rtt_max_ms": 2.0},
                       "i3": {"name": "db", "address": "10.0.0.5", "sent": 1000, "received": 1000, "lost": 0, "longest_gap_ms": 6.0,
                              "gaps_total": 0, "gaps": [], "duplicates": 0, "answered_warmup": True, "rtt_max_ms": 1.0}},
         "worst": {"id": "i1", "name": "web", "address": "10.0.0.4", "sent": 1000, "lost": 20, "longest_gap_ms": 420.0}, "unanswered": []}


def test_report_of_a_full_roll():
    report = rolling_report.build_report([record("c1"), record("c2", batch=2)], PLAN,
                                         {"started": 90, "finished": 140, "parameters": {"strategy": "evacuate"},
                                          "probe": PROBE, "probe_targets": [{"id": "i1", "host": "c1"}, {"id": "i3", "host": "c2"}]})
    assert report["schema"] == "ndu.dataplane/rolling-report/v1"
    assert report["result"] == "succeeded"
    assert report["seconds"] == 50.0
    c1 = report["hosts"]["c1"]
    assert c1["seconds"] == 30.0 and c1["timeline"][-1] == {"step": "live_migrate", "started": c1["timeline"][-1]["started"],
                                                            "finished": c1["finished"], "seconds": 28.0}
    assert "probe" not in c1  # the probe is per instance, for the whole roll
    probe = report["probe"]
    assert probe["instances"]["i1"]["lost"] == 20 and probe["instances"]["i1"]["host_at_start"] == "c1"
    assert probe["instances"]["i1"]["gaps"][0]["ms"] == 420.0 and probe["worst"]["name"] == "web"
    assert report["hosts"]["c3"]["status"] == "skipped"
    t = report["totals"]
    assert (t["rolled"], t["skipped"], t["instances_moved"], t["migration_seconds"], t["probe_lost"], t["probe_sent"]) == (2, 1, 2, 16.8, 20, 2000)
    text = "\n".join(rolling_report.summary_lines(report))
    assert "probe lost 20 of 2000 packets" in text
    assert "worst web (10.0.0.4) lost 20 of 1000, longest gap 420.0 ms" in text


def test_report_of_a_stopped_roll():
    rb = {"ok": True, "summary": "packages back to 1"}
    report = rolling_report.build_report([record("c1", status="rolled_back", rollback=rb, failure={"step": "ovs_reload", "msg": "boom"})],
                                         PLAN, {"started": 90, "finished": 140})
    assert report["result"] == "failed"
    assert report["hosts"]["c2"]["status"] == "not_reached"
    assert report["totals"]["rolled_back"] == 1 and report["totals"]["not_reached"] == 1
    assert report["probe"] is None and report["totals"]["probe_sent"] is None
    text = "\n".join(rolling_report.summary_lines(report))
    assert "Roll FAILED" in text and "failed at ovs_reload: boom" in text and "rollback ok: packages back to 1" in text
    assert "c2: not reached" in text


def test_unsafe_host_says_it_stays_disabled():
    rec = record("c1", status="unsafe", rollback={"ok": False, "summary": "apt failed"}, failure={"step": "ovs_reload", "msg": "x"},
                 compute_service={"status": "disabled", "disabled_reason": "[ndu.dataplane] roll", "left_disabled_because": "unsafe: apt failed"})
    text = "\n".join(rolling_report.summary_lines(rolling_report.build_report([rec], PLAN, {})))
    assert "rollback FAILED: apt failed" in text and "nova-compute left DISABLED" in text


def test_nothing_to_do_and_check_mode():
    plan = {"batches": [], "hosts": {"c3": PLAN["hosts"]["c3"]}}
    report = rolling_report.build_report([], plan, {"started": 1, "finished": 2})
    assert report["result"] == "nothing_to_do"
    assert rolling_report.summary_lines(report)[0].startswith("Nothing to do: all 1 host(s)")
    assert rolling_report.build_report([], PLAN, {"check_mode": True})["result"] == "planned"


def test_filters_reject_wrong_types():
    with pytest.raises(AnsibleFilterError, match="Failed to build the report"):
        FILTERS["rolling_report"]("x", PLAN, {})
    with pytest.raises(AnsibleFilterError, match="Failed to plan the roll"):
        FILTERS["rolling_plan"]([{"nohost": 1}], {})
    with pytest.raises(AnsibleFilterError, match="Failed to check the rolling upgrade input"):
        FILTERS["rolling_validate"]([])


def test_plan_filter_returns_a_refusal_as_one_sentence():
    # Raised, it reached the operator wrapped in "Finalization of task args for 'ansible.builtin.set_fact' failed: ...".
    f = {"host": "c1", "reboot_reasons": ["r"], "packages": {"upgrade_needed": True, "changes": {}}}
    refused = FILTERS["rolling_plan"]([f], {"strategy": "in_place", "serial": 1})["refused"]
    assert refused.startswith("The rolling upgrade did not start, nothing was changed: ndu_strategy=in_place is not safe on c1")


def test_check_mode_summary_says_nothing_changed():
    lines = rolling_report.summary_lines(rolling_report.build_report([], PLAN, {"check_mode": True}))
    assert lines[0] == "Check mode, nothing was changed: 2 host(s) would roll in 2 batch(es), 1 skipped."


def test_service_disabled_by_someone_else_is_named_as_such():
    rec = record("c1", compute_service={"status": "disabled", "disabled_reason": "hw repair", "ours": False, "left_disabled_because": None})
    text = "\n".join(rolling_report.summary_lines(rolling_report.build_report([rec], PLAN, {})))
    assert "stays disabled, as someone else left it (hw repair)" in text and "DISABLED" not in text
