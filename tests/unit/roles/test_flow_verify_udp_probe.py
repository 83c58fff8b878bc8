# SPDX-License-Identifier: Apache-2.0
"""The UDP loss probe of roles/flow_verify (files/ndu_udp_probe.py).

The sender and receiver run for real on loopback (``run`` only adds
``ip netns exec`` around them); gap arithmetic is checked directly.
"""
from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

PROBE = Path(__file__).resolve().parents[3] / "roles" / "flow_verify" / "files" / "ndu_udp_probe.py"
SPEC = importlib.util.spec_from_file_location("ndu_udp_probe", PROBE)
probe = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(probe)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_longest_gap_counts_from_start_to_end():
    assert probe.longest_gap_ms([10.001, 10.002, 10.003], 10.0, 10.004) == 1.0
    # 400 ms without packets in the middle (a switch-over)
    assert probe.longest_gap_ms([10.0, 10.1, 10.5, 10.501], 10.0, 10.502) == 400.0
    # traffic never came back: the gap runs to the end of sending
    assert probe.longest_gap_ms([10.0, 10.1], 10.0, 12.0) == 1900.0


def test_send_and_receive_on_loopback_at_1000_per_second(tmp_path):
    port, stop, started = free_udp_port(), tmp_path / "stop", tmp_path / "started"
    common = ["--port", str(port), "--stop-file", str(stop), "--max-duration", "30"]
    receiver = subprocess.Popen([sys.executable, str(PROBE), "recv", "--drain", "0.3"] + common, stdout=subprocess.PIPE, text=True)
    assert receiver.stdout.readline().strip() == "ready"
    sender = subprocess.Popen([sys.executable, str(PROBE), "send", "--dest", "127.0.0.1", "--rate", "1000", "--started-file", str(started)] + common,
                              stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while not started.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert started.exists(), "the sender never started counting"
    time.sleep(1.0)
    subprocess.run([sys.executable, str(PROBE), "stop", "--stop-file", str(stop)], check=True)
    sent = json.loads(sender.communicate(timeout=10)[0])
    got = json.loads(receiver.communicate(timeout=10)[0])
    expected = 1000 * (sent["ended"] - sent["started"])
    assert 0.7 * expected <= sent["sent"] <= 1.05 * expected + 50, sent  # paced at 1000 pkt/s, never faster
    assert sent["sent"] >= 800
    assert got["received"] == sent["sent"]
    assert got["duplicates"] == 0
    assert probe.longest_gap_ms(got["times"], sent["started"], sent["ended"]) < 600  # warm-up, then ~1 ms spacing


def test_run_reports_a_failure_as_json_when_namespaces_are_missing(tmp_path):
    out = subprocess.run([sys.executable, str(PROBE), "run", "--sender-ns", "ndu-no-such-ns", "--receiver-ns", "ndu-no-such-ns",
                          "--dest", "127.0.0.1", "--stop-file", str(tmp_path / "stop")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert json.loads(out.stdout.splitlines()[-1])["msg"].startswith("Failed to run the UDP probe")
