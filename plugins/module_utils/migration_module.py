# SPDX-License-Identifier: Apache-2.0
"""What host_evacuate and migrate_back share: options, validation, results, failure text."""

from __future__ import annotations

from typing import Any

from ansible_collections.ndu.dataplane.plugins.module_utils.evacuation import (
    FAILURE_STATUSES, TIMEOUT_ACTIONS, SHUTOFF_POLICIES, Options, Record, summarize, validate_options)
from ansible_collections.ndu.dataplane.plugins.module_utils.ndu_openstack import NduOpenStackModule

MIGRATION_ARGUMENT_SPEC: dict[str, Any] = {
    "concurrency": {"type": "int", "default": 2},
    "timeout": {"type": "int", "default": 600},
    "on_timeout": {"type": "str", "default": "abort", "choices": list(TIMEOUT_ACTIONS)},
    "settle_timeout": {"type": "int", "default": 120},
    "request_timeout": {"type": "int", "default": 60},
    "shutoff_policy": {"type": "str", "default": "leave", "choices": list(SHUTOFF_POLICIES)},
    "poll_max": {"type": "int", "default": 5},
}


class MigrationModule(NduOpenStackModule):
    """Base for modules that move instances with the Evacuator."""

    def options(self, **extra: Any) -> Options:
        p = self.params
        return Options(concurrency=p["concurrency"], timeout=p["timeout"], on_timeout=p["on_timeout"], settle_timeout=p["settle_timeout"],
                       request_timeout=p["request_timeout"], shutoff_policy=p["shutoff_policy"], poll_initial=1.0,
                       poll_max=float(p["poll_max"]), **extra)

    def validate(self) -> None:
        try:
            self.opts = self.options_from_params()
            validate_options(self.opts)
        except ValueError as err:
            self.fail(f"Failed to validate options: {err}")

    def options_from_params(self) -> Options:
        return self.options()

    def host_service(self, host: str) -> dict[str, Any]:
        found = self.nova.services(host=host)
        if not found:
            known = sorted(s["host"] for s in self.nova.services())
            self.fail(f"Failed to find nova-compute on host '{host}': Nova knows no such host (known compute hosts: {', '.join(known) or 'none'})")
        return found[0]

    def finish(self, action: str, host: str, records: list[Record], skipped: bool = False, **extra: Any) -> None:
        results = [r.as_result() for r in records]
        summary = summarize(records)
        extra_changed = bool(extra.pop("changed", False))
        changed = any(r.attempts for r in records) or extra_changed
        bad = [r for r in records if r.status in FAILURE_STATUSES]
        if bad and not skipped:
            detail = "; ".join(f"{r.name} ({r.id}) {r.status}: {r.message}" for r in bad)
            moved = summary.get("moved", 0)
            self.fail(f"Failed to {action} host '{host}': {len(bad)} of {summary['total']} instances could not be moved: {detail}. "
                      f"{moved} moved, {summary.get('not_started', 0)} not started; the nova-compute service was not touched by this "
                      "module. Fix the cause and run again: finished instances are not moved twice.",
                      changed=changed, instances=results, summary=summary, **extra)
        self.exit(changed=changed, instances=results, summary=summary, **extra)
