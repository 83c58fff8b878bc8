# SPDX-License-Identifier: Apache-2.0
"""The ndu.dataplane.progress stdout callback: its lines, and a real run with it, with the default
callback, and through ansible-runner (what AWX uses)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.ndu.dataplane.plugins.callback.progress import duration, step_event, step_line, summary_lines

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
PLAYBOOK = HERE / "steps_playbook.yml"
BIN = str(Path(sys.executable).parent)  # the venv's ansible-playbook, also when pytest runs outside make
STEP = {"host": "compute1", "batch": 1, "batches": 3, "step": "live_migrate", "index": 3, "count": 9, "result": "changed"}


def test_duration():
    assert duration(None) == "-"
    assert duration(5.4) == "0:05"
    assert duration(65) == "1:05"
    assert duration(3600 + 61) == "1:01:01"


def test_step_event_read_from_a_fact_or_the_result():
    assert step_event({"ansible_facts": {"ndu_step": STEP}}) == STEP
    assert step_event({"ndu_step": STEP}) == STEP
    assert step_event({"ansible_facts": {"other": 1}}) is None
    assert step_event({"ndu_step": {"host": "x"}}) is None, "an event without a step is not one"
    assert step_event("not a result") is None


def test_step_line_names_every_field():
    line = step_line(dict(STEP, seconds=12.25, next="flow_snapshot"), elapsed=65, moved_so_far=4)
    assert line.startswith("[   1:05] batch 1/3")
    for part in ("compute1", "step 3/9 live_migrate", "changed (12.2 s)", "moved 4", "next flow_snapshot"):
        assert part in line, (part, line)


def test_step_line_of_a_failure_keeps_one_line():
    line = step_line(dict(STEP, result="failed", msg="Failed to migrate\n 'vm1': no host"), elapsed=1, moved_so_far=0)
    assert "\n" not in line
    assert line.endswith("- Failed to migrate 'vm1': no host")


def test_step_line_of_a_rollback_step():
    line = step_line(dict(STEP, step="rollback:ovs_upgrade", index=0, result="ok"), elapsed=1, moved_so_far=0)
    assert "rollback ovs_upgrade" in line and "step 0/" not in line
    line = step_line(dict(STEP, step="restore:drain", index=0, result="ok"), elapsed=1, moved_so_far=0)
    assert "restore drain" in line and "step 0/" not in line


def test_summary_of_a_failed_roll_names_the_hosts_in_trouble():
    report = {"result": "failed", "seconds": 75,
              "parameters": {"report_path": "/r.json"},
              "hosts": {"a": {"status": "rolled"},
                        "b": {"status": "unsafe", "failure": {"step": "ovs_reload", "msg": "no new pid"},
                              "compute_service": {"left_disabled_because": "rollback failed"}}},
              "totals": {"rolled": 1, "unsafe": 1, "instances_moved": 2, "probe_sent": 100, "probe_lost": 3,
                         "probe_longest_gap_ms": 40}}
    lines = summary_lines(report)
    assert lines[0].startswith("roll failed in 1:15: 1 rolled, 0 skipped, 0 rolled back, 0 failed, 1 unsafe")
    assert "2 instance(s) moved; probe lost 3 of 100 packets (longest gap 40 ms)" in lines[0]
    assert lines[1] == "  b: unsafe at step ovs_reload: no new pid (nova-compute left disabled: rollback failed)"
    assert lines[-1] == "report: /r.json"


def test_summary_lists_at_most_limit_hosts():
    report = {"result": "failed", "hosts": {f"h{i:03d}": {"status": "failed"} for i in range(30)}, "totals": {}}
    lines = summary_lines(report, limit=5)
    assert len([x for x in lines if x.startswith("  h")]) == 5
    assert lines[-1] == "  ... and 25 more (see the report)"


def test_summary_of_a_check_run_is_the_plan():
    report = {"result": "planned", "batches": [["a"], ["b", "c"]], "totals": {"skipped": 1}}
    assert summary_lines(report) == [
        "plan: 3 host(s) to roll in 2 batch(es) of 1, 2; 1 skipped (nothing to do). Nothing was changed (check mode)."]


def _env(**extra: str) -> dict:
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"))
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    env.update(extra)
    return env


def _run(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(PLAYBOOK)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _check_progress_output(out: str) -> None:
    lines = out.splitlines()
    steps = [x for x in lines if re.match(r"^\[ *\d+:\d\d\] batch ", x)]
    assert len(steps) == 4, out
    assert re.search(r"batch 1/2 +compute1 +step 2/9 drain +changed \(0\.4 s\) +moved 0, next live_migrate$", steps[0])
    assert re.search(r"compute1 +step 3/9 live_migrate +changed \(12\.2 s\) +moved 2$", steps[1])
    assert re.search(r"batch 2/2 +compute2 +step 3/9 live_migrate +changed +moved 3$", steps[2]), "moved is summed over hosts"
    assert steps[3].endswith("failed               moved 3 - 2 flows missing on br-int")
    assert "Batch 1/2: compute1" in lines, "debug messages are printed as they are"
    assert "roll failed in 1:15: 1 rolled, 0 skipped, 1 rolled back, 0 failed, 0 unsafe, 0 not reached; 3 instance(s) moved" in lines
    assert "  compute2: rolled_back at step flow_verify: 2 flows missing" in lines
    assert "report: /tmp/ndu-report.json" in lines
    assert any(x.startswith("recap: 1 host(s) in ") and x.endswith("4 host step(s); no failures") for x in lines), out
    assert "TASK [" not in out and "A probe that fails" not in out, "no task banners, ignored failures stay quiet"


def test_a_run_with_the_progress_callback():
    proc = _run(_env(ANSIBLE_STDOUT_CALLBACK="ndu.dataplane.progress"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _check_progress_output(proc.stdout)


def test_verbose_run_adds_one_line_per_task():
    env = _env(ANSIBLE_STDOUT_CALLBACK="ndu.dataplane.progress")
    proc = subprocess.run(["ansible-playbook", "-v", "-i", "localhost,", "-c", "local", str(PLAYBOOK)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"localhost: A probe that fails and is ignored: failed \(ignored\)", proc.stdout), proc.stdout
    assert re.search(r"localhost: Hand the report to AWX: ok", proc.stdout), proc.stdout


def test_the_default_callback_still_works():
    proc = _run(_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "TASK [Step event of compute1 drain]" in proc.stdout
    assert "PLAY RECAP" in proc.stdout
    assert not re.search(r"^\[ *\d+:\d\d\] batch ", proc.stdout, re.M)


def test_under_ansible_runner_the_job_output_is_the_same(tmp_path, monkeypatch):
    ansible_runner = pytest.importorskip("ansible_runner")
    monkeypatch.setenv("PATH", BIN + os.pathsep + os.environ.get("PATH", ""))
    runner = ansible_runner.run(
        private_data_dir=str(tmp_path), playbook=str(PLAYBOOK), inventory="localhost ansible_connection=local",
        envvars={k: v for k, v in _env(ANSIBLE_STDOUT_CALLBACK="ndu.dataplane.progress").items() if k.startswith("ANSIBLE_")},
        quiet=True, timeout=120)
    stdout = runner.stdout.read()
    assert runner.status == "successful", stdout
    _check_progress_output(stdout)
    # The event stream AWX stores carries the same lines, one event per task result.
    step_events = [e for e in runner.events if e.get("event") == "runner_on_ok" and "step 3/9 live_migrate" in e.get("stdout", "")]
    assert len(step_events) == 2, json.dumps([e.get("stdout") for e in runner.events])
    stats = runner.stats
    assert stats and "localhost" in stats["ok"]
