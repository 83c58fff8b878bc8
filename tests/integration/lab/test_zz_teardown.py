# SPDX-License-Identifier: Apache-2.0
"""Tear the lab down and prove nothing is left behind; then prove that bad
input to `labctl up` is refused before anything starts.

Marked ``teardown`` and named to run last in the integration stage; select it
alone with ``pytest -m teardown tests/integration``.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from labhelpers import podman_env

LABCTL = Path(__file__).resolve().parents[2] / "lab" / "labctl.py"
LAB_PORTS = (18306, 18672, 18369, 18673, 18500, 18778, 18292, 18696, 18774)


def _labctl(*args: str, user: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(LABCTL), *args]
    if user:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _running(pid: int) -> bool:
    """The PID exists and is not a zombie waiting for init to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _listening(port: int) -> str:
    return subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                          check=False).stdout.strip()


def _podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True,
                          env=podman_env()).stdout


def _lab_containers() -> list[str]:
    return [n for n in _podman("ps", "-a", "--format", "{{.Names}}").split()
            if n.startswith("compute")]


@pytest.mark.teardown
def test_down_leaves_nothing_behind(lab: Any) -> None:
    lab_dir = lab.lab_dir
    cache = Path(os.environ.get("NDU_LAB_CACHE", "/var/cache/ndu-lab"))
    pids = []
    for record in (lab_dir / "pids").glob("*.json"):
        pids.append(int(json.loads(record.read_text())["pid"]))
    assert pids, "a running lab records the PIDs of its processes"
    caches_before = sorted(p.name for p in cache.iterdir())

    down = _labctl("down")
    assert down.returncode == 0, down.stdout + down.stderr

    assert not lab_dir.exists(), f"{lab_dir} is still there"
    alive = [pid for pid in pids if _running(pid)]
    assert not alive, f"lab processes still running: {alive}"
    assert not [p for p in LAB_PORTS if _listening(p)], "a lab port is still listening"
    assert _lab_containers() == [], "test-host containers are left"
    assert "ndu-lab" not in _podman("network", "ls", "--format", "{{.Name}}").split()
    link = subprocess.run(["ip", "link", "show", "ndulab0"], capture_output=True, check=False)
    assert link.returncode != 0, "bridge ndulab0 is left"
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    left = [n for n in (line.split()[0] for line in netns.splitlines() if line.strip()) if n in ("vm1", "vm2") or n.startswith("vm-")]
    assert not left, f"workload namespaces are left on this machine: {left}"
    # The caches survive a down (that is what makes the next up warm).
    assert sorted(p.name for p in cache.iterdir()) == caches_before

    again = _labctl("down")
    assert again.returncode == 0, "down on a down lab is a no-op"


@pytest.mark.teardown
@pytest.mark.parametrize("argv, message", [
    (("up", "--computes", "0"), "out of range"),
    (("up", "--computes", "7"), "out of range"),
])
def test_up_refuses_bad_host_count(argv: tuple[str, ...], message: str) -> None:
    lab_dir = Path(os.environ.get("NDU_LAB_DIR", "/var/lib/ndu-lab"))
    result = _labctl(*argv)
    assert result.returncode == 2
    assert message in result.stderr
    assert not lab_dir.exists(), "a refused up must not create the lab dir"


@pytest.mark.teardown
def test_up_refuses_a_port_in_use() -> None:
    lab_dir = Path(os.environ.get("NDU_LAB_DIR", "/var/lib/ndu-lab"))
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 18306))
        holder.listen()
        result = _labctl("up", "--computes", "1")
    assert result.returncode == 2
    assert "18306" in result.stderr and "in use" in result.stderr
    assert not lab_dir.exists(), "a refused up must not create the lab dir"
    assert _lab_containers() == []


@pytest.mark.teardown
def test_up_refuses_non_root() -> None:
    result = _labctl("up", user="65534")
    assert result.returncode == 2
    assert "must run as root" in result.stderr
