# SPDX-License-Identifier: Apache-2.0
"""Per-instance UDP loss probe: one client, many echo responders (the collection's only probe).

    # in every instance (network namespace, VM): answer the probe
    python3 ndu_udp_probe.py respond [--port 40001] [--ready-file F]
    # the client, outside every host being rolled: numbered datagrams to every instance until told to stop
    python3 ndu_udp_probe.py run --target ID=ADDRESS [--target ...] | --targets-file F.json  [--ns NS]
        --stop-file /run/ndu-dataplane/probe.stop [--rate 200] [--max-duration 3600]
        [--started-file F] [--output F]
    # a host without a cloud (molecule): responder in one namespace, client in the other
    python3 ndu_udp_probe.py run --sender-ns vm1 --receiver-ns vm2 --dest 10.214.0.12 --stop-file F [--rate 1000]
    python3 ndu_udp_probe.py stop --stop-file /run/ndu-dataplane/probe.stop

Wire format (UDP, port 40001 by default: the lab responder's): a request is 24 bytes, ``struct.pack("!4sIQd", b"NDU1", target_index,
sequence, send_time)``; a responder sends every datagram back unchanged to its source. The client sends
``--rate`` requests per second to each target, evenly spaced, and counts the echoes: a packet is lost when its
echo never came back (either direction; the echoes of the last second get ``--drain`` seconds to arrive).

Per target the report gives sent, received, lost, duplicates, the longest gap (ms: the longest time between two
requests that were answered, counting from the start and to the end of sending) and every gap (a run of
unanswered requests: when it started, when it ended, how many were lost). Before counting, every target is sent
warm-up requests (ARP/ND, flows being installed) for up to ``--warmup`` seconds; ``answered_warmup`` says whether
it answered one. The report is one JSON line; exit code 0 when the probe ran (whatever it measured), 1 when it
could not run. Standard library only (python3 >= 3.6 on the probing host).
"""
from __future__ import annotations

import argparse
import array
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

MAGIC = b"NDU1"
PACKET = struct.Struct("!4sIQd")  # magic, target index, sequence number, send time (client's clock)
WARMUP = 2 ** 64 - 1  # sequence number of the warm-up requests (never counted)
DEFAULT_PORT = 40001
GAPS_LISTED = 100  # gaps listed per target (the largest ones; gaps_total counts all)


# ---------------------------------------------------------------------------------------------------------------
# Pure parts: the analysis of one target's sequence numbers (unit-tested without sockets)

def find_gaps(send_times, answered, started, ended):
    """Every run of unanswered requests, as {start, end, ms, lost, first_seq}.

    ``send_times[seq]`` is when request ``seq`` was sent, ``answered`` the set of sequence numbers whose echo came
    back. A gap runs from the last answered request before the run (or ``started``) to the first answered one
    after it (or ``ended``).
    """
    gaps = []
    count = len(send_times)
    seq = 0
    while seq < count:
        if seq in answered:
            seq += 1
            continue
        first = seq
        while seq < count and seq not in answered:
            seq += 1
        start = send_times[first - 1] if first > 0 else started
        end = send_times[seq] if seq < count else ended
        gaps.append({"start": round(start, 3), "end": round(end, 3), "ms": round((end - start) * 1000.0, 1),
                     "lost": seq - first, "first_seq": first})
    return gaps


def longest_gap_ms(send_times, answered, started, ended):
    """Longest time between two answered requests, counting from ``started`` and up to ``ended`` (ms)."""
    points = [started] + [send_times[s] for s in sorted(answered) if 0 <= s < len(send_times)] + [ended]
    return round(max(b - a for a, b in zip(points, points[1:])) * 1000.0, 1) if len(points) > 1 else 0.0


def summarize_target(target, send_times, answered, duplicates, send_errors, rtt_max, answered_warmup, started, ended):
    """The per-instance figures of one target."""
    gaps = find_gaps(send_times, answered, started, ended)
    listed = sorted(sorted(gaps, key=lambda g: (-g["ms"], g["start"]))[:GAPS_LISTED], key=lambda g: g["start"])
    for gap in listed:
        gap["offset_s"] = round(gap["start"] - started, 3)
        del gap["first_seq"]
    sent = len(send_times)
    received = len(answered)
    return {
        "name": target.get("name") or target["id"],
        "address": target["address"],
        "sent": sent,
        "received": received,
        "lost": max(sent - received, 0),
        "duplicates": duplicates,
        "send_errors": send_errors,
        "longest_gap_ms": longest_gap_ms(send_times, answered, started, ended) if sent else 0.0,
        "gaps_total": len(gaps),
        "gaps": listed,
        "rtt_max_ms": round(rtt_max * 1000.0, 1),
        "answered_warmup": answered_warmup,
    }


def worst_instance(instances):
    """The instance that lost most (ties: the longest gap, then the name); None without instances."""
    if not instances:
        return None
    key, entry = max(instances.items(), key=lambda kv: (kv[1]["lost"], kv[1]["longest_gap_ms"], kv[1]["name"]))
    return {"id": key, "name": entry["name"], "address": entry["address"], "sent": entry["sent"], "lost": entry["lost"],
            "longest_gap_ms": entry["longest_gap_ms"]}


def combine(instances, rate, port, started, ended):
    """The whole report: per instance, the worst one, and totals (the totals keep the one-flow fields)."""
    return {
        "rate": rate,
        "port": port,
        "started": round(started, 3),
        "ended": round(ended, 3),
        "duration_s": round(ended - started, 3),
        "instances": instances,
        "worst": worst_instance(instances),
        "sent": sum(i["sent"] for i in instances.values()),
        "received": sum(i["received"] for i in instances.values()),
        "lost": sum(i["lost"] for i in instances.values()),
        "duplicates": sum(i["duplicates"] for i in instances.values()),
        "send_errors": sum(i["send_errors"] for i in instances.values()),
        "longest_gap_ms": max((i["longest_gap_ms"] for i in instances.values()), default=0.0),
        "unanswered": sorted(k for k, i in instances.items() if i["sent"] and not i["received"]),
    }


def attribute_gaps(gaps, windows):
    """Split gaps by the windows they overlap: ``windows`` is a list of {label, start, end} (epoch seconds).

    Returns {label: {"gaps": n, "lost": n, "ms": total}} with "other" for gaps that overlap no window; a gap that
    overlaps several windows counts for the first one (windows in the order given).
    """
    out = {}
    for gap in gaps:
        label = "other"
        for window in windows:
            if gap["start"] <= window["end"] and gap["end"] >= window["start"]:
                label = window["label"]
                break
        entry = out.setdefault(label, {"gaps": 0, "lost": 0, "ms": 0.0})
        entry["gaps"] += 1
        entry["lost"] += gap["lost"]
        entry["ms"] = round(entry["ms"] + gap["ms"], 1)
    return out


def parse_targets(pairs, targets_file):
    """Targets from ``ID=ADDRESS`` (or ``ID=NAME=ADDRESS``) strings and/or a JSON list of {id, name, address}."""
    targets = []
    for pair in pairs or []:
        parts = pair.split("=")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"a target is ID=ADDRESS or ID=NAME=ADDRESS, not '{pair}'")
        targets.append({"id": parts[0], "name": parts[1] if len(parts) == 3 else parts[0], "address": parts[-1]})
    if targets_file:
        with open(targets_file, encoding="utf-8") as handle:
            for item in json.load(handle):
                targets.append({"id": str(item["id"]), "name": item.get("name") or str(item["id"]), "address": item["address"]})
    ids = [t["id"] for t in targets]
    if len(set(ids)) != len(ids):
        raise ValueError("two targets have the same id")
    if not targets:
        raise ValueError("no target to probe")
    return targets


# ---------------------------------------------------------------------------------------------------------------
# The sockets

def _stopped(path, deadline):
    return os.path.exists(path) or time.time() >= deadline


def _write(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def respond(args):
    """Echo every datagram back to its sender, forever (or until the stop file appears)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((args.bind, args.port))
    sock.settimeout(0.5)
    if args.ready_file:
        _write(args.ready_file, f"{os.getpid()}\n")
    print("ready", flush=True)
    while not (args.stop_file and os.path.exists(args.stop_file)):
        try:
            data, source = sock.recvfrom(2048)
        except socket.timeout:
            continue
        try:
            sock.sendto(data, source)
        except OSError:
            pass  # a vanished route: the client counts it as lost
    return {"stopped": True}


class _Target:
    __slots__ = ("spec", "addr", "send_times", "answered", "duplicates", "send_errors", "rtt_max", "warm")

    def __init__(self, spec, port):
        self.spec = spec
        self.addr = (spec["address"], port)
        self.send_times = array.array("d")
        self.answered = set()
        self.duplicates = 0
        self.send_errors = 0
        self.rtt_max = 0.0
        self.warm = False


def _receive(sock, targets, by_addr, now):
    """Read every echo waiting on the socket."""
    while True:
        try:
            data, source = sock.recvfrom(2048)
        except (BlockingIOError, InterruptedError):
            return
        if len(data) < PACKET.size:
            continue
        magic, index, seq, sent_at = PACKET.unpack(data[:PACKET.size])
        if magic != MAGIC or index >= len(targets) or by_addr.get(source[0]) is not targets[index]:
            continue  # not ours, or an echo from another address
        target = targets[index]
        if seq == WARMUP:
            target.warm = True
            continue
        if seq >= len(target.send_times):
            continue
        if seq in target.answered:
            target.duplicates += 1
            continue
        target.answered.add(seq)
        target.rtt_max = max(target.rtt_max, now() - sent_at)


def client(args):
    """Probe every target until the stop file appears; return the report."""
    specs = parse_targets(args.target, args.targets_file)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # a busy host must not drop what arrived
    sock.bind(("0.0.0.0", 0))
    sock.setblocking(False)
    targets = [_Target(spec, args.port) for spec in specs]
    by_addr = {t.addr[0]: t for t in targets}
    if len(by_addr) != len(targets):
        raise ValueError("two targets have the same address")

    # Warm-up: until every target answered once, or --warmup seconds.
    warm_deadline = time.time() + args.warmup
    while time.time() < warm_deadline and not all(t.warm for t in targets):
        for index, target in enumerate(targets):
            if not target.warm:
                try:
                    sock.sendto(PACKET.pack(MAGIC, index, WARMUP, time.time()), target.addr)
                except OSError:
                    pass
        select.select([sock], [], [], 0.1)
        _receive(sock, targets, by_addr, time.time)

    started = time.time()
    if args.started_file:
        _write(args.started_file, f"{os.getpid()} {started}\n")
    interval = 1.0 / args.rate
    slot = interval / len(targets)  # targets evenly interleaved
    deadline = started + args.max_duration
    origin = time.perf_counter()
    tick = 0  # one tick = one request to every target
    while True:
        if tick % 20 == 0 and _stopped(args.stop_file, deadline):
            break
        for index, target in enumerate(targets):
            due = origin + tick * interval + index * slot
            while True:
                now = time.perf_counter()
                if now >= due:
                    break
                ready, _w, _x = select.select([sock], [], [], min(due - now, 0.005))
                if ready:
                    _receive(sock, targets, by_addr, time.time)
            seq = len(target.send_times)
            stamp = time.time()
            target.send_times.append(stamp)
            try:
                sock.sendto(PACKET.pack(MAGIC, index, seq, stamp), target.addr)
            except OSError:
                target.send_errors += 1  # a vanished route or device counts as a lost packet
        _receive(sock, targets, by_addr, time.time)
        tick += 1
        behind = time.perf_counter() - (origin + tick * interval)
        if behind > 1.0:  # never catch up a long stall (a starved CPU) in a burst: shift the schedule
            origin += behind
    ended = time.time()
    drain_until = time.perf_counter() + args.drain
    while time.perf_counter() < drain_until:
        select.select([sock], [], [], 0.05)
        _receive(sock, targets, by_addr, time.time)
    instances = {}
    for target in targets:
        instances[target.spec["id"]] = summarize_target(target.spec, target.send_times, target.answered,
                                                        target.duplicates, target.send_errors, target.rtt_max,
                                                        target.warm, started, ended)
    return combine(instances, args.rate, args.port, started, ended)


def _own_args(args, drop):
    """This run's command line for a child in another namespace (``drop``: options it must not get)."""
    argv = []
    for key, value in vars(args).items():
        if key in drop or key == "mode" or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        for item in value if isinstance(value, list) else [value]:
            argv += [flag] if item is True else [flag, str(item)]
    return argv


def _ours(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"ndu_udp_probe" in handle.read()
    except OSError:
        return False


def _retire_earlier(pid_file):
    """Stop a client an earlier, killed run left behind with the same stop file (its report is not wanted)."""
    try:
        with open(pid_file, encoding="utf-8") as handle:
            pids = [int(p) for p in handle.read().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        if pid != os.getpid() and _ours(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass


def run(args):
    """Start the client (in --ns / --sender-ns when given), and for --receiver-ns a responder there first."""
    me = os.path.abspath(__file__)
    pid_file = args.stop_file + ".pid"
    _retire_earlier(pid_file)
    for stale in (args.stop_file, args.started_file, args.output):  # a report left by an earlier run is not this one
        if stale and os.path.exists(stale):
            os.unlink(stale)
    responder = None
    namespace = args.ns or args.sender_ns
    try:
        if args.receiver_ns:
            if not args.dest:
                raise ValueError("--receiver-ns needs --dest (the responder's address in it)")
            responder = subprocess.Popen(["ip", "netns", "exec", args.receiver_ns, sys.executable, me, "respond",
                                          "--port", str(args.port), "--stop-file", args.stop_file + ".respond"],
                                         stdout=subprocess.PIPE, text=True)
            if responder.stdout is None or responder.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the responder in namespace '{args.receiver_ns}' did not start")
            args.target = (args.target or []) + [f"{args.dest}={args.dest}"]
        child = _own_args(args, {"ns", "sender_ns", "receiver_ns", "dest", "output"})
        command = [sys.executable, me, "client"] + child
        if namespace:
            command = ["ip", "netns", "exec", namespace] + command
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        _write(pid_file, f"{os.getpid()} {proc.pid}\n")
        stdout, _stderr = proc.communicate()
        lines = stdout.strip().splitlines()
        if not lines:
            raise RuntimeError(f"the client{' in namespace ' + repr(namespace) if namespace else ''} printed nothing (rc {proc.returncode})")
        report = json.loads(lines[-1])
        if report.get("failed"):
            raise RuntimeError(report["msg"].removeprefix("Failed to run the UDP probe: "))
    finally:
        if responder is not None:
            _write(args.stop_file + ".respond", "stop\n")
            try:
                responder.wait(timeout=5)
            except subprocess.TimeoutExpired:
                responder.kill()
            if os.path.exists(args.stop_file + ".respond"):
                os.unlink(args.stop_file + ".respond")
    report.update({"client_ns": namespace, "responder_ns": args.receiver_ns})
    if args.dest:  # the one-flow form keeps its old fields
        report.update({"sender_ns": args.sender_ns, "receiver_ns": args.receiver_ns, "dest": args.dest})
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("run", "client", "respond", "stop"))
    parser.add_argument("--target", action="append", help="ID=ADDRESS or ID=NAME=ADDRESS (repeat)")
    parser.add_argument("--targets-file", help="JSON list of {id, name, address}")
    parser.add_argument("--ns", help="network namespace of the client")
    parser.add_argument("--sender-ns", help="one-flow form: the client's namespace")
    parser.add_argument("--receiver-ns", help="one-flow form: start a responder in this namespace")
    parser.add_argument("--dest", help="one-flow form: the responder's address")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--bind", default="0.0.0.0", help="respond: address to listen on")
    parser.add_argument("--rate", type=int, default=200, help="requests per second to each target")
    parser.add_argument("--stop-file")
    parser.add_argument("--max-duration", type=float, default=3600.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--drain", type=float, default=1.0)
    parser.add_argument("--output", help="also write the report to this file")
    parser.add_argument("--started-file", help="created once the counted requests start")
    parser.add_argument("--ready-file", help="respond: created once the socket listens")
    args = parser.parse_args()
    try:
        if args.mode == "respond":
            respond(args)
            return 0
        if not args.stop_file:
            parser.error(f"{args.mode} needs --stop-file")
        if args.rate < 1:
            parser.error("--rate is at least 1")
        if args.mode == "stop":
            _write(args.stop_file, f"{time.time()}\n")
            return 0
        report = client(args) if args.mode == "client" else run(args)
        text = json.dumps(report)
        if args.output:
            _write(args.output, text + "\n")
        print(text)
    except (OSError, RuntimeError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        text = json.dumps({"failed": True, "msg": f"Failed to run the UDP probe: {exc}"})
        if args.output and args.mode in ("run", "client"):  # a reader of the file learns why too
            try:
                _write(args.output, text + "\n")
            except OSError:
                pass
        print(text)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
