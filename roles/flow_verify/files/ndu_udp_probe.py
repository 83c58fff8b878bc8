# SPDX-License-Identifier: Apache-2.0
"""UDP loss probe between two network namespaces.

    python3 ndu_udp_probe.py run --sender-ns vm1 --receiver-ns vm2 --dest 10.214.0.12 \
        --stop-file /run/ndu-dataplane/probe.stop [--rate 1000] [--max-duration 900] \
        [--started-file F] [--output F]
    python3 ndu_udp_probe.py stop --stop-file /run/ndu-dataplane/probe.stop

``run`` starts a receiver in one namespace and a sender in the other (both
this script, through ``ip netns exec``), sends numbered UDP datagrams at
``--rate`` per second until the stop file appears (or ``--max-duration``
passes; ``stop`` creates it), lets the receiver drain, and prints one JSON line: packets sent,
received, lost, and the longest time without a packet (ms). Exit code 0 when
the probe ran (whatever it measured), 1 when it could not run.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import time

PACKET = struct.Struct("!qd")  # sequence number, send time
WARMUP = -1


def _stopped(path: str, deadline: float) -> bool:
    return os.path.exists(path) or time.time() >= deadline


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def send(args: argparse.Namespace) -> dict:
    """Send numbered datagrams at a fixed rate until told to stop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = (args.dest, args.port)
    for _warmup in range(5):  # resolve ARP before the counted packets start
        sock.sendto(PACKET.pack(WARMUP, time.time()), target)
        time.sleep(0.1)
    if args.started_file:
        _write(args.started_file, f"{os.getpid()}\n")
    interval = 1.0 / args.rate
    deadline = time.time() + args.max_duration
    started = time.time()
    next_at = time.perf_counter()
    seq = 0
    errors = 0
    while seq % 50 or not _stopped(args.stop_file, deadline):
        now = time.perf_counter()
        if now < next_at:
            time.sleep(min(next_at - now, 0.001))
            continue
        try:
            sock.sendto(PACKET.pack(seq, time.time()), target)
        except OSError:
            errors += 1  # a vanished route or device counts as a lost packet
        seq += 1
        next_at += interval
        if now - next_at > 1.0:  # never try to catch up a long stall in a burst
            next_at = now
    return {"sent": seq, "send_errors": errors, "started": started, "ended": time.time()}


def receive(args: argparse.Namespace) -> dict:
    """Count datagrams until the stop file appears, then drain for a moment."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # a busy host must not drop what arrived
    sock.bind(("0.0.0.0", args.port))
    sock.settimeout(0.05)
    print("ready", flush=True)
    seen: set[int] = set()
    times: list[float] = []
    duplicates = 0
    deadline = time.time() + args.max_duration + args.drain
    stop_at = None
    while stop_at is None or time.time() < stop_at:
        if stop_at is None and _stopped(args.stop_file, deadline):
            stop_at = time.time() + args.drain
        try:
            data = sock.recv(64)
        except socket.timeout:
            continue
        seq, _sent_at = PACKET.unpack(data[:PACKET.size])
        if seq == WARMUP:
            continue
        if seq in seen:
            duplicates += 1
            continue
        seen.add(seq)
        times.append(time.time())
    return {"received": len(seen), "duplicates": duplicates, "times": times}


def longest_gap_ms(times: list[float], started: float, ended: float) -> float:
    """Longest time without a packet, counting from the start and up to the end of sending."""
    points = [started] + sorted(t for t in times if started <= t <= ended) + [ended]
    return round(max(b - a for a, b in zip(points, points[1:])) * 1000.0, 1)


def run(args: argparse.Namespace) -> dict:
    """Run receiver and sender in their namespaces and combine their reports."""
    me = os.path.abspath(__file__)
    common = ["--port", str(args.port), "--stop-file", args.stop_file, "--max-duration", str(args.max_duration)]
    for stale in (args.stop_file, args.started_file):
        if stale and os.path.exists(stale):
            os.unlink(stale)
    receiver = subprocess.Popen(["ip", "netns", "exec", args.receiver_ns, sys.executable, me, "recv", "--drain", str(args.drain)] + common,
                                stdout=subprocess.PIPE, text=True)
    if receiver.stdout is None or receiver.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the receiver in namespace '{args.receiver_ns}' did not start")
    started = ["--started-file", args.started_file] if args.started_file else []
    send_cmd = ["ip", "netns", "exec", args.sender_ns, sys.executable, me, "send", "--dest", args.dest, "--rate", str(args.rate)]
    sender = subprocess.run(send_cmd + started + common, stdout=subprocess.PIPE, text=True, check=True)
    sent = json.loads(sender.stdout)
    got = json.loads(receiver.communicate(timeout=args.drain + 30)[0])
    return {
        "sender_ns": args.sender_ns,
        "receiver_ns": args.receiver_ns,
        "dest": args.dest,
        "rate": args.rate,
        "sent": sent["sent"],
        "received": got["received"],
        "lost": max(sent["sent"] - got["received"], 0),
        "duplicates": got["duplicates"],
        "send_errors": sent["send_errors"],
        "duration_s": round(sent["ended"] - sent["started"], 3),
        "longest_gap_ms": longest_gap_ms(got["times"], sent["started"], sent["ended"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("run", "send", "recv", "stop"))
    parser.add_argument("--sender-ns")
    parser.add_argument("--receiver-ns")
    parser.add_argument("--dest")
    parser.add_argument("--port", type=int, default=5999)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--max-duration", type=float, default=900.0)
    parser.add_argument("--drain", type=float, default=1.0)
    parser.add_argument("--output", help="also write the run report to this file")
    parser.add_argument("--started-file", help="created once the counted packets start")
    args = parser.parse_args()
    try:
        if args.mode == "stop":
            _write(args.stop_file, f"{time.time()}\n")
        elif args.mode == "send":
            print(json.dumps(send(args)))
        elif args.mode == "recv":
            print(json.dumps(receive(args)))
        else:
            if not (args.sender_ns and args.receiver_ns and args.dest):
                parser.error("run needs --sender-ns, --receiver-ns and --dest")
            report = json.dumps(run(args))
            if args.output:
                _write(args.output, report + "\n")
            print(report)
    except (OSError, RuntimeError, subprocess.SubprocessError, ValueError) as exc:
        print(json.dumps({"failed": True, "msg": f"Failed to run the UDP probe: {exc}"}))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
