# SPDX-License-Identifier: Apache-2.0
"""Stdout callback: one line per host step of a roll, and a summary at the end."""

from __future__ import annotations

DOCUMENTATION = r"""
name: progress
type: stdout
short_description: One line per host step of a rolling upgrade, and a summary at the end
version_added: 0.1.0
description:
  - A stdout callback for C(ndu.dataplane.rolling_upgrade) and C(ndu.dataplane.rollback). Instead of a banner and a
    line per task and host, it prints one line per host step (batch, host, step n/m, elapsed time of the run,
    instances moved so far, result) and, at the end, a summary read from the roll's report.
  - "A step line comes from a task result that carries C(ndu_step) (as a fact, C(ansible_facts.ndu_step), or at the
    top level of the result), which the rolling playbook emits after each step of a host. Its keys: C(host),
    C(batch), C(batches), C(step), C(index), C(count), C(result), and optionally C(seconds) (the step's duration),
    C(elapsed) (not printed; the line shows the run's own elapsed time),
    C(instances_moved) (the host's instances moved so far), C(next) (the next step) and C(msg).
    A step outside the host's step table (a rollback or restore step) has C(index) 0 and is named
    C(rollback:<step>) or C(restore:<step>)."
  - The summary comes from the C(ndu_report) that the playbook hands to C(set_stats) (docs/report-schema.md).
  - Also printed, one line each - the messages of C(ansible.builtin.debug) tasks (the plan, the playbook's
    sentences), every failure that is not ignored, every unreachable host, and the play names.
  - With C(-v) or more, every task result is printed too, one line per task and host. Any other playbook can use this
    callback in that way.
  - Under AWX or ansible-runner, set it with the environment variable C(ANSIBLE_STDOUT_CALLBACK); ansible-runner keeps
    it as the base of its own event callback, so the job output shows the same lines.
options:
  summary_hosts:
    description:
      - How many hosts in trouble (rolled back, failed, unsafe) the summary names one by one; the rest are counted.
    type: int
    default: 20
    env:
      - name: NDU_PROGRESS_SUMMARY_HOSTS
    ini:
      - section: callback_ndu_progress
        key: summary_hosts
requirements:
  - Set as the stdout callback, for example C(ANSIBLE_STDOUT_CALLBACK=ndu.dataplane.progress) or
    C(stdout_callback = ndu.dataplane.progress) in the C([defaults]) section of C(ansible.cfg).
"""

import time
from typing import Any

from ansible import constants as C
from ansible.plugins.callback import CallbackBase

STEP_KEY = "ndu_step"
REPORT_KEY = "ndu_report"


def duration(seconds: float | None) -> str:
    """``h:mm:ss`` (or ``m:ss`` under an hour) for a number of seconds."""
    if seconds is None:
        return "-"
    total = int(round(float(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def step_event(result: dict) -> dict | None:
    """The ``ndu_step`` event a task result carries, or None."""
    if not isinstance(result, dict):
        return None
    event = (result.get("ansible_facts") or {}).get(STEP_KEY)
    if event is None:
        event = result.get(STEP_KEY)
    return event if isinstance(event, dict) and event.get("step") else None


def step_line(event: dict, elapsed: float, moved_so_far: int) -> str:
    """The one line of a host step."""
    batch = f"batch {event.get('batch', '?')}/{event.get('batches', '?')}"
    name = str(event.get("step"))
    if ":" in name or event.get("index") == 0:
        # Steps outside the host's step table (index 0): "rollback:<step>", "restore:<step>".
        kind, _sep, rest = name.partition(":")
        step = f"{kind} {rest}" if rest else name
    else:
        step = f"step {event.get('index', '?')}/{event.get('count', '?')} {name}"
    result = str(event.get("result", "?"))
    took = f" ({float(event['seconds']):.1f} s)" if event.get("seconds") is not None else ""
    line = (f"[{duration(elapsed):>7}] {batch:<11} {str(event.get('host', '?')):<16} {step:<24} "
            f"{result + took:<20} moved {moved_so_far}")
    if event.get("next"):
        line += f", next {event['next']}"
    if event.get("msg"):
        line += f" - {' '.join(str(event['msg']).split())}"
    return line


def summary_lines(report: dict, limit: int = 20) -> list[str]:
    """The closing summary of a roll, from its report (schema ndu.dataplane/rolling-report/v1)."""
    totals = report.get("totals") or {}
    hosts = report.get("hosts") or {}
    result = report.get("result", "unknown")
    lines = []
    if result == "planned":
        batches = report.get("batches") or []
        sizes = ", ".join(str(len(b)) for b in batches[:limit]) + (", ..." if len(batches) > limit else "")
        lines.append(f"plan: {sum(len(b) for b in batches)} host(s) to roll in {len(batches)} batch(es)"
                     + (f" of {sizes}" if batches else "")
                     + f"; {totals.get('skipped', 0)} skipped (nothing to do). Nothing was changed (check mode).")
        return lines
    lines.append(
        f"roll {result} in {duration(report.get('seconds'))}: {totals.get('rolled', 0)} rolled, "
        f"{totals.get('skipped', 0)} skipped, {totals.get('rolled_back', 0)} rolled back, {totals.get('failed', 0)} failed, "
        f"{totals.get('unsafe', 0)} unsafe, {totals.get('not_reached', 0)} not reached; "
        f"{totals.get('instances_moved', 0)} instance(s) moved")
    if totals.get("probe_sent"):
        lines[-1] += (f"; probe lost {totals.get('probe_lost')} of {totals.get('probe_sent')} packets"
                      f" (longest gap {totals.get('probe_longest_gap_ms')} ms)")
    trouble = [(name, h) for name, h in sorted(hosts.items()) if h.get("status") in ("rolled_back", "failed", "unsafe")]
    for name, host in trouble[:limit]:
        failure = host.get("failure") or {}
        line = f"  {name}: {host.get('status')}"
        if failure:
            line += f" at step {failure.get('step')}: {' '.join(str(failure.get('msg', '')).split())}"
        service = host.get("compute_service") or {}
        if service.get("left_disabled_because"):
            line += f" (nova-compute left disabled: {service['left_disabled_because']})"
        lines.append(line)
    if len(trouble) > limit:
        lines.append(f"  ... and {len(trouble) - limit} more (see the report)")
    path = (report.get("parameters") or {}).get("report_path")
    if path:
        lines.append(f"report: {path}")
    return lines


class CallbackModule(CallbackBase):
    """Progress lines for a roll; see DOCUMENTATION."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "ndu.dataplane.progress"

    def __init__(self, *args: Any, clock=time.monotonic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock
        self._started = clock()
        self._moved: dict[str, int] = {}
        self._steps = 0

    # -- helpers ------------------------------------------------------------
    def _elapsed(self) -> float:
        return self._clock() - self._started

    def _say(self, text: str, color: str | None = None) -> None:
        self._display.display(text, color=color)

    @staticmethod
    def _msg(result: dict) -> str:
        msg = result.get("msg") or result.get("stderr") or result.get("reason") or "failed"
        return " ".join(str(msg).split())

    def _task_line(self, result, status: str, color: str | None) -> None:
        self._say(f"[{duration(self._elapsed()):>7}] {result.host.get_name()}: {result.task.get_name()}: {status}", color)

    # -- events -------------------------------------------------------------
    def v2_playbook_on_start(self, playbook) -> None:
        self._started = self._clock()

    def v2_playbook_on_play_start(self, play) -> None:
        name = play.get_name().strip()
        if name:
            self._say(f"== {name}", C.COLOR_HIGHLIGHT)

    def v2_runner_on_ok(self, result) -> None:
        res = result.result
        event = step_event(res)
        if event is not None:
            self._steps += 1
            host = str(event.get("host") or result.host.get_name())
            self._moved[host] = int(event.get("instances_moved", self._moved.get(host, 0)) or 0)
            color = C.COLOR_ERROR if event.get("result") in ("failed", "rolled_back", "unsafe") else C.COLOR_OK
            self._say(step_line(event, self._elapsed(), sum(self._moved.values())), color)
            return
        if result.task.action in ("debug", "ansible.builtin.debug", "ansible.legacy.debug") and "msg" in res:
            host = result.host.get_name()
            text = res["msg"] if isinstance(res["msg"], str) else self._dump_results({"msg": res["msg"]})
            prefix = "" if host == "localhost" else f"{host}: "
            for line in str(text).rstrip().splitlines() or [""]:
                self._say(prefix + line)
            return
        if self._display.verbosity > 0:
            self._task_line(result, "changed" if res.get("changed") else "ok",
                            C.COLOR_CHANGED if res.get("changed") else C.COLOR_OK)

    def v2_runner_on_failed(self, result, ignore_errors: bool = False) -> None:
        if ignore_errors:
            if self._display.verbosity > 0:
                self._task_line(result, f"failed (ignored): {self._msg(result.result)}", C.COLOR_SKIP)
            return
        self._task_line(result, f"FAILED: {self._msg(result.result)}", C.COLOR_ERROR)

    def v2_runner_on_unreachable(self, result) -> None:
        self._task_line(result, f"UNREACHABLE: {self._msg(result.result)}", C.COLOR_UNREACHABLE)

    def v2_runner_on_skipped(self, result) -> None:
        if self._display.verbosity > 0:
            self._task_line(result, "skipped", C.COLOR_SKIP)

    def v2_playbook_on_stats(self, stats) -> None:
        report = (stats.custom.get("_run") or {}).get(REPORT_KEY) if stats.custom else None
        self._say("")
        if isinstance(report, dict):
            for line in summary_lines(report, limit=int(self.get_option("summary_hosts"))):
                self._say(line, C.COLOR_HIGHLIGHT)
        hosts = sorted(stats.processed.keys())
        bad = []
        for host in hosts:
            totals = stats.summarize(host)
            if totals["failures"] or totals["unreachable"]:
                bad.append(f"{host} ({totals['failures']} failed, {totals['unreachable']} unreachable)")
        recap = f"recap: {len(hosts)} host(s) in {duration(self._elapsed())}, {self._steps} host step(s)"
        recap += f"; with failures: {', '.join(bad)}" if bad else "; no failures"
        self._say(recap, C.COLOR_ERROR if bad else C.COLOR_OK)
