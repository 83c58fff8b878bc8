# SPDX-License-Identifier: Apache-2.0
"""The roll record of one host: what the rolling upgrade did to it, and what it must do next.

The playbook keeps one record per host of a batch (the fact ``ndu_roll_record``). It never edits it: every step,
failure, read-back, rollback and restore is an *event* handed to :func:`next_record`, which returns the next record.
The record carries the decisions the YAML acts on: ``status``, ``rollback_needed``, ``unsafe_reason`` (and the Nova
disabled reason that goes with it) and the report entry (``report``, see docs/report-schema.md).

Plain functions, no Ansible imports, so unit tests call them directly.
"""
from __future__ import annotations

import copy
from typing import Any, Callable

from ansible_collections.ndu.dataplane.plugins.module_utils import rolling_report

SCHEMA = "ndu.dataplane/roll-record/v1"
STATUSES = ("running", "rolled", "failed", "rolled_back", "unsafe")
# A failure at or after the switch-over always needs a rollback: the daemon may run the new binary.
CHANGING_STEPS = ("ovs_reload", "flow_verify", "reboot")
EVENTS = ("mark", "step", "host_read", "rollback_done", "restore", "finish")


class RecordError(ValueError):
    """An event the record cannot take (a bug in the wiring, not in the host)."""


def _text(value: Any, fallback: str = "unknown error") -> str:
    text = str(value if value is not None else "").strip()
    return text or fallback


def versions_before(facts: dict[str, Any], target_version: str) -> dict[str, str]:
    """The versions a rollback goes back to: the on-host record of an unfinished roll to the same target, else what
    is installed now."""
    state = facts.get("state") or {}
    if state and state.get("target_version") == target_version and state.get("versions_before"):
        return dict(state["versions_before"])
    return dict((facts.get("packages") or {}).get("installed") or {})


def new_record(host: str, plan_entry: dict[str, Any], facts: dict[str, Any], target_version: str) -> dict[str, Any]:
    """The record of a host that starts its roll (``plan_entry``: the plan's entry for it; ``facts``: what was read)."""
    before = versions_before(facts, target_version)
    return {
        "schema": SCHEMA, "host": host, "nova_host": plan_entry.get("nova_host", host), "batch": plan_entry.get("batch"),
        "action": plan_entry.get("action"), "strategy": plan_entry.get("strategy"),
        "strategy_reason": plan_entry.get("strategy_reason"), "target_version": target_version,
        "status": "running", "phase": "roll", "step": None, "marks": [], "finished_at": None,
        "packages_before": before, "packages_after": {},
        "instances": [], "migrated_back": [], "switchover": None, "flow_verify": None, "probe": None, "reboot": None,
        "probe_running": False, "snapshot_taken": False, "answers": True,
        "rollback_needed": False, "rollback": None, "rollback_steps": {},
        "unsafe_reason": None, "nova_reason": None, "failure": None, "restore_errors": [], "compute_service": None,
        "last_step": None, "report": None,
    }


# ---- what each step's result adds to the record ------------------------------------------------------------------
def _fold_live_migrate(rec: dict[str, Any], result: dict[str, Any]) -> None:
    rec["instances"] = list(result.get("instances") or [])


def _fold_flow_snapshot(rec: dict[str, Any], result: dict[str, Any]) -> None:
    rec["snapshot_taken"] = bool(result.get("snapshot")) or rec["snapshot_taken"]
    rec["probe_running"] = bool(result.get("probe_running"))


def _fold_ovs_upgrade(rec: dict[str, Any], result: dict[str, Any]) -> None:
    if result.get("versions_after"):
        rec["packages_after"] = dict(result["versions_after"])


def _fold_ovs_reload(rec: dict[str, Any], result: dict[str, Any]) -> None:
    rec["switchover"] = {"mode": result.get("mode") or "unknown", "pid_before": result.get("pid_before"),
                         "pid_after": result.get("pid_after"), "ok": bool(result.get("ok"))}


def _fold_flow_verify(rec: dict[str, Any], result: dict[str, Any]) -> None:
    if "ok" in result:
        rec["flow_verify"] = {"ok": bool(result["ok"]), "summary": list(result.get("summary") or [])}
    if result.get("probe"):
        rec["probe"] = dict(result["probe"])
    if "probe_running" in result:
        rec["probe_running"] = bool(result["probe_running"])


def _fold_reboot(rec: dict[str, Any], result: dict[str, Any]) -> None:
    rec["reboot"] = {k: result.get(k) for k in ("rebooted", "reasons", "elapsed")}


def _fold_undrain(rec: dict[str, Any], result: dict[str, Any]) -> None:
    rec["migrated_back"] = list(result.get("migrated_back") or [])
    if result.get("service"):
        rec["compute_service"] = _service(result["service"], None)


_FOLD: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    "live_migrate": _fold_live_migrate, "flow_snapshot": _fold_flow_snapshot, "ovs_upgrade": _fold_ovs_upgrade,
    "ovs_reload": _fold_ovs_reload, "flow_verify": _fold_flow_verify, "reboot": _fold_reboot, "undrain": _fold_undrain,
}


def _service(service: dict[str, Any] | None, left_disabled_because: str | None) -> dict[str, Any] | None:
    if not service:
        return None
    return {"status": service.get("status"), "state": service.get("state"), "disabled_reason": service.get("disabled_reason"),
            "ours": service.get("ours"), "left_disabled_because": left_disabled_because}


def _one_version(versions: dict[str, str]) -> str | None:
    found = set(versions.values())
    return found.pop() if len(found) == 1 else None


def _unsafe(rec: dict[str, Any], reason: str, summary: str, unreachable: bool = False) -> None:
    step = (rec.get("failure") or {}).get("step") or rec.get("step") or "?"
    rec["status"] = "unsafe"
    rec["rollback_needed"] = False
    rec["unsafe_reason"] = reason
    rec["rollback"] = {"ok": False, "versions": dict(rec["packages_before"]), "summary": summary}
    if unreachable:
        rec["nova_reason"] = (f"UNSAFE: the host stopped answering during the dataplane upgrade (step {step}); "
                              "bring it back, check Open vSwitch, then re-run the roll")
    else:
        rec["nova_reason"] = (f"UNSAFE: the dataplane upgrade failed at {step} and its rollback did not work; "
                              "repair Open vSwitch by hand, then re-run the roll")


def _lost(rec: dict[str, Any], msg: str) -> None:
    host = rec["host"]
    rec["answers"] = False
    what = f"it does not answer ({_text(msg, 'unreachable')})"
    _unsafe(rec, what, f"{host} could not be rolled back: {what}. The host stays drained. Next: bring {host} back "
                       "(console, power), check 'systemctl status ovs-vswitchd' there, then re-run.", unreachable=True)


# ---- events ------------------------------------------------------------------------------------------------------
def _on_mark(rec: dict[str, Any], event: dict[str, Any]) -> None:
    rec["step"] = event["step"]
    rec["marks"].append({"step": event["step"], "at": float(event["at"])})


def step_event(rec: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """What a progress display needs about the step that just ended (the fact ``ndu_step``)."""
    marks = rec["marks"]
    at = event.get("at")
    failed = event.get("failed")
    phase = event.get("phase", "roll")
    rollback = phase != "roll"
    if failed:
        word = "failed"
    elif event.get("skipped"):
        word = "skipped"
    elif (event.get("result") or {}).get("changed"):
        word = "changed"
    else:
        word = "ok"
    started = marks[-1]["at"] if marks else None
    return {
        "host": rec["host"], "batch": rec.get("batch"), "batches": event.get("batches"),
        "step": f"{phase}:{event['step']}" if rollback else event["step"],
        "index": 0 if rollback else event.get("index"), "count": event.get("count"), "result": word,
        "seconds": round(float(at) - float(started), 1) if at is not None and started is not None else None,
        "elapsed": round(float(at) - float(marks[0]["at"]), 1) if at is not None and marks else None,
        "instances_moved": sum(1 for i in rec["instances"] if i.get("status") == "moved"),
        "msg": _text(failed.get("msg")) if failed else None,
    }


def _on_step(rec: dict[str, Any], event: dict[str, Any]) -> None:
    _fold_step(rec, event)
    rec["last_step"] = step_event(rec, event)


def _fold_step(rec: dict[str, Any], event: dict[str, Any]) -> None:
    step = event["step"]
    result = event.get("result") or {}
    failed = event.get("failed")
    if event.get("phase", "roll") == "restore":
        if failed:
            _on_restore(rec, {"error": f"{step}: {_text(failed.get('msg'))}", "task": failed.get("task")})
        elif result.get("service") and not event.get("skipped"):
            _on_restore(rec, {"service": result["service"]})
        return
    if event.get("phase", "roll") == "rollback":
        rec["rollback_steps"][step] = {"ok": not failed, "result": _rollback_view(step, result)}
        if failed and rec["status"] != "unsafe":
            msg = f"{_text(failed.get('msg'))} (at '{_text(failed.get('task'), '?')}')"
            host = rec["host"]
            _unsafe(rec, msg, f"{host} could not be rolled back: {msg}. The host stays drained. Next: repair Open vSwitch "
                              f"on {host} by hand (ndu.dataplane.rollback playbook, 'systemctl status ovs-vswitchd'), "
                              "then re-run.")
        return
    if result and step in _FOLD:
        _FOLD[step](rec, result)
    if failed and rec["failure"] is None:
        rec["failure"] = {"step": step, "task": _text(failed.get("task"), "unknown task"), "msg": _text(failed.get("msg"))}
        rec["status"] = "failed"
        rec["rollback_needed"] = step in CHANGING_STEPS
        if step == "ovs_reload" and not result:
            rec["switchover"] = {"mode": "unknown", "pid_before": None, "pid_after": None, "ok": False}
        if event.get("unreachable"):
            _lost(rec, failed.get("msg"))


def _rollback_view(step: str, result: dict[str, Any]) -> dict[str, Any]:
    keys = {"ovs_upgrade": ("changed", "versions_before", "versions_after"), "ovs_reload": ("mode", "pid_before", "pid_after", "ok"),
            "flow_restore": ("restored",), "flow_verify": ("ok", "summary")}.get(step, ())
    return {k: result.get(k) for k in keys}


def _on_host_read(rec: dict[str, Any], event: dict[str, Any]) -> None:
    """After a failure: does the host answer, what is installed and what runs; so: is a rollback needed, allowed?"""
    if rec["status"] == "unsafe":
        return
    if not event.get("answers", True):
        _lost(rec, event.get("msg"))
        return
    if event.get("error"):
        what = f"the host could not be read: {_text(event['error'])}"
        _unsafe(rec, what, f"{rec['host']} could not be rolled back: {what}. The host stays drained. Next: repair Open "
                           f"vSwitch on {rec['host']} by hand, then re-run.")
        return
    installed = dict(event.get("installed") or {})
    daemon = event.get("vswitchd") or {}
    changed = bool(installed) and installed != rec["packages_before"]
    needed = (changed or not daemon.get("running", True) or bool(event.get("switchover_needed"))
              or (rec.get("failure") or {}).get("step") in CHANGING_STEPS)
    rec["vswitchd_running"] = bool(daemon.get("running", True))
    if not needed:
        rec["rollback_needed"] = False
        return
    if not event.get("rollback_allowed", True):
        what = "rollback is disabled (ndu_rollback=false)"
        _unsafe(rec, what, f"{rec['host']} was not rolled back: {what}. The host stays drained. Next: repair Open vSwitch "
                           f"on {rec['host']} by hand (ndu.dataplane.rollback playbook), then re-run.")
        return
    if _one_version(rec["packages_before"]) is None:
        what = f"the recorded versions {rec['packages_before']} differ per package; put them back by hand"
        _unsafe(rec, what, f"{rec['host']} could not be rolled back: {what}. The host stays drained.")
        return
    rec["rollback_needed"] = True
    rec["phase"] = "rollback"


def rollback_target(rec: dict[str, Any]) -> str | None:
    """The one version every package goes back to (None when they differ)."""
    return _one_version(rec["packages_before"])


def _on_rollback_done(rec: dict[str, Any], event: dict[str, Any]) -> None:
    if rec["status"] == "unsafe" or not rec["rollback_needed"]:
        return
    steps = rec["rollback_steps"]
    upgrade = (steps.get("ovs_upgrade") or {}).get("result") or {}
    reload_ = (steps.get("ovs_reload") or {}).get("result") or {}
    verified = (steps.get("flow_verify") or {}).get("ok")
    target = rollback_target(rec)
    packages = f"packages back to {target}" if upgrade.get("changed") else "packages were unchanged"
    mode = reload_.get("mode")
    if mode == "start":
        how = f"was not running and was started again (PID {reload_.get('pid_after')})"
        if (steps.get("flow_restore") or {}).get("ok"):
            how += ", flows restored from the snapshot"
    elif mode in (None, "none"):
        how = f"already ran the restored binary (PID {reload_.get('pid_after')})"
    else:
        how = f"was switched over ({mode}, PID {reload_.get('pid_before')} -> {reload_.get('pid_after')})"
    flows = "match the snapshot" if verified else "not checked (no snapshot)"
    rec["status"] = "rolled_back"
    rec["rollback_needed"] = False
    rec["rollback"] = {"ok": True, "versions": dict(rec["packages_before"]), "summary": f"{packages}; ovs-vswitchd {how}; flows {flows}"}


def _on_restore(rec: dict[str, Any], event: dict[str, Any]) -> None:
    """The always part: the compute service as it was left, and any task of it that failed (Nova down)."""
    if event.get("error"):
        msg = _text(event["error"])
        rec["restore_errors"].append(msg)
        if rec["failure"] is None:
            rec["failure"] = {"step": "restore", "task": _text(event.get("task"), "unknown task"), "msg": msg}
            rec["status"] = "failed" if rec["status"] in ("running", "rolled") else rec["status"]
    if event.get("service"):
        because = (f"the host is unsafe after a failed rollback: {rec['rollback']['summary'] if rec['rollback'] else 'no rollback ran'}"
                   if rec["status"] == "unsafe" else None)
        rec["compute_service"] = _service(event["service"], because)


def _on_finish(rec: dict[str, Any], event: dict[str, Any]) -> None:
    if not event.get("answers", True) and rec["status"] != "unsafe":
        if rec["failure"] is None:
            rec["failure"] = {"step": rec.get("step") or "?", "task": "read the host at the end", "msg": _text(event.get("msg"), "unreachable")}
        _lost(rec, event.get("msg"))
    if event.get("installed"):
        rec["packages_after"] = dict(event["installed"])
    if rec["status"] == "running":
        rec["status"] = "rolled"
    rec["finished_at"] = float(event["at"])


_EVENTS: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    "mark": _on_mark, "step": _on_step, "host_read": _on_host_read, "rollback_done": _on_rollback_done,
    "restore": _on_restore, "finish": _on_finish,
}


def next_record(record: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The record after ``event`` (a dict with ``event``: one of EVENTS, and its data). The input is not changed."""
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise RecordError(f"expected a roll record ({SCHEMA}), got {type(record).__name__}")
    kind = (event or {}).get("event")
    if kind not in _EVENTS:
        raise RecordError(f"unknown roll record event {kind!r}: use one of {', '.join(EVENTS)}")
    rec = copy.deepcopy(record)
    _EVENTS[kind](rec, event)
    rec["report"] = rolling_report.host_entry({k: v for k, v in rec.items() if k != "report"})
    return rec


def step_skip_reason(record: dict[str, Any], step: dict[str, Any]) -> str | None:
    """Why the step table's ``step`` does not run for this record (None: it runs). ``step.only`` lists conditions,
    all of which must hold: a strategy name (``evacuate``, ``in_place``), ``snapshot`` (a snapshot was taken),
    ``answers`` (the host answers), ``probe_running``, ``safe`` / ``unsafe`` (no unsafe reason / one),
    ``started`` (this rollback had to start ovs-vswitchd from nothing); ``enabled: false`` switches the step off."""
    if str(step.get("enabled", True)).strip().lower() in ("false", "0", "no", "off"):
        return "switched off"
    only = step.get("only") or []
    if isinstance(only, str):
        only = [only]
    for cond in only:
        if cond in ("evacuate", "in_place"):
            if record.get("strategy") != cond:
                return f"{record.get('strategy')}: only with {cond}"
        elif cond == "snapshot":
            if not record.get("snapshot_taken"):
                return "no snapshot was taken"
        elif cond == "answers":
            if not record.get("answers", True):
                return "the host does not answer"
        elif cond == "probe_running":
            if not record.get("probe_running"):
                return "no probe runs"
        elif cond in ("safe", "unsafe"):
            if (record.get("unsafe_reason") is None) != (cond == "safe"):
                return f"the host is {'unsafe' if cond == 'safe' else 'safe'}"
        elif cond == "started":
            reload_ = (record.get("rollback_steps", {}).get("ovs_reload") or {}).get("result") or {}
            if reload_.get("mode") != "start":
                return "ovs-vswitchd kept running"
        else:
            raise RecordError(f"step {step.get('name')}: unknown condition {cond!r}")
    return None
