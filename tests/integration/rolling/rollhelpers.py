# SPDX-License-Identifier: Apache-2.0
"""Helpers of the rolling-upgrade integration tests: run the playbook, read the cloud and the hosts back
independently (openstacksdk with explicit microversions, podman exec), and put the lab back as it was."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dataplane
from polling import wait_for  # noqa: F401  (re-exported to the tests)

REPO = Path(__file__).resolve().parents[3]
VENV = Path(os.environ.get("NDU_VENV", REPO / ".venv"))
HOSTSCTL = REPO / "tests" / "lab" / "hosts" / "hostsctl"
VERSIONS = dataplane.versions()
ORIGINAL = VERSIONS["original"]
LAB1 = VERSIONS["lab1"]
BROKEN = VERSIONS["broken"]
PACKAGES = ("openvswitch-common", "openvswitch-switch")
PREFIX = f"ndu-roll-{uuid.uuid4().hex[:6]}-"
MARKER = "[ndu.dataplane"
MV = "2.80"
# Containers: a reboot shows in PID 1's start time, not in the kernel's boot id.
LAB_VARS = {"ndu_reboot_boot_time_command": "cut -d' ' -f22 /proc/1/stat"}


@dataclass
class Run:
    rc: int
    out: str
    seconds: float
    report: dict[str, Any] | None


def unfolded(out: str) -> str:
    """The output with the YAML callback's line folding undone (a break plus indentation reads as one space)."""
    return re.sub(r"\n[ \t]+", " ", out).replace("''", "'")


podman_env = dataplane.podman_env  # os.environ plus what `hostsctl env` says podman needs (the tests import it from here)


def playbook_argv(lab: Any, playbook: str, extra: dict[str, Any], check: bool = False,
                  inventories: tuple[Path, ...] = ()) -> list[str]:
    argv = [str(VENV / "bin" / "ansible-playbook"), "-i", str(lab.inventory)]
    for inventory in inventories:
        argv += ["-i", str(inventory)]
    argv += [f"ndu.dataplane.{playbook}", "-e", json.dumps({**LAB_VARS, **extra})]
    return argv + (["--check"] if check else [])


def playbook_env(lab: Any) -> dict[str, str]:
    env = podman_env()
    env.update(lab.env)
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=f"{VENV / 'bin'}:{os.environ.get('PATH', '')}")
    return env


def roll(lab: Any, report: Path, playbook: str = "rolling_upgrade", check: bool = False, timeout: float = 900,
         inventories: tuple[Path, ...] = (), probe: bool = True, **extra: Any) -> Run:
    """Run a playbook; a rolling_upgrade runs with the per-instance probe from the lab's probe host unless probe=False."""
    if report.exists():
        report.unlink()
    if probe and playbook == "rolling_upgrade":
        extra = {**dataplane.read(lab.lab_dir).roll_vars(), **extra}
    started = time.monotonic()
    proc = subprocess.run(playbook_argv(lab, playbook, {"ndu_report_path": str(report), **extra}, check, inventories), cwd=REPO,
                          env=playbook_env(lab), capture_output=True, text=True, timeout=timeout, check=False)
    data = json.loads(report.read_text()) if report.exists() else None
    return Run(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started, data)


def kill_when(lab: Any, report: Path, needle: str, timeout: float = 600, **extra: Any) -> str:
    """Start a roll, SIGKILL its whole process group as soon as ``needle`` shows in its output; return the output."""
    extra = {**dataplane.read(lab.lab_dir).roll_vars(), **extra}
    proc = subprocess.Popen(playbook_argv(lab, "rolling_upgrade", {"ndu_report_path": str(report), **extra}), cwd=REPO,
                            env=playbook_env(lab), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if needle in line or time.monotonic() > deadline:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    text = "".join(seen)
    assert needle in text, f"the roll never printed {needle!r}:\n{text[-3000:]}"
    return text


def sh(host: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["podman", "exec", host, *argv], capture_output=True, text=True, env=podman_env(), check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{host}: {' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def host_state(host: str) -> dict[str, Any]:
    """What runs and is installed on a host, read with plain commands (never through the collection)."""
    versions = dict(line.split() for line in sh(host, "dpkg-query", "-W", *PACKAGES).stdout.splitlines())
    pid = sh(host, "cat", "/run/openvswitch/ovs-vswitchd.pid", check=False).stdout.strip()
    exe = sh(host, "readlink", f"/proc/{pid}/exe", check=False).stdout.strip() if pid else ""
    flows = sh(host, "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br-int", "--no-stats", check=False)
    return {
        "versions": versions, "vswitchd_pid": pid, "vswitchd_exe": exe,
        "policy_rc_d": sh(host, "test", "-e", "/usr/sbin/policy-rc.d", check=False).returncode == 0,
        "flows": sorted(line.strip() for line in flows.stdout.splitlines() if "actions=" in line),
        "dataplane_ok": sh(host, "/usr/local/sbin/ndu-lab-dataplane", "check", check=False).returncode == 0,
    }


def nova(conn: Any, method: str, url: str, body: dict[str, Any] | None = None, mv: str = MV) -> Any:
    resp = getattr(conn.compute, method)(url, json=body, microversion=mv)
    if resp.status_code >= 400:
        raise AssertionError(f"{method.upper()} {url} -> {resp.status_code}: {resp.text[:500]}")
    return resp.json() if resp.content else None


def services(conn: Any) -> dict[str, dict[str, Any]]:
    return {s["host"]: {"status": s["status"], "state": s["state"], "disabled_reason": s["disabled_reason"]}
            for s in nova(conn, "get", "/os-services?binary=nova-compute", mv="2.53")["services"]}


def servers(conn: Any) -> dict[str, dict[str, Any]]:
    """Every test server: id -> name, status, host, origin metadata."""
    found = nova(conn, "get", "/servers/detail?all_tenants=1")["servers"]
    return {s["id"]: {"name": s["name"], "status": s["status"], "host": s["OS-EXT-SRV-ATTR:host"],
                      "origin": s.get("metadata", {}).get("ndu:origin_host")}
            for s in found if s["name"].startswith(PREFIX)}


def boot(conn: Any, hosts: tuple[str, ...], per_host: int) -> list[str]:
    """``per_host`` servers pinned to each host, each with a port on the lab's tenant network, all ACTIVE."""
    network = dataplane.read().network
    return dataplane.boot(conn, [(f"{PREFIX}{host}-{n}", host) for host in hosts for n in range(per_host)], network)


def restore_lab(conn: Any, hosts: tuple[str, ...]) -> list[str]:
    """Put the lab back: test servers deleted, our disables lifted, hosts on the original packages with their flows."""
    done = []
    try:
        dataplane.read().stop_stray_probe()
    except AssertionError:
        pass  # not a Neutron-dataplane lab: nothing of ours can run there
    for server_id in servers(conn):
        conn.compute.delete(f"/servers/{server_id}", microversion=MV)
    wait_for("test servers deleted", lambda: not servers(conn), 180)
    for host, svc in services(conn).items():
        if svc["status"] == "disabled" and (svc["disabled_reason"] or "").startswith(MARKER):
            sid = [s for s in nova(conn, "get", "/os-services?binary=nova-compute", mv="2.53")["services"] if s["host"] == host][0]["id"]
            nova(conn, "put", f"/os-services/{sid}", {"status": "enabled"}, mv="2.53")
            done.append(f"{host}: enabled")
    for host in hosts:
        sh(host, "rm", "-f", "/var/lib/ndu-dataplane/rolling-state.json", "/var/lib/ndu-dataplane/rolling-last.json")
        if sh(host, "grep", "-qs", "ndu.dataplane", "/usr/sbin/policy-rc.d", check=False).returncode == 0:
            sh(host, "rm", "-f", "/usr/sbin/policy-rc.d")
            done.append(f"{host}: removed policy-rc.d")
        state = host_state(host)
        if any(v != ORIGINAL for v in state["versions"].values()) or not state["dataplane_ok"] or "(deleted)" in state["vswitchd_exe"]:
            sh(host, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "--allow-downgrades",
               *(f"{p}={ORIGINAL}" for p in PACKAGES))
            sh(host, "systemctl", "restart", "openvswitch-switch")
            sh(host, "/usr/local/sbin/ndu-lab-dataplane", "apply")
            done.append(f"{host}: back to {ORIGINAL}, dataplane re-applied")
        wait_for(f"{host} dataplane healthy", lambda h=host: host_state(h)["dataplane_ok"], 60)
    wait_for("every compute up and enabled",
             lambda: all(s["state"] == "up" and s["status"] == "enabled" for h, s in services(conn).items() if h in hosts), 120)
    return done
