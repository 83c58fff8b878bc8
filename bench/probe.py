# SPDX-License-Identifier: Apache-2.0
"""Run the collection's UDP probe (roles/flow_verify/files/ndu_udp_probe.py) between two lab hosts.

The probe's own ``run`` mode needs both namespaces on one machine; here its ``recv`` and ``send`` modes run in
workload namespaces of two different hosts (podman exec + ip netns exec), one flow each way, so every packet
crosses the host under test's Open vSwitch (br-int, the VXLAN tunnel and br-phy). Lost packets and the longest
gap are computed exactly as the probe computes them (its ``longest_gap_ms``).
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from common import LAB_DIR, PODMAN_ENV, PROBE, popen, sh

_spec = importlib.util.spec_from_file_location("ndu_udp_probe", PROBE)
assert _spec and _spec.loader
udp_probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(udp_probe)

DIR = "/run/ndu-bench"
REMOTE = f"{DIR}/ndu_udp_probe.py"
LAB_HOSTS = LAB_DIR / "hosts" / "hosts.json"


@dataclass(frozen=True)
class Flow:
    sender: str  # host
    sender_ns: str
    receiver: str
    receiver_ns: str
    dest: str
    port: int


def install(hosts: list[str]) -> None:
    """Copy the probe into each host (under /run: gone at the next boot, removed by uninstall())."""
    for host in hosts:
        sh(host, "mkdir", "-p", DIR)
        with PROBE.open("rb") as src:
            subprocess.run(["podman", "exec", "-i", host, "sh", "-c", f"cat > {REMOTE}"], stdin=src, env=PODMAN_ENV,
                           check=True, timeout=60)


def uninstall(hosts: list[str]) -> None:
    for host in hosts:
        sh(host, "rm", "-rf", DIR, check=False)


class Session:
    """Both flows running; ``stop()`` returns the combined measurement."""

    def __init__(self, flows: list[Flow], rate: int = 1000) -> None:
        self.flows = flows
        self.receivers: list[subprocess.Popen[str]] = []
        self.senders: list[subprocess.Popen[str]] = []
        hosts = {f.sender for f in flows} | {f.receiver for f in flows}
        for host in hosts:
            sh(host, "rm", "-f", f"{DIR}/stop-send", f"{DIR}/stop-recv", *(f"{DIR}/started-{f.port}" for f in flows))
        for f in flows:
            rx = popen(f.receiver, "ip", "netns", "exec", f.receiver_ns, "python3", REMOTE, "recv", "--port", str(f.port),
                       "--stop-file", f"{DIR}/stop-recv", "--max-duration", "600", "--drain", "1.5")
            assert rx.stdout is not None
            if rx.stdout.readline().strip() != "ready":
                raise RuntimeError(f"probe receiver on {f.receiver}/{f.receiver_ns} did not start: {rx.stderr.read() if rx.stderr else ''}")
            self.receivers.append(rx)
        for f in flows:
            self.senders.append(popen(f.sender, "ip", "netns", "exec", f.sender_ns, "python3", REMOTE, "send", "--dest", f.dest,
                                      "--port", str(f.port), "--rate", str(rate), "--stop-file", f"{DIR}/stop-send",
                                      "--max-duration", "600", "--started-file", f"{DIR}/started-{f.port}"))
        deadline = time.monotonic() + 30
        for f in flows:
            while sh(f.sender, "test", "-e", f"{DIR}/started-{f.port}", check=False).returncode != 0:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"probe sender on {f.sender}/{f.sender_ns} did not start")
                time.sleep(0.1)

    def stop(self) -> dict[str, Any]:
        for host in {f.sender for f in self.flows}:
            sh(host, "touch", f"{DIR}/stop-send")
        sent = [json.loads(s.communicate(timeout=60)[0]) for s in self.senders]
        for host in {f.receiver for f in self.flows}:
            sh(host, "touch", f"{DIR}/stop-recv")
        got = [json.loads(r.communicate(timeout=60)[0]) for r in self.receivers]
        per_flow = []
        for f, s, g in zip(self.flows, sent, got):
            per_flow.append({"flow": f"{f.sender}/{f.sender_ns} -> {f.receiver}/{f.receiver_ns}", "sent": s["sent"],
                             "received": g["received"], "lost": max(s["sent"] - g["received"], 0),
                             "send_errors": s["send_errors"], "duration_s": round(s["ended"] - s["started"], 3),
                             "longest_gap_ms": udp_probe.longest_gap_ms(g["times"], s["started"], s["ended"])})
        return {"sent": sum(p["sent"] for p in per_flow), "lost": sum(p["lost"] for p in per_flow),
                "longest_gap_ms": max(p["longest_gap_ms"] for p in per_flow), "flows": per_flow}
