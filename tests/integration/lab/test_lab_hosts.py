# SPDX-License-Identifier: Apache-2.0
"""The lab's test hosts as Nova sees them: a rebooted host's nova-compute goes
down and comes back. (Traffic between instances on different hosts, through the
backend's br-int and tunnels: test_lab_network.py and the per-instance probe.)"""
from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from labhelpers import compute_service, podman_env

HOSTSCTL = Path(__file__).resolve().parents[2] / "lab" / "hosts" / "hostsctl"


def _exec(container: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "exec", container, *argv], capture_output=True, text=True,
                          timeout=timeout, check=False, env=podman_env())


def _state(lab: Any, conn: Any, host: str) -> str:
    svc = compute_service(conn, host)
    return svc.state if svc else "missing"


def test_reboot_takes_nova_compute_down_and_back(lab: Any) -> None:
    host = lab.computes[-1]
    conn = lab.connect()
    assert _state(lab, conn, host) == "up"
    since_before = _unit_since(host)
    result: dict[str, Any] = {}

    def reboot() -> None:
        result["proc"] = subprocess.run([str(HOSTSCTL), "reboot", host], capture_output=True,
                                        text=True, timeout=400, check=False, env=lab.env)

    worker = threading.Thread(target=reboot)
    worker.start()
    seen: list[tuple[float, str]] = []
    started = time.monotonic()
    deadline = started + 150
    while time.monotonic() < deadline:
        state = _state(lab, conn, host)
        if not seen or seen[-1][1] != state:
            seen.append((round(time.monotonic() - started, 1), state))
        if "down" in [s for _, s in seen] and state == "up":
            break
        time.sleep(1)
    worker.join(timeout=400)
    assert result["proc"].returncode == 0, result["proc"].stderr[-2000:]
    states = [s for _, s in seen]
    assert "down" in states, f"nova-compute on {host} never went down: {seen}"
    assert states[-1] == "up", f"nova-compute on {host} did not come back: {seen}"
    since_after = _unit_since(host)
    assert since_after and since_after != since_before, "nova-compute was not restarted by the reboot"


def _unit_since(host: str) -> str:
    """When ndu-lab-nova-compute.service last became active (wall clock)."""
    return _exec(host, "systemctl", "show", "-p", "ActiveEnterTimestamp", "--value",
                 "ndu-lab-nova-compute.service").stdout.strip()
