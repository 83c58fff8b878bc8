# SPDX-License-Identifier: Apache-2.0
"""Processes the lab starts: each gets its own session and a PID record.

A record holds the PID and the kernel's start time of that PID, so `down`
never signals a recycled PID that now belongs to someone else.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Mapping, Sequence


class LabError(RuntimeError):
    """A failure labctl reports as one readable sentence (no traceback)."""


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counted after the ')' that closes the comm field.
    return stat.rsplit(")", 1)[1].split()[19]


def alive(pid_dir: Path, name: str) -> int | None:
    """The PID of the recorded process `name` if it still runs, else None."""
    record = pid_dir / f"{name}.json"
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    pid = int(data["pid"])
    if _start_time(pid) != data["starttime"]:
        return None
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return None if state == "Z" else pid


def start(
    pid_dir: Path,
    log_dir: Path,
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start `argv` detached in its own session, log to logs/<name>.out, record it."""
    pid_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with open(log_dir / f"{name}.out", "ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - argv is built by labctl itself
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
        )
    starttime = _start_time(proc.pid)
    (pid_dir / f"{name}.json").write_text(
        json.dumps({"pid": proc.pid, "starttime": starttime, "argv": list(argv)})
    )
    return proc.pid


def stop(pid_dir: Path, name: str, timeout: float = 20.0) -> bool:
    """Stop the recorded process group `name` (TERM, then KILL); True if it ran."""
    return bool(stop_many(pid_dir, [name], timeout))


def stop_many(pid_dir: Path, names: list[str], timeout: float = 20.0) -> list[str]:
    """Stop the recorded process groups `names` together: TERM to all, one shared wait of `timeout`, then KILL to
    those still running. Returns the names that ran. Together, because each of nova-scheduler and nova-conductor
    may use most of its TERM grace; one after the other, `labctl down` waited for each in turn."""
    running: dict[str, int] = {}
    for name in names:
        pid = alive(pid_dir, name)
        if pid is None:
            (pid_dir / f"{name}.json").unlink(missing_ok=True)
        else:
            running[name] = pid
    # Each process was started as a session leader: its PGID is its PID.
    for pid in running.values():
        _signal_group(pid, signal.SIGTERM)
    left = dict(running)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        left = {n: pid for n, pid in left.items() if alive(pid_dir, n) is not None or _group_exists(pid)}
        if left:
            time.sleep(0.2)
    for pid in left.values():
        _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_group_exists(pid) for pid in left.values()):
        time.sleep(0.1)
    for name, pid in running.items():
        _reap(pid)
        (pid_dir / f"{name}.json").unlink(missing_ok=True)
    return list(running)


def recorded(pid_dir: Path) -> list[str]:
    if not pid_dir.is_dir():
        return []
    return sorted(p.stem for p in pid_dir.glob("*.json"))


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader keeps the group "existing"; only count live members.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def address_is_local(ip: str) -> bool:
    """True when `ip` is assigned to an interface of this machine.

    The lab's services live on 10.213.0.1 (bridge ndulab0). When the bridge is
    gone, packets to that address would leave the machine by the default
    route: labctl never sends any then.
    """
    if ip.startswith("127."):
        return True
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                         check=False).stdout
    return any(f" {ip}/" in line for line in out.splitlines())


def port_bound(port: int) -> str | None:
    """Who listens on TCP `port` on any address (ss output line), else None."""
    out = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return out or None


def wait_port(host: str, port: int, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.3)
    hint = f"; see {log}" if log else ""
    raise LabError(f"Failed to start {what}: nothing answers on {host}:{port} after {timeout:.0f} s{hint}")


def run(
    argv: Sequence[str],
    what: str,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    timeout: float = 600,
    input_text: str | None = None,
) -> str:
    """Run a command to completion; raise LabError naming `what` on failure."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        proc = subprocess.run(  # noqa: S603
            list(argv),
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            input=input_text,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"Failed to {what}: no answer after {timeout:.0f} s ({' '.join(argv)})") from exc
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as fh:
            fh.write(f"$ {' '.join(argv)}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr or proc.stdout).strip().splitlines()
                 if "eventlet" not in line.lower() and "framework." not in line and line.strip()]
        where = f" (full output in {log})" if log is not None else ""
        raise LabError(f"Failed to {what}: exit {proc.returncode}: " + " | ".join(lines[-5:]) + where)
    return proc.stdout
