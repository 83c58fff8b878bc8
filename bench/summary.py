# SPDX-License-Identifier: Apache-2.0
"""bench/results/summary.json: the headline figures, one object per benchmark and backend.

    .venv/bin/python bench/summary.py      # after the benchmarks; bench/run.py runs it at the end

Each object: benchmark, backend, run (UTC start → end), rounds, ``medians`` (the raw medians the goals use),
``ratios`` (the ratios the goals compare) and ``goals`` ({name: {target, value, met}}; met is true or false, null
when the figure was not measured). Reads bench/results/<benchmark>-<backend>.json; a benchmark or backend with no
result file is listed under "not_measured". docs/benchmarks.md explains every field.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
BACKENDS = ("ovn", "ovs")


def _m(stat: dict[str, Any] | None) -> Any:
    return (stat or {}).get("median")


def _goal(target: str, value: Any, met: bool | None) -> dict[str, Any]:
    return {"target": target, "value": value, "met": met}


def p1(doc: dict[str, Any]) -> dict[str, Any]:
    s = doc["summary"]
    naive, coll = s["naive"], s["collection"]
    ratio = _m(s["switchover_vs_naive"])
    return {
        "medians": {"naive_lost": _m(naive["lost"]), "naive_flows_back_s": _m(naive["flows_back_after_install_s"]),
                    "naive_never_back_rounds": naive["never_back_rounds"], "naive_worst_instance_lost": _m(naive["worst_instance_lost"]),
                    "collection_install_lost": _m(coll["install_lost"]), "collection_switchover_lost": _m(coll["switchover_lost"]),
                    "collection_worst_instance_lost": _m(coll["worst_instance_lost"]),
                    "collection_longest_gap_ms": _m(coll["longest_gap_ms"]), "naive_longest_gap_ms": _m(naive["longest_gap_ms"])},
        "ratios": {"collection_switchover_vs_naive_lost": ratio},
        "goals": {"collection_install_lost_zero": _goal("0 lost during the collection's install, every round",
                                                        coll["install_lost"].get("max"),
                                                        s["goals"]["collection_install_lost_zero"]),
                  "switchover_at_most_half_naive": _goal("collection switch-over loss / naive loss <= 0.5", ratio,
                                                         s["goals"]["switchover_at_most_half_naive"])},
    }


def roll(doc: dict[str, Any]) -> dict[str, Any]:
    s = doc["summary"]
    return {
        "medians": {"lost_all_instances": _m(s["lost_all_instances"]), "lost_per_instance": _m(s["lost_per_instance"]),
                    "worst_instance_lost": _m(s["worst_instance_lost"]), "longest_gap_ms": _m(s["longest_gap_ms"]),
                    "lost_in_migration": _m(s["lost_in_migration"]), "lost_other": _m(s["lost_other"]),
                    "lost_per_move": _m(s["lost_per_move"]), "roll_s": _m(s["roll_s"])},
        "ratios": {"migration_share_of_loss": _m(s["migration_share"])},
        "goals": {},  # no goal set yet for a whole roll: figures to watch
    }


def lab_up(doc: dict[str, Any]) -> dict[str, Any]:
    s = doc["summary"]
    warm, cold, rss = _m(s["warm_up_s"]), s.get("cold_up_s"), _m(s["rss_mib"])
    cold_target = "cold labctl up <= 900 s" + (" (a figure composed of steps, not one run: not judged)"
                                               if s.get("cold_up_composed") else "")
    return {"medians": {"warm_up_s": warm, "cold_up_s": cold, "rss_mib": rss,
                        "mem_available_drop_mib": _m(s["mem_available_drop_mib"])},
            "ratios": {},
            # docs/lab.md's limits
            "goals": {"cold_up_at_most_15_min": _goal(cold_target, cold, None if cold is None or s.get("cold_up_composed") else cold <= 900),
                      "warm_up_at_most_3_min": _goal("warm labctl up <= 180 s", warm, None if warm is None else warm <= 180),
                      "rss_at_most_4_gib": _goal("whole lab RSS <= 4096 MiB", rss, None if rss is None else rss <= 4096)}}


KINDS = {"p1_dataplane": p1, "roll_loss": roll, "lab_up": lab_up}


def build() -> dict[str, Any]:
    objects, missing = [], []
    for name, fn in KINDS.items():
        for backend in BACKENDS:
            path = RESULTS / f"{name}-{backend}.json"
            if not path.exists():
                missing.append(f"{name}/{backend}")
                continue
            doc = json.loads(path.read_text())
            objects.append({"benchmark": name, "backend": backend, "run": f"{doc['started']} → {doc.get('finished')}",
                            "rounds": doc.get("rounds"), **fn(doc), "source": f"bench/results/{path.name}",
                            **({"note": doc["note"]} if doc.get("note") else {})})
    return {"schema": "ndu.dataplane/bench-summary/v1", "benchmarks": objects, "not_measured": missing}


def main() -> int:
    summary = build()
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    for o in summary["benchmarks"]:
        goals = ", ".join(f"{k}: {'met' if g['met'] else 'NOT met' if g['met'] is False else '-'}" for k, g in o["goals"].items())
        print(f"{o['benchmark']:<13} {o['backend']}: {o['medians']} {o['ratios']} {goals}")
    if summary["not_measured"]:
        print(f"not measured: {', '.join(summary['not_measured'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
