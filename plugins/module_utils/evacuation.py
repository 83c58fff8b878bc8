# SPDX-License-Identifier: Apache-2.0
"""Evacuation planning and the migration loop behind host_evacuate and migrate_back.

``plan`` decides per instance how it leaves (live, cold, stop-and-cold, left
alone). ``Evacuator`` runs the plan with bounded concurrency: each instance is
a generator that starts its migration and yields while it waits, the loop
polls every in-flight instance, sleeps with bounded backoff, and decides on
timeouts (abort, force-complete, fail) and retries on another host. The cloud
is reached through ``ops`` (a NovaApi or a test fake), so this module has no
Ansible imports and runs under unit tests with a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ansible_collections.ndu.dataplane.plugins.module_utils.backoff import delays, validate as validate_backoff
from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import ApiError, server_host, server_task_state

LIVE_STATUSES = frozenset({"ACTIVE", "PAUSED"})
SHUTOFF_POLICIES = ("cold_migrate", "leave")
UNMOVABLE_POLICIES = ("fail", "skip_host", "cold_migrate", "stop_and_cold_migrate")
TIMEOUT_ACTIONS = ("abort", "force_complete", "fail")
FAILED_MIGRATION = frozenset({"error", "failed", "cancelled", "reverted"})
FAILURE_STATUSES = frozenset({"failed", "aborted", "timed_out"})
GONE = "deleted while the host was being emptied"
POWER_STATE = "OS-EXT-STS:power_state"
POWER_RUNNING = 1

Waiting = Generator[None, None, "Outcome"]


class PlanError(ValueError):
    """The host cannot be evacuated as asked; nothing has been changed."""


@dataclass
class Options:
    concurrency: int = 2
    timeout: float = 600.0
    on_timeout: str = "abort"
    retries: int = 1
    shutoff_policy: str = "leave"
    unmovable_policy: str = "fail"
    settle_timeout: float = 120.0
    request_timeout: float = 60.0
    poll_initial: float = 1.0
    poll_factor: float = 1.5
    poll_max: float = 5.0


def validate_options(options: Options) -> None:
    """Raise ValueError naming the first bad option; called before anything changes."""
    if options.concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {options.concurrency}")
    for name in ("timeout", "settle_timeout", "request_timeout"):
        if getattr(options, name) <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {getattr(options, name)}")
    if options.retries < 0:
        raise ValueError(f"retries must not be negative, got {options.retries}")
    for name, value, allowed in (
        ("on_timeout", options.on_timeout, TIMEOUT_ACTIONS),
        ("shutoff_policy", options.shutoff_policy, SHUTOFF_POLICIES),
        ("unmovable_policy", options.unmovable_policy, UNMOVABLE_POLICIES),
    ):
        if value not in allowed:
            raise ValueError(f"unknown {name} '{value}', expected one of: {', '.join(allowed)}")
    validate_backoff(options.poll_initial, options.poll_factor, options.poll_max)


@dataclass
class PlanItem:
    id: str
    name: str
    status: str
    source: str
    method: str  # live | cold | stop_and_cold | leave
    target: str | None = None


@dataclass
class Plan:
    items: list[PlanItem]
    skip_reason: str | None = None

    @property
    def moving(self) -> list[PlanItem]:
        return [item for item in self.items if item.method != "leave"]


def plan(servers: Iterable[dict], source: str, options: Options, target: str | None = None) -> Plan:
    """Decide how each server on ``source`` leaves it. Raises PlanError for policy ``fail``."""
    items: list[PlanItem] = []
    unmovable: list[str] = []
    busy: list[str] = []
    for server in sorted(servers, key=lambda s: (s.get("name") or "", s["id"])):
        status = server.get("status", "UNKNOWN")
        item = PlanItem(server["id"], server.get("name") or server["id"], status, source, "leave", target)
        task = server_task_state(server)
        if task:
            busy.append(f"{item.name} ({item.id}, task_state {task})")
        elif status in LIVE_STATUSES:
            item.method = "live"
        elif status == "SHUTOFF":
            item.method = "cold" if options.shutoff_policy == "cold_migrate" else "leave"
        elif options.unmovable_policy in ("cold_migrate", "stop_and_cold_migrate"):
            item.method = "cold" if options.unmovable_policy == "cold_migrate" else "stop_and_cold"
        else:
            unmovable.append(f"{item.name} ({item.id}, status {status})")
        items.append(item)
    if busy:
        raise PlanError(f"instances on '{source}' are busy with another operation: {'; '.join(busy)}; wait until they settle and retry")
    if unmovable and options.unmovable_policy == "fail":
        raise PlanError(f"instances on '{source}' cannot be live-migrated: {'; '.join(unmovable)}; "
                        "set unmovable_policy to skip_host, cold_migrate or stop_and_cold_migrate to handle them")
    skip = f"instances that cannot be live-migrated: {'; '.join(unmovable)}" if unmovable else None
    return Plan(items=items, skip_reason=skip)


def next_target(candidates: Iterable[str], tried: Iterable[str], load: dict[str, int]) -> str | None:
    """The least-loaded candidate not tried yet (ties broken by name), or None."""
    left = sorted(set(candidates) - set(tried))
    return min(left, key=lambda h: (load.get(h, 0), h)) if left else None


@dataclass
class Record:
    id: str
    name: str
    from_host: str
    method: str
    to: str | None = None
    status: str = "pending"  # planned | left | moved | gone | failed | aborted | timed_out | not_started
    seconds: float = 0.0
    attempts: int = 0
    message: str = ""
    migrations: list[int] = field(default_factory=list)

    def as_result(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_host")
        return data


@dataclass
class Outcome:
    status: str  # moved | gone | failed | aborted | timed_out
    dest: str | None = None
    message: str = ""


class Evacuator:
    """Runs a plan against ``ops`` (NovaApi-shaped) with bounded concurrency."""

    def __init__(self, ops: Any, options: Options, candidates: Iterable[str] | None = None,
                 pin_to_candidates: bool = False, on_start: Callable[[PlanItem], None] | None = None,
                 on_moved: Callable[[PlanItem, str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        validate_options(options)
        self.ops = ops
        self.options = options
        self.candidates = list(candidates or [])
        self.pin_to_candidates = pin_to_candidates  # False: first attempt lets the scheduler choose
        self.on_start = on_start
        self.on_moved = on_moved
        self.clock = clock
        self.sleep = sleep
        self.load: dict[str, int] = {}
        self.halted: str | None = None  # why no new migration starts
        self.host_skipped = False

    # ------------------------------------------------------------------ loop
    def run(self, the_plan: Plan) -> list[Record]:
        records = {item.id: Record(item.id, item.name, item.source, item.method) for item in the_plan.items}
        for item in the_plan.items:
            if item.method == "leave":
                records[item.id].status = "left"
        pending = list(the_plan.moving)
        active: list[tuple[PlanItem, Generator[None, None, Outcome], float]] = []
        backoff = delays(self.options.poll_initial, self.options.poll_factor, self.options.poll_max)
        while pending or active:
            while pending and len(active) < self.options.concurrency and not self.halted:
                item = pending.pop(0)
                try:
                    if self.on_start:
                        self.on_start(item)
                except ApiError as err:
                    if err.status != 404:
                        raise
                    records[item.id].status, records[item.id].message = "gone", GONE
                    continue
                gen = self._instance(item, records[item.id])
                active.append((item, gen, self.clock()))
                self._advance(item, gen, records, active, self.clock())
            if self.halted:
                for item in pending:
                    records[item.id].status = "not_started"
                    records[item.id].message = f"not started: {self.halted}"
                pending = []
            if not active:
                break
            self.sleep(next(backoff))
            for item, gen, started in list(active):
                if self._advance(item, gen, records, active, started):
                    backoff = delays(self.options.poll_initial, self.options.poll_factor, self.options.poll_max)
        return [records[item.id] for item in the_plan.items]

    def _advance(self, item: PlanItem, gen: Generator[None, None, Outcome], records: dict[str, Record],
                 active: list, started: float) -> bool:
        """Step one instance; True when it finished."""
        try:
            next(gen)
            return False
        except StopIteration as stop:
            outcome: Outcome = stop.value
        except ApiError as err:
            if err.status == 404:  # deleted by its owner meanwhile: it is off the host, nothing to wait for
                outcome = Outcome("gone", message=GONE)
            else:
                outcome = Outcome("failed", message=f"Nova refused a call for '{item.name}': {err}")
        record = records[item.id]
        record.status, record.message = outcome.status, outcome.message
        record.to = outcome.dest if outcome.status == "moved" else None
        record.seconds = round(self.clock() - started, 1)
        active[:] = [entry for entry in active if entry[0] is not item]
        if outcome.status == "moved" and self.on_moved:
            self.on_moved(item, outcome.dest or "")
        if outcome.status in FAILURE_STATUSES and not self.halted:
            if self.options.unmovable_policy == "skip_host":
                self.host_skipped = True
            self.halted = f"'{item.name}' {outcome.status}: {outcome.message}"
        return True

    # ------------------------------------------------------------ per instance
    def _instance(self, item: PlanItem, record: Record) -> Waiting:
        if item.method == "live":
            outcome = yield from self._live(item, record)
            if outcome.status == "failed" and self.options.unmovable_policy in ("cold_migrate", "stop_and_cold_migrate"):
                record.method = "cold" if self.options.unmovable_policy == "cold_migrate" else "stop_and_cold"
                outcome = yield from self._cold(item, record, stop_first=record.method == "stop_and_cold")
            return outcome
        return (yield from self._cold(item, record, stop_first=item.method == "stop_and_cold"))

    def _first_target(self, item: PlanItem) -> str | None:
        if item.target:
            return item.target
        return next_target(self.candidates, [item.source], self.load) if self.pin_to_candidates else None

    def _newest_id(self, item: PlanItem) -> int:
        newest = self.ops.newest_migration(item.id)
        return int(newest["id"]) if newest else 0

    def _live(self, item: PlanItem, record: Record) -> Waiting:
        tried: list[str] = []
        host = self._first_target(item)
        while True:
            record.attempts += 1
            before = self._newest_id(item)
            try:
                self.ops.live_migrate(item.id, host)
            except ApiError as err:
                if err.status not in (400, 409):
                    raise
                outcome = Outcome("failed", host, f"Nova refused live migration to {host or 'a scheduler-chosen host'}: {err.message}")
            else:
                if host:
                    self.load[host] = self.load.get(host, 0) + 1
                outcome = yield from self._watch_live(item, record, before, host)
            if outcome.status != "failed" or record.attempts > self.options.retries:
                return outcome
            if outcome.dest:
                tried.append(outcome.dest)
            host = next_target(self.candidates, tried + [item.source], self.load)
            if host is None:
                outcome.message += "; no other host left to retry on"
                return outcome
            yield

    def _reason(self, item: PlanItem) -> str:
        """Nova's own words for the last failure (instance action events), or nothing."""
        try:
            reason = self.ops.failure_reason(item.id)
        except (ApiError, AttributeError):
            return ""
        return f": {reason}" if reason else ""

    def _watch_live(self, item: PlanItem, record: Record, before: int, host: str | None) -> Waiting:
        asked = self.clock()
        deadline = asked + self.options.timeout
        acted: str | None = None
        while True:
            yield
            migration = self.ops.newest_migration(item.id)
            if migration and int(migration["id"]) <= before:
                migration = None
            status = migration["status"] if migration else "not yet recorded"
            if migration and int(migration["id"]) not in record.migrations:
                record.migrations.append(int(migration["id"]))
            dest = migration.get("dest_compute") if migration else None
            if status == "completed" or status in FAILED_MIGRATION:
                server = self.ops.server(item.id)
                if server_task_state(server) is None:
                    now_on = server_host(server)
                    if now_on and now_on != item.source:
                        return Outcome("moved", now_on)
                    if status in FAILED_MIGRATION:
                        kind = "aborted" if acted == "abort" else "failed"
                        where = dest or host or "a scheduler-chosen host"
                        reason = self._reason(item)  # Nova's words, read before a reset adds to its actions
                        undone = self._undo_error(item, server)
                        return Outcome(kind, dest or host, f"live migration {migration['id']} to {where} ended '{status}'"
                                                           f"{reason}; the instance is still on {item.source}{undone}")
            now = self.clock()
            if migration is None and now >= asked + self.options.request_timeout and now < deadline:
                lost = self._lost_request(item, before)
                if lost:
                    return lost
            if now >= deadline and acted is None:
                self.ops.server(item.id)  # deleted meanwhile: Nova answers 404 and the instance is gone, not late
                acted = self.options.on_timeout
                if acted == "fail":
                    return Outcome("timed_out", dest, f"live migration still '{status}' after {self.options.timeout:g}s; left running in Nova")
                if migration is None:
                    return Outcome("timed_out", dest, f"no migration record appeared within {self.options.timeout:g}s")
                try:
                    if acted == "abort":
                        self.ops.abort_migration(item.id, migration["id"])
                    else:
                        self.ops.force_complete(item.id, migration["id"])
                except ApiError as err:
                    if err.status not in (400, 409):
                        raise
                    acted = None  # finished meanwhile, or not running yet: look again
                    deadline = now
            elif acted and now >= deadline + self.options.settle_timeout:
                return Outcome("timed_out", dest, f"{acted} requested after {self.options.timeout:g}s but migration still '{status}' "
                                                  f"{self.options.settle_timeout:g}s later")

    def _undo_error(self, item: PlanItem, server: dict) -> str:
        """Reset an instance Nova put in ERROR for a live migration that failed before it started, while it runs on.

        Nova's conductor sets vm_state ERROR when its own preparation fails with an unexpected error (an RPC timeout
        while the message bus restarts), although the guest never stopped running on its host. Only an instance that
        was ACTIVE, is on its source host and whose power state is still running is reset; the text says so.
        """
        if item.status != "ACTIVE" or server.get("status") != "ERROR" or server.get(POWER_STATE) != POWER_RUNNING:
            return ""
        self.ops.reset_state(item.id, "active")
        return "; Nova had put it in ERROR although it kept running there: its state was reset to ACTIVE"

    def _lost_request(self, item: PlanItem, before: int) -> Outcome | None:
        """A live migration Nova has not recorded after request_timeout: the request was lost or dropped.

        Nova's conductor writes the migration record as it takes the request, so none after that long means the
        request never reached it (a message-bus restart loses it) or was dropped. A lost request leaves the
        instance in task_state 'migrating' for good: it is reset to ACTIVE (only an instance that was ACTIVE) so
        the retry, or the next run, can move it. None when there is nothing to recover (yet).
        """
        server = self.ops.server(item.id)
        newest = self.ops.newest_migration(item.id)
        if (newest and int(newest["id"]) > before) or server_host(server) != item.source:
            return None  # recorded after all: the watch goes on
        task, waited = server_task_state(server), f"{self.options.request_timeout:g}s"
        if task is None:
            return Outcome("failed", None, f"Nova recorded no migration within {waited} and the instance is idle on "
                                           f"{item.source}: the request was dropped{self._reason(item)}")
        if task != "migrating":
            return None
        if item.status != "ACTIVE":
            return Outcome("failed", None, f"Nova recorded no migration within {waited}: the request was lost and the "
                                           f"{item.status} instance is stuck in task_state 'migrating' on {item.source}; "
                                           "reset its state by hand (openstack server set --state) and run again")
        self.ops.reset_state(item.id, "active")
        return Outcome("failed", None, f"Nova recorded no migration within {waited}: the request was lost (a message-bus "
                                       f"restart loses requests in flight); the instance's state was reset to ACTIVE on {item.source}")

    def _wait_server(self, item: PlanItem, want: Callable[[dict], bool], what: str) -> Generator[None, None, dict]:
        deadline = self.clock() + self.options.timeout
        while True:
            yield
            server = self.ops.server(item.id)
            if want(server):
                return server
            if self.clock() >= deadline:
                raise TimeoutError(f"'{item.name}' did not become {what} within {self.options.timeout:g}s (status {server.get('status')})")

    def _cold(self, item: PlanItem, record: Record, stop_first: bool) -> Waiting:
        """Cold-migrate; an instance this stopped for it runs again however the migration ended."""
        was_active = self.ops.server(item.id).get("status") == "ACTIVE"
        stop = stop_first and was_active
        try:
            outcome = yield from self._cold_move(item, record, stop)
        except ApiError as err:
            if err.status == 404 or not stop:
                raise
            outcome = Outcome("failed", message=f"Nova refused a call for '{item.name}': {err}")
        if stop and outcome.status != "moved":
            outcome.message += yield from self._start_again(item)
        return outcome

    def _cold_move(self, item: PlanItem, record: Record, stop: bool) -> Waiting:
        try:
            if stop:
                self.ops.stop(item.id)
                yield from self._wait_server(item, lambda s: s.get("status") == "SHUTOFF" and server_task_state(s) is None, "SHUTOFF")
            host = self._first_target(item)
            record.attempts += 1
            before = self._newest_id(item)
            try:
                self.ops.cold_migrate(item.id, host)
            except ApiError as err:
                if err.status not in (400, 409):
                    raise
                return Outcome("failed", host, f"Nova refused cold migration: {err.message}")
            settled = yield from self._wait_server(item, lambda s: self._cold_settled(item, s, before), "migrated")
            if settled.get("status") == "VERIFY_RESIZE":
                self.ops.confirm_resize(item.id)
                settled = yield from self._wait_server(
                    item, lambda s: s.get("status") in ("ACTIVE", "SHUTOFF") and server_task_state(s) is None, "confirmed")
            now_on = server_host(settled)
            if now_on == item.source:
                return Outcome("failed", None, f"cold migration ended with the instance still on {item.source}")
            if stop:
                self.ops.start(item.id)
                yield from self._wait_server(item, lambda s: s.get("status") == "ACTIVE", "ACTIVE again")
            return Outcome("moved", now_on)
        except TimeoutError as err:
            return Outcome("timed_out", None, str(err))

    def _start_again(self, item: PlanItem) -> Generator[None, None, str]:
        """Start an instance stopped for a cold migration that did not move it; the sentence to add to its message.

        Nova may still hold it (a migration that timed out here): wait up to settle_timeout for it to settle first."""
        deadline = self.clock() + self.options.settle_timeout
        try:
            server = self.ops.server(item.id)
            while server_task_state(server) is not None or server.get("status") not in ("ACTIVE", "SHUTOFF"):
                if self.clock() >= deadline:
                    return (f"; it stays stopped: Nova still holds it (status {server.get('status')}, task "
                            f"{server_task_state(server)}) after {self.options.settle_timeout:g}s; start it once Nova is done with it")
                yield
                server = self.ops.server(item.id)
            if server.get("status") == "SHUTOFF":
                self.ops.start(item.id)
                while self.ops.server(item.id).get("status") != "ACTIVE":
                    if self.clock() >= deadline:
                        return f"; it was started again but is not ACTIVE after {self.options.settle_timeout:g}s"
                    yield
            return f"; it was started again on {server_host(server)}"
        except ApiError as err:
            return f"; it stays stopped: failed to start instance '{item.name}' again: {err}"

    def _cold_settled(self, item: PlanItem, server: dict, before: int) -> bool:
        if server_task_state(server) is not None:
            return False
        if server.get("status") == "VERIFY_RESIZE":
            return True
        if server_host(server) != item.source:
            return True
        newest = self.ops.newest_migration(item.id)
        return bool(newest and int(newest["id"]) > before and newest["status"] in FAILED_MIGRATION)


def summarize(records: Iterable[Record]) -> dict[str, int]:
    """Count records by status, plus a total."""
    counts: dict[str, int] = {"total": 0}
    for record in records:
        counts["total"] += 1
        counts[record.status] = counts.get(record.status, 0) + 1
    return counts
