# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the benchmarks: the lab (podman exec, lock, other jobs), the machine, statistics and results.

Every benchmark runs on the lab (tests/lab), holds the shared lab lock /run/ndu-lab.lock per round (the lock
`flock`, the demo and the rolling integration tests use) and writes bench/results/<name>.json and <name>.md.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
VENV = Path(os.environ.get("NDU_VENV", REPO / ".venv"))
HOSTSCTL = REPO / "tests" / "lab" / "hosts" / "hostsctl"
PROBE = REPO / "roles" / "flow_verify" / "files" / "ndu_udp_probe.py"
LAB_DIR = Path(os.environ.get("NDU_LAB_DIR", "/var/lib/ndu-lab"))
LOCK = Path("/run/ndu-lab.lock")
sys.path.insert(0, str(REPO / "tests" / "integration"))
import dataplane  # noqa: E402  (the tests' view of the lab's Neutron dataplane: versions, instances, the probe)

ORIGINAL = dataplane.versions()["original"]
LAB1 = dataplane.versions()["lab1"]
PACKAGES = ("openvswitch-common", "openvswitch-switch")
OTHERS = r"pytest tests/integration|ansible-playbook"


def exit_cleanly_on_term() -> None:
    """Turn SIGTERM into SystemExit, so a killed benchmark still cleans the lab up (its finally blocks run)."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _podman_env() -> dict[str, str]:
    env = dict(os.environ)
    out = subprocess.run([str(HOSTSCTL), "env"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep:
            env[key] = value
    return env


PODMAN_ENV = _podman_env()


def lab_env() -> dict[str, str]:
    """OS_CLOUD, OS_CLIENT_CONFIG_FILE, NDU_LAB_INVENTORY, ... from the lab's lab.env."""
    env: dict[str, str] = {}
    for line in (LAB_DIR / "lab.env").read_text().splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and not line.startswith("#"):
            env[key] = value
    return env


def sh(host: str, *argv: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a command inside a lab host (podman exec)."""
    proc = subprocess.run(["podman", "exec", host, *argv], capture_output=True, text=True, env=PODMAN_ENV,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{host}: '{' '.join(argv)}' exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-800:]}")
    return proc


def popen(host: str, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["podman", "exec", host, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=PODMAN_ENV)


def others() -> list[str]:
    out = subprocess.run(["pgrep", "-af", OTHERS], capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def wait_quiet(timeout: float = 300) -> list[str]:
    """Wait (bounded) until no integration test or playbook of another job runs; return what still ran."""
    deadline = time.monotonic() + timeout
    busy = others()
    while busy and time.monotonic() < deadline:
        time.sleep(5)
        busy = others()
    if busy:
        log(f"other jobs still running after {timeout:.0f} s, going on under the lock: {busy}")
    return busy


@contextlib.contextmanager
def lab_lock(timeout: int = 1800) -> Iterator[float]:
    """Hold /run/ndu-lab.lock (a blocking flock, like `flock`); yields the seconds spent waiting for it."""
    LOCK.touch(exist_ok=True)
    started = time.monotonic()

    def expired(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"the lab lock {LOCK} stayed taken for {timeout} s")

    with LOCK.open("a") as handle:
        previous = signal.signal(signal.SIGALRM, expired)
        signal.alarm(timeout)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        try:
            yield time.monotonic() - started
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_lab() -> bool:
    """Call with the lab lock held: when another job left the lab down or unhealthy, bring it up (labctl up).
    Returns True when it had to."""
    labctl = [str(VENV / "bin" / "python"), str(REPO / "tests" / "lab" / "labctl.py")]
    if subprocess.run([*labctl, "status"], capture_output=True, text=True, timeout=300, check=False).returncode == 0:
        return False
    log("the lab is down or unhealthy (another job's teardown?): labctl up")
    proc = subprocess.run([*labctl, "up"], capture_output=True, text=True, timeout=1200, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"labctl up failed:\n{(proc.stdout + proc.stderr)[-2000:]}")
    return True


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return {"hostname": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "note": "shared with other jobs: compare ratios within one run, not absolute figures"}


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def stats(values: Sequence[float | None]) -> dict[str, Any]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {"n": len(vals), "median": round(statistics.median(vals), 3), "min": round(min(vals), 3), "max": round(max(vals), 3)}


def fmt(s: dict[str, Any], digits: int = 1) -> str:
    """'median [min–max]' of a stats() dict."""
    if not s.get("n"):
        return "–"
    f = (lambda v: f"{v:.{digits}f}") if digits else (lambda v: f"{v:.0f}")
    return f"{f(s['median'])} [{f(s['min'])}–{f(s['max'])}]"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, doc: dict[str, Any], markdown: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    path = RESULTS / f"{name}.md"
    path.write_text(markdown.rstrip() + "\n")
    return path


def header(title: str, doc: dict[str, Any]) -> str:
    m = doc["machine"]
    return (f"## {title}\n\nRun {doc['started']} → {doc['finished']} on `{m['hostname']}` ({m['cores']} cores, "
            f"{m['cpu']}, {m['mem_gib']} GiB; shared with other jobs: read ratios, not absolute times). "
            f"Load average at start {doc['load_start']}, at end {doc['load_end']}. "
            f"Rounds: {doc['rounds']}; cells are median [min–max].\n")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def playbook(playbook_path: str, extra: dict[str, Any], limit: str | None = None, tags: str | None = None,
             timeout: float = 1800, env_extra: dict[str, str] | None = None, inventory: str | None = None) -> tuple[int, float, str]:
    """Run ansible-playbook with the lab inventory (or another one); returns rc, seconds and the output."""
    env = dict(PODMAN_ENV, **lab_env(), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{VENV / 'bin'}:{os.environ.get('PATH', '')}")
    env.update(env_extra or {})
    argv = [str(VENV / "bin" / "ansible-playbook"), "-i", inventory or env["NDU_LAB_INVENTORY"], playbook_path, "-e", json.dumps(extra)]
    argv += ["--limit", limit] if limit else []
    argv += ["--tags", tags] if tags else []
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, round(time.monotonic() - started, 2), proc.stdout + proc.stderr


# Host reset shared by P1 and P3: the original packages, running, with the lab's flows.
DROPIN = "/etc/systemd/system/ovs-vswitchd.service.d/50-ndu-pidfile.conf"
RESET = f"""set -e
[ ! -e /usr/sbin/policy-rc.d ] || {{ echo "/usr/sbin/policy-rc.d exists: another job is upgrading this host" >&2; exit 3; }}
if [ "$(dpkg-query -W -f '${{Version}} ' {' '.join(PACKAGES)})" != "{ORIGINAL} {ORIGINAL} " ]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\\n# ndu bench reset: deny every service action while Open vSwitch is downgraded\\nexit 101\\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades {' '.join(f'{p}={ORIGINAL}' for p in PACKAGES)} >/dev/null
    rm -f /usr/sbin/policy-rc.d
fi
if [ "$1" = no-dropin ] && [ -e {DROPIN} ]; then rm -f {DROPIN}; rmdir --ignore-fail-on-non-empty {DROPIN.rsplit('/', 1)[0]}; systemctl daemon-reload; fi
pid=$(cat /run/openvswitch/ovs-vswitchd.pid 2>/dev/null || true)
if [ -z "$pid" ] || readlink /proc/$pid/exe | grep -q deleted || ! ndu-lab-dataplane check >/dev/null 2>&1; then
    systemctl restart openvswitch-switch
    ndu-lab-dataplane apply >/dev/null
fi
ndu-lab-dataplane check
"""


def host_state(host: str) -> dict[str, Any]:
    versions = dict(line.split() for line in sh(host, "dpkg-query", "-W", *PACKAGES).stdout.splitlines())
    pid = sh(host, "cat", "/run/openvswitch/ovs-vswitchd.pid", check=False).stdout.strip()
    exe = sh(host, "readlink", f"/proc/{pid}/exe", check=False).stdout.strip() if pid else ""
    return {"versions": versions, "vswitchd_pid": pid, "old_binary_running": "(deleted)" in exe,
            "dataplane_ok": sh(host, "ndu-lab-dataplane", "check", check=False).returncode == 0}


def reset(host: str, had_dropin: bool) -> None:
    sh(host, "sh", "-c", RESET, "reset", "keep-dropin" if had_dropin else "no-dropin", timeout=180)


def lab_connect() -> Any:
    """openstacksdk Connection to the lab (its clouds.yaml, cloud ndu-lab)."""
    import openstack
    from openstack import config as os_config

    cfg = os_config.OpenStackConfig(config_files=[str(LAB_DIR / "clouds.yaml")])
    return openstack.connection.Connection(config=cfg.get_one("ndu-lab"))
