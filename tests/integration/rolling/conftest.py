# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the rolling-upgrade integration tests (``lab`` comes from tests/integration/conftest.py).

Every test that changes the lab holds the shared lab lock (/run/ndu-lab.lock, the one `flock` and the demo use) and
leaves the lab as it found it: servers deleted, computes enabled, hosts on the original Open vSwitch packages.
"""
from __future__ import annotations

import fcntl
import signal
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rollhelpers import ORIGINAL, host_state, restore_lab  # noqa: E402

LOCK = Path("/run/ndu-lab.lock")
LOCK_WAIT = 2400


@pytest.fixture(scope="session")
def conn(lab: Any) -> Any:
    if len(lab.computes) < 3:
        pytest.skip("the rolling-upgrade tests need a lab with 3 compute hosts")
    return lab.connect()


@pytest.fixture
def lab_lock(lab: Any) -> Iterator[None]:
    """Hold the shared lab lock for the whole test. The wait is a blocking flock (the kernel's queue, as `flock`
    and the benchmarks wait), so a job that re-takes the lock between its rounds still lets this test in; it gives
    up after LOCK_WAIT seconds."""
    LOCK.touch(exist_ok=True)
    with LOCK.open("a") as handle:
        def give_up(signum: int, frame: Any) -> None:
            raise TimeoutError
        previous = signal.signal(signal.SIGALRM, give_up)
        signal.alarm(LOCK_WAIT)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except TimeoutError:
            pytest.fail(f"the lab lock {LOCK} stayed taken for {LOCK_WAIT // 60} min")
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture
def clean_lab(lab: Any, conn: Any, lab_lock: None) -> Iterator[Any]:
    """A lab on the original packages with every compute enabled, and put back like that afterwards."""
    restore_lab(conn, lab.computes)
    for host in lab.computes:
        state = host_state(host)
        assert set(state["versions"].values()) == {ORIGINAL} and state["dataplane_ok"], f"{host} is not clean: {state}"
    yield conn
    restore_lab(conn, lab.computes)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    return tmp_path / "report.json"
