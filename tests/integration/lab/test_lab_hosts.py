# SPDX-License-Identifier: Apache-2.0
"""The lab's test hosts as Nova sees them: a rebooted host's nova-compute goes
down and comes back; workload traffic crosses OVS and the tunnel between hosts."""
from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from labhelpers import compute_service, podman_env

HOSTSCTL = Path(__file__).resolve().parents[2] / "lab" / "hosts" / "hostsctl"


def _ips(lab: Any) -> dict[str, dict[str, str]]:
    return {name: {"vm1": f"10.214.0.{10 * i + 1}", "vm2": f"10.214.0.{10 * i + 2}"}
            for i, name in ((int(n.removeprefix("compute")), n) for n in lab.computes)}


def _exec(container: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "exec", container, *argv], capture_output=True, text=True,
                          timeout=timeout, check=False, env=podman_env())


def _br_int_packets(container: str) -> int:
    out = _exec(container, "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br-int")
    assert out.returncode == 0, f"ovs-ofctl dump-flows br-int on {container}: {out.stderr}"
    return sum(int(m) for m in re.findall(r"n_packets=(\d+)", out.stdout))


def test_workload_traffic_crosses_hosts(lab: Any) -> None:
    if len(lab.computes) < 2:
        pytest.skip("needs at least 2 test hosts")
    ips = _ips(lab)
    hosts = list(lab.computes)
    for index, src in enumerate(hosts):
        dst = hosts[(index + 1) % len(hosts)]
        before_src, before_dst = _br_int_packets(src), _br_int_packets(dst)
        for ns in ("vm1", "vm2"):
            target = ips[dst][ns]
            ping = _exec(src, "ip", "netns", "exec", ns, "ping", "-c", "5", "-i", "0.2", "-W", "2", target)
            assert ping.returncode == 0, f"{src}/{ns} -> {dst}/{target}: {ping.stdout}{ping.stderr}"
            assert " 0% packet loss" in ping.stdout, ping.stdout
        # The packets went through br-int's explicit flows on both ends.
        assert _br_int_packets(src) >= before_src + 20
        assert _br_int_packets(dst) >= before_dst + 20


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
