# SPDX-License-Identifier: Apache-2.0
"""Filters of the rolling upgrade playbook: check input, plan, the per-host roll record, report, summary."""
from __future__ import annotations

from typing import Any, Callable

from ansible.errors import AnsibleFilterError
from ansible_collections.ndu.dataplane.plugins.module_utils import rolling
from ansible_collections.ndu.dataplane.plugins.module_utils import rolling_record as record_logic
from ansible_collections.ndu.dataplane.plugins.module_utils import rolling_report as report_logic


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AnsibleFilterError(f"Failed to {what}: expected a dict, got {type(value).__name__}")
    return value


def rolling_validate(params: Any) -> list[str]:
    """Every problem with the roll's input (empty list when it is fine)."""
    return rolling.validate(_dict(params, "check the rolling upgrade input"))


def rolling_plan(facts: Any, params: Any) -> dict[str, Any]:
    """The plan of the roll from every host's facts. A plan the hosts refuse is returned, not raised: ``refused``
    holds the sentence the playbook's ``fail`` task prints (None when the plan is good)."""
    if not isinstance(facts, list) or not all(isinstance(f, dict) and "host" in f for f in facts):
        raise AnsibleFilterError("Failed to plan the roll: expected a list of host facts (dicts with 'host')")
    return rolling.plan_or_refusal(facts, _dict(params, "plan the roll"))


def rolling_plan_lines(the_plan: Any, check_mode: bool = False) -> list[str]:
    """The plan as lines of text."""
    return rolling.plan_lines(_dict(the_plan, "print the plan"), bool(check_mode))


def rolling_report(records: Any, the_plan: Any, meta: Any) -> dict[str, Any]:
    """The JSON report from the per-host records and the plan."""
    if not isinstance(records, list):
        raise AnsibleFilterError(f"Failed to build the report: records must be a list, got {type(records).__name__}")
    return report_logic.build_report([r for r in records if r], _dict(the_plan, "build the report"), _dict(meta, "build the report"))


def rolling_summary(report: Any) -> list[str]:
    """The human summary of a report."""
    return report_logic.summary_lines(_dict(report, "summarise the report"))


def rolling_record_new(plan_entry: Any, host: Any, facts: Any, target_version: Any) -> dict[str, Any]:
    """The roll record of a host that starts its roll."""
    return record_logic.new_record(str(host), _dict(plan_entry, "start the roll record"), _dict(facts, "start the roll record"),
                                   str(target_version))


def rolling_record(record: Any, event: Any) -> dict[str, Any]:
    """The next roll record after an event (a step's result, a failure, a read-back, the rollback, the restore)."""
    try:
        return record_logic.next_record(_dict(record, "update the roll record"), _dict(event, "update the roll record"))
    except record_logic.RecordError as err:
        raise AnsibleFilterError(f"Failed to update the roll record: {err}") from err


def rolling_step_skip(record: Any, step: Any) -> str:
    """Why a step of the step table does not run for this host; empty when it runs."""
    try:
        return record_logic.step_skip_reason(_dict(record, "decide the step"), _dict(step, "decide the step")) or ""
    except record_logic.RecordError as err:
        raise AnsibleFilterError(f"Failed to decide the step: {err}") from err


class FilterModule:
    """Rolling upgrade filters of ndu.dataplane."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "rolling_validate": rolling_validate,
            "rolling_plan": rolling_plan,
            "rolling_plan_lines": rolling_plan_lines,
            "rolling_report": rolling_report,
            "rolling_summary": rolling_summary,
            "rolling_record_new": rolling_record_new,
            "rolling_record": rolling_record,
            "rolling_step_skip": rolling_step_skip,
        }
