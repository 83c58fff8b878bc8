# SPDX-License-Identifier: Apache-2.0
"""What every fault test checks after its fault, read back independently of the collection (openstacksdk, podman
exec), plus a roll that injects a fault when a line shows in its output, and the suite's table.

The invariants of issue 8: every instance still present and ACTIVE (the same ids), no compute service left
disabled by us unless the report says why, no policy-rc.d on any host, Open vSwitch running on every host, an
error naming the host and the step, and a re-run that converges.
"""
from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import dataplane
from rollhelpers import LAB1, MARKER, REPO, Run, host_state, playbook_argv, playbook_env, roll, servers, services, sh, wait_for

ROWS: dict[str, "Row"] = {}


@dataclass
class Row:
    """One line of the table: what the fault left behind, measured, never assumed."""
    number: int
    fault: str
    nodeid: str
    outcome: str = "not run"
    instances_lost: int | None = None
    hosts_left_disabled: list[str] = field(default_factory=list)
    policies_left_behind: list[str] = field(default_factory=list)
    ovs_down: list[str] = field(default_factory=list)
    rerun_converged: bool | None = None
    fault_loss: str | None = None  # per-instance probe of the faulty run: "lost/sent, worst lost/sent"
    rerun_loss: str | None = None
    seconds: float = 0.0


def loss_cell(data: dict[str, Any] | None) -> str | None:
    """The probe's figures of a run's report in one cell, or None when that run has none (killed, nothing rolled)."""
    probe = (data or {}).get("probe")
    if not probe:
        return None
    if probe.get("failed"):
        return f"probe failed: {probe.get('msg')}"
    worst = probe.get("worst") or {}
    return f"{probe['lost']}/{probe['sent']}, worst {worst.get('name')} {worst.get('lost')}/{worst.get('sent')}"


# ---- the invariants ------------------------------------------------------------------------------------------
def settle(conn: Any, ids: list[str], timeout: float = 180) -> dict[str, dict[str, Any]]:
    """The test servers once none is migrating any more (a killed roll leaves its migrations running)."""
    def calm() -> dict[str, dict[str, Any]] | None:
        now = servers(conn)
        return now if not any(s["status"] == "MIGRATING" for s in now.values()) else None
    try:
        return wait_for("the test servers to stop migrating", calm, timeout, 2)
    except AssertionError:
        return servers(conn)


def ovs_running(host: str) -> bool:
    state = host_state(host)
    return bool(state["vswitchd_exe"]) and sh(host, "ovs-vsctl", "--timeout=5", "show", check=False).returncode == 0


def unexplained_disables(conn: Any, hosts: tuple[str, ...], data: dict[str, Any] | None) -> list[str]:
    """Hosts whose nova-compute we disabled ("[ndu.dataplane" reason) without the report saying why."""
    found = []
    for host, svc in services(conn).items():
        if host not in hosts or svc["status"] != "disabled" or not (svc["disabled_reason"] or "").startswith(MARKER):
            continue
        entry = ((data or {}).get("hosts") or {}).get(host) or {}
        if not (entry.get("compute_service") or {}).get("left_disabled_because"):
            found.append(f"{host} ({svc['disabled_reason']})")
    return found


def measure(row: Row, lab: Any, conn: Any, ids: list[str], data: dict[str, Any] | None) -> dict[str, Any]:
    now = settle(conn, ids)
    lost = {i: now.get(i, {}).get("status", "MISSING") for i in ids if now.get(i, {}).get("status") != "ACTIVE"}
    row.instances_lost = len(lost)
    row.hosts_left_disabled = unexplained_disables(conn, lab.computes, data)
    row.policies_left_behind = [h for h in lab.computes if host_state(h)["policy_rc_d"]]
    row.ovs_down = [h for h in lab.computes if not ovs_running(h)]
    if row.fault_loss is None:  # the first measure() is the faulty run's
        row.fault_loss = loss_cell(data)
    return {"lost": lost, "servers": now}


def assert_invariants(row: Row, lab: Any, conn: Any, ids: list[str], data: dict[str, Any] | None,
                      leftovers: bool = True) -> None:
    """Instances present and ACTIVE with the same ids, OVS running everywhere; with ``leftovers`` also no compute
    disabled by us without a reason in the report and no policy-rc.d on any host."""
    found = measure(row, lab, conn, ids, data)
    assert not found["lost"], f"instances lost or not ACTIVE: {found['lost']} (servers now: {found['servers']})"
    assert sorted(found["servers"]) == sorted(ids), f"the test servers changed: {sorted(found['servers'])} != {sorted(ids)}"
    assert not row.ovs_down, f"Open vSwitch is not running on {row.ovs_down}"
    if leftovers:
        assert not row.hosts_left_disabled, f"nova-compute left disabled by the roll, the report says not why: {row.hosts_left_disabled}"
        assert not row.policies_left_behind, f"/usr/sbin/policy-rc.d left behind on {row.policies_left_behind}"


FAILURE_WORDS = re.compile(r"fail|error|refus|did not|could not|cannot|unsafe|timed out", re.IGNORECASE)


def error_line(out: str, host: str, step: str) -> str:
    """The first failure line of the run's output that names both the host and the step (progress lines, which
    name both too, do not count)."""
    names = re.compile(rf"\b{re.escape(host)}\b.*\b{re.escape(step)}\b|\b{re.escape(step)}\b.*\b{re.escape(host)}\b")
    found = next((line.strip() for line in out.splitlines() if names.search(line) and FAILURE_WORDS.search(line)), "")
    assert found, f"no failure line of the output names host {host} and step {step}:\n{out[-4000:]}"
    return found


def converge(row: Row, lab: Any, conn: Any, report: Path, ids: list[str], hosts: tuple[str, ...],
             **extra: Any) -> Run:
    """Run the roll again without the fault: it must finish, every host of ``hosts`` on the target and switched
    over, and leave nothing behind."""
    # The roll probes the instances on the hosts it rolls: ours that are there now (a rolled-back host's moved away).
    on_hosts = [i for i, s in servers(conn).items() if i in ids and s["host"] in hosts]
    run = roll(lab, report, **{"ndu_target_version": LAB1, "ndu_hosts": ":".join(hosts), **extra})
    states = {h: host_state(h) for h in hosts}
    upgraded = all(set(s["versions"].values()) == {LAB1} and "(deleted)" not in s["vswitchd_exe"] for s in states.values())
    result = (run.report or {}).get("result")
    row.rerun_converged = run.rc == 0 and result in ("succeeded", "nothing_to_do") and upgraded
    assert run.rc == 0 and result in ("succeeded", "nothing_to_do"), f"the re-run did not converge (rc {run.rc}, result {result}):\n{run.out[-5000:]}"
    assert upgraded, f"after the re-run not every host is on {LAB1} and switched over: {states}"
    if result == "succeeded":  # it rolled: per-instance loss measured for every instance that was on a rolled host
        row.rerun_loss = loss_cell(run.report)
        if on_hosts:
            dataplane.assert_measured(run.report.get("probe"), on_hosts)
    assert_invariants(row, lab, conn, ids, run.report)
    return run


# ---- injecting a fault while a roll runs ----------------------------------------------------------------------
def roll_acting(lab: Any, report: Path, actions: dict[str, Callable[[], Any]], timeout: float = 900,
                **extra: Any) -> tuple[Run, dict[str, Any]]:
    """Run a roll; as soon as a needle of ``actions`` shows in its output, call its action in a thread (the output
    keeps flowing). Return the finished run and what each action returned (by needle)."""
    if report.exists():
        report.unlink()
    started = time.monotonic()
    extra = {**dataplane.read(lab.lab_dir).roll_vars(), **extra}  # per-instance loss measured during the fault
    proc = subprocess.Popen(playbook_argv(lab, "rolling_upgrade", {"ndu_report_path": str(report), **extra}),
                            cwd=REPO, env=playbook_env(lab), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}
    workers: dict[str, threading.Thread] = {}

    def call(needle: str, action: Callable[[], Any]) -> None:
        try:
            results[needle] = action()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test's thread
            errors[needle] = exc
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        for needle, action in actions.items():
            if needle not in workers and needle in line:
                workers[needle] = threading.Thread(target=call, args=(needle, action), daemon=True)
                workers[needle].start()
    proc.wait(timeout=timeout)
    for worker in workers.values():
        worker.join(timeout=300)
    out = "".join(lines)
    missing = [n for n in actions if n not in workers]
    assert not missing, f"the roll never printed {missing}, the fault was not injected:\n{out[-3000:]}"
    for needle, exc in errors.items():
        raise AssertionError(f"injecting the fault at {needle!r} failed: {exc}") from exc
    data = json.loads(report.read_text()) if report.exists() else None
    return Run(proc.returncode, out, time.monotonic() - started, data), results


def labctl_service(lab: Any, op: str, name: str) -> None:
    done = lab.labctl("service", op, name, timeout=600)
    assert done.returncode == 0, f"labctl service {op} {name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


# ---- the table ------------------------------------------------------------------------------------------------
def render_table(rows: list[Row]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "NO"
        if isinstance(value, list):
            return str(len(value)) + (f" ({', '.join(value)})" if value else "")
        return str(value)
    lines = ["| # | fault | outcome | instances lost | hosts left disabled | policies left behind | re-run converged "
             "| packets lost, fault run | packets lost, re-run | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r.number} | {r.fault} | {r.outcome} | {cell(r.instances_lost)} | {cell(r.hosts_left_disabled)} | "
                     f"{cell(r.policies_left_behind)} | {cell(r.rerun_converged)} | {cell(r.fault_loss)} | {cell(r.rerun_loss)} "
                     f"| {r.seconds:.0f} |")
    return "\n".join(lines)
