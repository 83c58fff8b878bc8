# SPDX-License-Identifier: Apache-2.0
"""The per-instance UDP probe (roles/flow_verify/files/ndu_udp_probe.py).

The gap analysis and the per-instance summary are checked directly; the client and responders run for real on
loopback (``run`` only adds ``ip netns exec`` around them), and a lossy responder is a socket that drops requests.
"""
from __future__ import annotations

import importlib.util
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

PROBE = Path(__file__).resolve().parents[3] / "roles" / "flow_verify" / "files" / "ndu_udp_probe.py"
SPEC = importlib.util.spec_from_file_location("ndu_udp_probe", PROBE)
probe = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(probe)


def times(n: int, start: float = 100.0, step: float = 0.005) -> list[float]:
    return [start + k * step for k in range(n)]


def test_no_loss_means_no_gap_and_the_spacing_as_longest_gap():
    sent = times(10)
    assert probe.find_gaps(sent, set(range(10)), 100.0, 100.05) == []
    assert probe.longest_gap_ms(sent, set(range(10)), 100.0, 100.05) == 5.0


def test_a_run_of_lost_requests_is_one_gap_from_the_last_answer_to_the_next():
    sent = times(100)
    answered = set(range(100)) - set(range(40, 60))  # 20 requests unanswered (100 ms at 200 pkt/s)
    gaps = probe.find_gaps(sent, answered, 100.0, 100.5)
    assert gaps == [{"start": round(sent[39], 3), "end": round(sent[60], 3), "ms": 105.0, "lost": 20, "first_seq": 40}]
    assert probe.longest_gap_ms(sent, answered, 100.0, 100.5) == 105.0


def test_gaps_at_the_start_and_at_the_end_run_to_the_probe_window():
    sent = times(10)
    gaps = probe.find_gaps(sent, {3, 4, 5}, 99.0, 101.0)
    assert [(g["start"], g["end"], g["lost"]) for g in gaps] == [(99.0, round(sent[3], 3), 3), (round(sent[5], 3), 101.0, 4)]
    # traffic never came back: the longest gap runs to the end of sending
    assert probe.longest_gap_ms(sent, {0, 1}, 100.0, 102.0) == round((102.0 - sent[1]) * 1000, 1)
    # nothing answered at all: the whole window
    assert probe.longest_gap_ms(sent, set(), 100.0, 102.0) == 2000.0


def test_summary_of_one_instance_lists_gaps_in_time_order_with_their_offset():
    sent = times(400)
    answered = set(range(400)) - {10} - set(range(200, 260))
    target = {"id": "6f1c", "name": "web-1", "address": "10.0.0.5"}
    s = probe.summarize_target(target, sent, answered, duplicates=1, send_errors=0, rtt_max=0.0021, answered_warmup=True,
                               started=100.0, ended=102.0)
    assert (s["name"], s["address"], s["sent"], s["received"], s["lost"]) == ("web-1", "10.0.0.5", 400, 339, 61)
    assert s["gaps_total"] == 2 and [g["lost"] for g in s["gaps"]] == [1, 60]
    assert s["gaps"][1]["offset_s"] == 0.995 and s["longest_gap_ms"] == 305.0
    assert s["rtt_max_ms"] == 2.1 and s["duplicates"] == 1 and s["answered_warmup"] is True
    assert "first_seq" not in s["gaps"][0]


def test_only_the_largest_gaps_are_listed_but_all_are_counted(monkeypatch):
    monkeypatch.setattr(probe, "GAPS_LISTED", 3)
    sent = times(100)
    answered = set(range(100)) - {10, 20, 21, 30, 31, 32, 40}
    s = probe.summarize_target({"id": "a", "address": "10.0.0.1"}, sent, answered, 0, 0, 0.0, True, 100.0, 100.5)
    assert s["gaps_total"] == 4 and [g["lost"] for g in s["gaps"]] == [1, 2, 3]  # the three largest, in time order
    assert s["name"] == "a"


def test_worst_instance_is_the_one_that_lost_most_then_the_longest_gap():
    mk = lambda name, lost, gap: {"name": name, "address": "x", "sent": 100, "received": 100 - lost, "lost": lost,  # noqa: E731
                                  "duplicates": 0, "send_errors": 0, "longest_gap_ms": gap}
    instances = {"i1": mk("a", 3, 20.0), "i2": mk("b", 7, 40.0), "i3": mk("c", 7, 90.0)}
    assert probe.worst_instance(instances)["id"] == "i3"
    assert probe.worst_instance({}) is None
    report = probe.combine(instances, 200, 5999, 100.0, 101.0)
    assert (report["sent"], report["lost"], report["longest_gap_ms"], report["worst"]["name"]) == (300, 17, 90.0, "c")


def test_unanswered_names_targets_that_never_echoed():
    mk = lambda received: {"name": "n", "address": "x", "sent": 10, "received": received, "lost": 10 - received,  # noqa: E731
                           "duplicates": 0, "send_errors": 0, "longest_gap_ms": 1.0}
    assert probe.combine({"a": mk(10), "b": mk(0)}, 200, 5999, 0.0, 1.0)["unanswered"] == ["b"]


def test_gaps_are_attributed_to_the_window_they_overlap():
    gaps = [{"start": 10.0, "end": 10.4, "ms": 400.0, "lost": 80}, {"start": 20.0, "end": 20.1, "ms": 100.0, "lost": 20},
            {"start": 30.0, "end": 30.05, "ms": 50.0, "lost": 10}]
    windows = [{"label": "live_migration", "start": 19.5, "end": 25.0}, {"label": "switchover", "start": 9.0, "end": 11.0}]
    assert probe.attribute_gaps(gaps, windows) == {
        "switchover": {"gaps": 1, "lost": 80, "ms": 400.0},
        "live_migration": {"gaps": 1, "lost": 20, "ms": 100.0},
        "other": {"gaps": 1, "lost": 10, "ms": 50.0},
    }


def test_targets_come_from_pairs_and_a_file(tmp_path):
    f = tmp_path / "t.json"
    f.write_text(json.dumps([{"id": "u1", "name": "web", "address": "10.0.0.7"}]))
    assert probe.parse_targets(["a=10.0.0.5", "b=db=10.0.0.6"], str(f)) == [
        {"id": "a", "name": "a", "address": "10.0.0.5"}, {"id": "b", "name": "db", "address": "10.0.0.6"},
        {"id": "u1", "name": "web", "address": "10.0.0.7"}]
    for bad in (["nonsense"], ["a=1.2.3.4", "a=1.2.3.5"], []):
        try:
            probe.parse_targets(bad, None)
        except ValueError:
            continue
        raise AssertionError(f"{bad} was accepted")


def lossy_responder(port: int, drop: set[int], stop: threading.Event) -> threading.Thread:
    """An echo on 127.0.0.2 that swallows the requests whose sequence number is in ``drop``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.2", port))
    sock.settimeout(0.1)

    def serve() -> None:
        while not stop.is_set():
            try:
                data, source = sock.recvfrom(2048)
            except socket.timeout:
                continue
            _magic, _index, seq, _t = probe.PACKET.unpack(data[:probe.PACKET.size])
            if seq not in drop:
                sock.sendto(data, source)
        sock.close()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_client_and_responder_on_loopback_count_every_instance(tmp_path):
    port, stop, started = free_udp_port(), tmp_path / "stop", tmp_path / "started"
    responder = subprocess.Popen([sys.executable, str(PROBE), "respond", "--bind", "127.0.0.1", "--port", str(port),
                                  "--stop-file", str(tmp_path / "rstop")], stdout=subprocess.PIPE, text=True)
    assert responder.stdout.readline().strip() == "ready"
    halt = threading.Event()
    lossy_responder(port, set(range(100, 150)), halt)
    client = subprocess.Popen([sys.executable, str(PROBE), "run", "--target", "good=web=127.0.0.1", "--target", "lossy=127.0.0.2",
                               "--port", str(port), "--rate", "200", "--stop-file", str(stop), "--started-file", str(started),
                               "--drain", "0.3", "--output", str(tmp_path / "out.json")], stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while not started.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert started.exists(), "the client never started counting"
    time.sleep(1.5)
    subprocess.run([sys.executable, str(PROBE), "stop", "--stop-file", str(stop)], check=True)
    report = json.loads(client.communicate(timeout=15)[0])
    halt.set()
    (tmp_path / "rstop").write_text("x")
    responder.wait(timeout=5)
    good, lossy = report["instances"]["good"], report["instances"]["lossy"]
    expected = 200 * report["duration_s"]
    for entry in (good, lossy):
        assert 0.5 * expected <= entry["sent"] <= 1.05 * expected + 20, entry  # paced at 200 pkt/s each, never faster
        assert entry["answered_warmup"] is True
    assert good["name"] == "web" and good["lost"] == 0 and good["received"] == good["sent"] and good["gaps"] == []
    assert good["longest_gap_ms"] < 300
    assert lossy["lost"] == 50 and lossy["gaps_total"] == 1 and lossy["gaps"][0]["lost"] == 50
    assert 230 <= lossy["longest_gap_ms"] < 2000, lossy  # 51 intervals of 5 ms, plus scheduling jitter (a loaded machine)
    assert 0.4 < lossy["gaps"][0]["offset_s"] < 3.0
    assert report["worst"]["id"] == "lossy" and report["lost"] == 50
    assert json.loads((tmp_path / "out.json").read_text()) == report


def test_a_target_that_never_answers_is_measured_not_hidden(tmp_path):
    port, stop, started = free_udp_port(), tmp_path / "stop", tmp_path / "started"
    client = subprocess.Popen([sys.executable, str(PROBE), "run", "--target", "ghost=127.0.0.3", "--port", str(port),
                               "--warmup", "0.3", "--stop-file", str(stop), "--drain", "0.2", "--started-file", str(started)],
                              stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 20  # a loaded machine starts Python slowly
    while not started.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert started.exists(), "the client never started counting"
    time.sleep(1.0)
    stop.write_text("x")
    report = json.loads(client.communicate(timeout=15)[0])
    ghost = report["instances"]["ghost"]
    assert ghost["sent"] > 50 and ghost["received"] == 0 and ghost["lost"] == ghost["sent"]
    assert ghost["answered_warmup"] is False and report["unanswered"] == ["ghost"]


def test_run_reports_a_failure_as_json_when_namespaces_are_missing(tmp_path):
    out = subprocess.run([sys.executable, str(PROBE), "run", "--sender-ns", "ndu-no-such-ns", "--receiver-ns", "ndu-no-such-ns",
                          "--dest", "127.0.0.1", "--stop-file", str(tmp_path / "stop")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert json.loads(out.stdout.splitlines()[-1])["msg"].startswith("Failed to run the UDP probe")


def test_wire_format_is_24_bytes():
    assert probe.PACKET.size == 24
    magic, index, seq, _t = struct.unpack("!4sIQd", probe.PACKET.pack(probe.MAGIC, 3, 42, 1.5))
    assert (magic, index, seq) == (b"NDU1", 3, 42)
