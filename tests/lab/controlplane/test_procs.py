# SPDX-License-Identifier: Apache-2.0
"""The lab's process records (procs.py) on real child processes: stop_many stops several groups with one shared
wait, kills only those that ignore TERM, and never signals a record whose PID no longer runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from controlplane import procs  # noqa: E402

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
STUBBORN = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"]


def _wait_ready(log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "ready" not in log.read_text():
        time.sleep(0.05)
    assert "ready" in log.read_text(), f"{log.name}: the process never installed its TERM handler"


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "pids", tmp_path / "logs"


def test_stop_many_stops_every_group_and_removes_the_records(dirs: tuple[Path, Path]) -> None:
    pid_dir, log_dir = dirs
    pids = {name: procs.start(pid_dir, log_dir, name, SLEEPER) for name in ("a", "b")}
    assert procs.stop_many(pid_dir, ["a", "b", "never-started"], timeout=10) == ["a", "b"]
    for name, pid in pids.items():
        assert procs.alive(pid_dir, name) is None and not (pid_dir / f"{name}.json").exists()
        assert not procs._group_exists(pid)


def test_stop_many_kills_the_groups_that_ignore_term_after_one_shared_wait(dirs: tuple[Path, Path]) -> None:
    pid_dir, log_dir = dirs
    for name in ("s1", "s2", "s3"):
        procs.start(pid_dir, log_dir, name, STUBBORN)
        _wait_ready(log_dir / f"{name}.out")
    began = time.monotonic()
    assert procs.stop_many(pid_dir, ["s1", "s2", "s3"], timeout=2) == ["s1", "s2", "s3"]
    took = time.monotonic() - began
    assert all(procs.alive(pid_dir, n) is None for n in ("s1", "s2", "s3"))
    # One wait for all three, not three in a row (which would take 6 s or more).
    assert 2 <= took < 5.5, took


def test_a_record_of_a_pid_that_no_longer_runs_is_removed_without_a_signal(dirs: tuple[Path, Path]) -> None:
    pid_dir, log_dir = dirs
    procs.start(pid_dir, log_dir, "gone", [sys.executable, "-c", "pass"])
    record = pid_dir / "gone.json"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and procs.alive(pid_dir, "gone") is not None:
        time.sleep(0.05)
    assert procs.stop(pid_dir, "gone") is False and not record.exists()
