# SPDX-License-Identifier: Apache-2.0
"""Pure parts of the benchmarks: which part of an instance's loss came from its live-migration moves (roll_loss),
and bench/results/summary.json built from result files (summary.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import roll_loss  # noqa: E402
import summary  # noqa: E402


def report() -> dict:
    gap = lambda start, end, lost: {"start": start, "end": end, "ms": (end - start) * 1000, "lost": lost}  # noqa: E731
    t0 = 1796160000.0
    iso = lambda t: __import__("datetime").datetime.fromtimestamp(t, tz=__import__("datetime").timezone.utc).isoformat(timespec="seconds")  # noqa: E731
    host = lambda moved, lm: {"instances_moved": moved, "timeline": [  # noqa: E731
        {"step": "drain", "started": iso(lm[0] - 2), "finished": iso(lm[0])},
        {"step": "live_migrate", "started": iso(lm[0]), "finished": iso(lm[1])},
        {"step": "ovs_reload", "started": iso(lm[1] + 5), "finished": iso(lm[1] + 8)}]}
    return {"result": "succeeded", "seconds": 100.0, "hosts": {
        "compute1": host([{"id": "a", "status": "moved"}], (t0 + 10, t0 + 20)),
        "compute2": host([{"id": "b", "status": "moved"}, {"id": "a", "status": "moved"}], (t0 + 40, t0 + 50))},
        "probe": {"sent": 4000, "lost": 130, "worst": {"name": "a", "lost": 120, "sent": 2000},
                  "instances": {"a": {"name": "a", "host_at_start": "compute1", "sent": 2000, "lost": 120, "longest_gap_ms": 400,
                                      "gaps_total": 3, "gaps": [gap(t0 + 15, t0 + 15.4, 80), gap(t0 + 45, t0 + 45.2, 30),
                                                                gap(t0 + 70, t0 + 70.05, 10)]},
                                "b": {"name": "b", "host_at_start": "compute2", "sent": 2000, "lost": 10, "longest_gap_ms": 60,
                                      "gaps_total": 1, "gaps": [gap(t0 + 20, t0 + 20.05, 10)]}}}}


def test_loss_during_the_moves_of_each_instance_is_split_from_the_rest():
    out = roll_loss.analyse(report())
    a, b = out["instances"]["a"], out["instances"]["b"]
    assert (a["lost_in_migration"], a["lost_other"], a["moves"]) == (110, 10, 2)
    # b's gap is during compute1's live_migrate, but compute1 did not move b: not its move
    assert (b["lost_in_migration"], b["lost_other"], b["moves"]) == (0, 10, 1)
    assert (out["lost_in_migration"], out["lost_other"]) == (110, 20)
    s = roll_loss.summarise([out])
    assert s["migration_share"]["median"] == round(110 / 130, 3) and s["lost_per_move"]["median"] == 27.5


def test_summary_has_one_object_per_benchmark_and_backend_and_names_what_was_not_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(summary, "RESULTS", tmp_path)
    st = lambda v: {"n": 3, "median": v, "min": v, "max": v}  # noqa: E731
    path = {"install_lost": st(0), "switchover_lost": st(700), "lost": st(700), "longest_gap_ms": st(350), "install_s": st(9),
            "switchover_s": st(8), "flows_back_after_install_s": st(0.4), "never_back_rounds": 0, "worst_instance_lost": st(360)}
    naive = {**path, "install_lost": st(3000), "lost": st(5000), "flows_back_after_install_s": st(4.2)}
    doc = {"started": "2026-12-01T22:00:00Z", "finished": "2026-12-01T22:10:00Z", "rounds": 3,
           "summary": {"naive": naive, "collection": path, "switchover_vs_naive": st(0.14),
                       "goals": {"collection_install_lost_zero": True, "switchover_at_most_half_naive": True}}}
    (tmp_path / "p1_dataplane-ovn.json").write_text(json.dumps(doc))
    out = summary.build()
    assert [(o["benchmark"], o["backend"]) for o in out["benchmarks"]] == [("p1_dataplane", "ovn")]
    p1 = out["benchmarks"][0]
    assert p1["medians"]["naive_lost"] == 5000 and p1["medians"]["naive_flows_back_s"] == 4.2
    assert p1["ratios"] == {"collection_switchover_vs_naive_lost": 0.14}
    assert p1["goals"]["switchover_at_most_half_naive"] == {"target": "collection switch-over loss / naive loss <= 0.5",
                                                            "value": 0.14, "met": True}
    assert "p1_dataplane/ovs" in out["not_measured"] and "roll_loss/ovn" in out["not_measured"]
