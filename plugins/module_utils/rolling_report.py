# SPDX-License-Identifier: Apache-2.0
"""The rolling upgrade's report: per-host records in, JSON report and summary out.

The playbook keeps one record per rolled host (steps with the time each
started, what the roles returned); ``build_report`` turns them and the plan
into the report documented in docs/report-schema.md, ``summary_lines`` into
the text printed at the end. Plain functions, no Ansible imports.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ansible_collections.ndu.dataplane.plugins.module_utils.instance_probe import report_section, summary_line

SCHEMA = "ndu.dataplane/rolling-report/v1"
MOVED = "moved"


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(float(epoch), tz=timezone.utc).isoformat(timespec="seconds")


def timeline(marks: list[dict[str, Any]], finished: float | None) -> list[dict[str, Any]]:
    """Steps with start, end and seconds from marks ``{step, at}`` in order; a step ends where the next starts."""
    steps = []
    for index, mark in enumerate(marks):
        end = marks[index + 1]["at"] if index + 1 < len(marks) else finished
        start = float(mark["at"])
        steps.append({"step": mark["step"], "started": _iso(start), "finished": _iso(end),
                      "seconds": round(float(end) - start, 1) if end is not None else None})
    return steps


def _instances(records: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [{"id": r.get("id"), "name": r.get("name"), "from": r.get("from"), "to": r.get("to"),
             "seconds": round(float(r.get("seconds") or 0), 1), "status": r.get("status")} for r in records or []]


def host_entry(record: dict[str, Any]) -> dict[str, Any]:
    """One host of the report from the playbook's record."""
    marks = record.get("marks") or []
    started = float(marks[0]["at"]) if marks else None
    finished = record.get("finished_at")
    return {
        "host": record["host"], "nova_host": record.get("nova_host"), "batch": record.get("batch"),
        "status": record.get("status", "failed"), "action": record.get("action"),
        "strategy": record.get("strategy"), "strategy_reason": record.get("strategy_reason"),
        "started": _iso(started), "finished": _iso(finished),
        "seconds": round(float(finished) - started, 1) if started is not None and finished is not None else None,
        "timeline": timeline(marks, finished),
        "instances_moved": _instances(record.get("instances")),
        "instances_returned": _instances(record.get("migrated_back")),
        "packages": {"before": record.get("packages_before") or {}, "after": record.get("packages_after") or {}},
        "switchover": record.get("switchover"),
        "flow_verify": record.get("flow_verify"),
        "reboot": record.get("reboot"),
        "rollback": record.get("rollback"),
        "failure": record.get("failure"),
        "compute_service": record.get("compute_service"),
    }


def build_report(records: list[dict[str, Any]], the_plan: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The whole report. ``meta``: started, finished (epoch), check_mode, parameters, and the per-instance probe's
    report (``probe``) with the targets it was given (``probe_targets``) once it has stopped."""
    hosts: dict[str, Any] = {}
    for name, planned in (the_plan.get("hosts") or {}).items():
        status = "skipped" if planned["action"] == "skip" else "not_reached"
        hosts[name] = {"host": name, "nova_host": planned.get("nova_host"), "batch": planned.get("batch"), "status": status,
                       "action": planned["action"], "reasons": planned.get("reasons"),
                       "strategy": planned.get("strategy"), "strategy_reason": planned.get("strategy_reason")}
    for record in records:
        if record and record.get("host"):
            entry = host_entry(record)
            entry["reasons"] = hosts.get(record["host"], {}).get("reasons")
            hosts[record["host"]] = entry
    count = {s: sum(1 for h in hosts.values() if h["status"] == s)
             for s in ("rolled", "skipped", "rolled_back", "failed", "unsafe", "not_reached")}
    moved = [i for h in hosts.values() for i in h.get("instances_moved", []) if i["status"] == MOVED]
    returned = [i for h in hosts.values() for i in h.get("instances_returned", []) if i["status"] == MOVED]
    probe = report_section(meta.get("probe"), meta.get("probe_targets"))
    measured = probe is not None and not probe.get("failed")
    if meta.get("check_mode"):
        result = "planned"
    elif not the_plan.get("batches"):
        result = "nothing_to_do"
    elif count["rolled_back"] or count["failed"] or count["unsafe"]:
        result = "failed"
    elif count["not_reached"]:
        result = "incomplete"
    else:
        result = "succeeded"
    started, finished = meta.get("started"), meta.get("finished")
    return {
        "schema": SCHEMA, "result": result, "check_mode": bool(meta.get("check_mode")),
        "started": _iso(started), "finished": _iso(finished),
        "seconds": round(float(finished) - float(started), 1) if started and finished else None,
        "parameters": meta.get("parameters") or {},
        "batches": the_plan.get("batches") or [],
        "hosts": hosts,
        "probe": probe,
        "totals": {
            "hosts": len(hosts), **count,
            "instances_moved": len(moved), "instances_returned": len(returned),
            "migration_seconds": round(sum(i["seconds"] for i in moved + returned), 1),
            "probe_sent": probe["sent"] if measured else None,
            "probe_lost": probe["lost"] if measured else None,
            "probe_longest_gap_ms": probe["longest_gap_ms"] if measured else None,
        },
    }


def _host_line(h: dict[str, Any]) -> str:
    if h["status"] in ("skipped", "not_reached"):
        return f"  {h['host']}: {h['status'].replace('_', ' ')} ({'; '.join(h.get('reasons') or [])})"
    pkgs = h["packages"]
    versions = sorted(set(pkgs["after"].values())) or ["?"]
    before = sorted(set(pkgs["before"].values())) or ["?"]
    sw = h.get("switchover") or {}
    parts = [f"{h['status'].replace('_', ' ')} in {h['seconds']} s", f"strategy {h['strategy']}",
             f"OVS {', '.join(before)} -> {', '.join(versions)}" if before != versions else f"OVS {', '.join(versions)}"]
    if sw.get("mode"):
        parts.append(f"switch-over {sw['mode']} (PID {sw.get('pid_before')} -> {sw.get('pid_after')})")
    moved = [i for i in h["instances_moved"] if i["status"] == MOVED]
    if moved:
        parts.append(f"{len(moved)} instance(s) moved ({round(sum(i['seconds'] for i in moved), 1)} s)")
    fv = h.get("flow_verify")
    if fv:
        parts.append("flows match" if fv.get("ok") else "FLOWS DIFFER")
    line = f"  {h['host']}: " + "; ".join(parts)
    if h.get("failure"):
        line += f"\n    failed at {h['failure'].get('step')}: {h['failure'].get('msg')}"
    if h.get("rollback"):
        rb = h["rollback"]
        line += f"\n    rollback {'ok' if rb.get('ok') else 'FAILED'}: {rb.get('summary')}"
    cs = h.get("compute_service") or {}
    if cs.get("status") == "disabled" and cs.get("left_disabled_because"):
        line += f"\n    nova-compute left DISABLED: {cs['left_disabled_because']}"
    elif cs.get("status") == "disabled":
        line += f"\n    nova-compute stays disabled, as someone else left it ({cs.get('disabled_reason')})"
    return line


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The human summary of a report."""
    t = report["totals"]
    if report["result"] == "planned":
        head = (f"Check mode, nothing was changed: {sum(1 for h in report['hosts'].values() if h['status'] == 'not_reached')} "
                f"host(s) would roll in {len(report['batches'])} batch(es), {t['skipped']} skipped.")
    elif report["result"] == "nothing_to_do":
        head = f"Nothing to do: all {t['hosts']} host(s) are already upgraded and enabled."
    else:
        head = (f"Roll {report['result'].upper()}: {t['rolled']} rolled, {t['skipped']} skipped, {t['rolled_back']} rolled back, "
                f"{t['failed']} failed, {t['unsafe']} unsafe, {t['not_reached']} not reached; "
                f"{t['instances_moved']} instance(s) moved, {t['instances_returned']} returned"
                + (f"; probe lost {t['probe_lost']} of {t['probe_sent']} packets" if t.get("probe_sent") is not None else "")
                + (f"; {report['seconds']} s in all." if report.get("seconds") is not None else "."))
    lines = [head]
    if summary_line(report.get("probe")):
        lines.append(summary_line(report.get("probe")))
    for number, batch in enumerate(report["batches"], start=1):
        lines.append(f"Batch {number}: {', '.join(batch)}")
        lines.extend(_host_line(report["hosts"][name]) for name in batch if name in report["hosts"])
    skipped = [h for h in report["hosts"].values() if h["status"] == "skipped"]
    lines.extend(_host_line(h) for h in skipped)
    return lines
