# SPDX-License-Identifier: Apache-2.0
"""P2 drain: emptying one host of K instances, host_evacuate at concurrency 1, 4, 8 vs a serial CLI loop.

    .venv/bin/python bench/p2_drain.py [--ks 8,16] [--rounds 5] [--duration 2] [--host compute1]

For each K: boot K servers pinned to <host>; every migration of them takes --duration seconds in the lab driver
(entries in $NDU_LAB_DIR/driver/behaviour.json, removed at the end). Per round, with the lab lock held, each
variant starts with all K servers back on <host> (moved back in parallel, not timed):

- serial: `openstack server migrate --live-migration --wait <server>`, one after another (python-openstackclient
  from a bench-only venv, bench/requirements-bench.txt), timed around the whole loop;
- c=1, c=4, c=8: bench/playbooks/evacuate.yml, timed around the host_evacuate task.

One migration = the median of the per-instance seconds host_evacuate reports at c=1 in the same round; the limit
for concurrency c is ceil(K/c) x one migration.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import openstack

from common import (dataplane, LAB_DIR, REPO, ensure_lab, exit_cleanly_on_term, fmt, header, lab_env, lab_lock, loadavg, log, machine,
                    md_table, now, playbook, stats, wait_quiet, write_results)

NAME = "p2_drain"
PLAYBOOK = str(REPO / "bench" / "playbooks" / "evacuate.yml")
REQUIREMENTS = REPO / "bench" / "requirements-bench.txt"
BEHAVIOUR = LAB_DIR / "driver" / "behaviour.json"
PREFIX = f"ndu-bench-{uuid.uuid4().hex[:6]}-"
CONCURRENCY = (1, 4, 8)


def openstack_cli() -> Path:
    """python-openstackclient in /var/cache/ndu-dataplane/bench-venv-<hash of requirements + python>."""
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.split()[0].encode()).hexdigest()[:16]
    venv = Path(os.environ.get("NDU_CACHE", "/var/cache/ndu-dataplane")) / f"bench-venv-{key}"
    if not (venv / "bin" / "openstack").exists():
        log(f"installing python-openstackclient into {venv}")
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r", str(REQUIREMENTS)], check=True)
    return venv / "bin" / "openstack"


def set_behaviour(names: list[str], duration: float | None) -> None:
    """Add (or with None remove) our servers' entries; atomic rewrite, other jobs' entries kept."""
    data = json.loads(BEHAVIOUR.read_text()) if BEHAVIOUR.exists() else {}
    data = {k: v for k, v in data.items() if not k.startswith(PREFIX)}
    if duration is not None:
        data.update({n: {"duration": duration, "mode": "ok"} for n in names})
    fd, tmp = tempfile.mkstemp(dir=BEHAVIOUR.parent, prefix=".bench-")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.chmod(tmp, 0o644)
    os.replace(tmp, BEHAVIOUR)


class Cloud:
    def __init__(self) -> None:
        self.reconnect()

    def reconnect(self) -> None:
        os.environ.update(lab_env())
        self.conn = openstack.connect()

    def api(self, method: str, url: str, body: dict[str, Any] | None = None, mv: str = "2.80") -> Any:
        resp = getattr(self.conn.compute, method)(url, json=body, microversion=mv)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method.upper()} {url} -> {resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else None

    def servers(self) -> list[dict[str, Any]]:
        return [{"id": s["id"], "name": s["name"], "status": s["status"], "host": s["OS-EXT-SRV-ATTR:host"],
                 "task": s["OS-EXT-STS:task_state"]} for s in self.api("get", "/servers/detail?all_tenants=1")["servers"]]

    def wait(self, what: str, probe: Callable[[], bool], timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not probe():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(1)

    def boot(self, host: str, k: int, prefix: str = "") -> list[dict[str, Any]]:
        prefix = prefix or f"{PREFIX}{k}-"
        image = self.conn.image.find_image("ndu-lab-image")
        flavor = self.conn.compute.find_flavor("ndu-lab-tiny")
        net = dataplane.network_id(self.conn, dataplane.read().network)  # every instance has a port on the tenant network
        for n in range(k):
            self.api("post", "/servers", {"server": {"name": f"{prefix}{n}", "imageRef": image.id, "flavorRef": flavor.id,
                                                     "networks": [{"uuid": net}], "host": host}})
        mine = lambda: [s for s in self.servers() if s["name"].startswith(prefix)]  # noqa: E731
        self.wait(f"{k} servers ACTIVE on {host}", lambda: sum(s["status"] == "ACTIVE" for s in mine()) == k)
        return mine()

    def delete_mine(self) -> None:
        for s in self.servers():
            if s["name"].startswith(PREFIX):
                self.api("delete", f"/servers/{s['id']}")
        self.wait("bench servers deleted", lambda: not any(s["name"].startswith(PREFIX) for s in self.servers()), 180)

    def gather(self, host: str, names: set[str]) -> None:
        """Live-migrate every server of ours that is elsewhere back to host, all at once."""
        for s in self.servers():
            if s["name"] in names and s["host"] != host:
                self.api("post", f"/servers/{s['id']}/action", {"os-migrateLive": {"host": host, "block_migration": "auto"}})
        self.wait(f"servers back on {host}", lambda: all(s["host"] == host and s["status"] == "ACTIVE" and not s["task"]
                                                         for s in self.servers() if s["name"] in names), 300)

    def disabled_by_rolls(self) -> dict[str, str]:
        """nova-compute services a roll disabled (reason "[ndu.dataplane ..."): host -> service id."""
        return {s["host"]: s["id"] for s in self.api("get", "/os-services?binary=nova-compute", mv="2.53")["services"]
                if s["status"] == "disabled" and (s["disabled_reason"] or "").startswith("[ndu.dataplane")}

    def enable(self, service_id: str) -> None:
        self.api("put", f"/os-services/{service_id}", {"status": "enabled"}, mv="2.53")

    def foreign_on(self, host: str | None = None) -> list[str]:
        """Other jobs' servers (on one host, or anywhere)."""
        return [s["name"] for s in self.servers() if host in (None, s["host"]) and not s["name"].startswith(PREFIX)]

    def free_host(self, preferred: str) -> str | None:
        """An enabled, up compute holding no other job's server (host_evacuate would move those too)."""
        up = [s["host"] for s in self.api("get", "/os-services?binary=nova-compute", mv="2.53")["services"]
              if s["status"] == "enabled" and s["state"] == "up"]
        busy = {s["host"] for s in self.servers() if not s["name"].startswith(PREFIX)}
        free = [h for h in sorted(up, key=lambda h: h != preferred) if h not in busy]
        return free[0] if free and len(up) > 1 else None


def with_free_host(cloud: Cloud, preferred: str, what: str, work: Callable[[str, float, list[str]], Any], tries: int = 40) -> Any:
    """Run work(host, lock_wait_s, others_running) under the lab lock on a host without other jobs' servers;
    while there is none, wait with the lock released (30 s at a time)."""
    for _attempt in range(tries):
        busy = wait_quiet(30)
        with lab_lock() as waited:
            if ensure_lab():
                cloud.reconnect()
            host = cloud.free_host(preferred)
            if host:
                log(f"{what} on {host} (waited {waited:.0f} s for the lab lock)")
                return work(host, waited, busy)
        log(f"{what}: every compute holds other jobs' servers; waiting 30 s with the lab lock released")
        time.sleep(30)
    raise RuntimeError(f"{what}: no compute host was free of other jobs' servers for {tries * 30 // 60} min")


def serial(cli: Path, servers: list[dict[str, Any]]) -> dict[str, Any]:
    env = dict(os.environ, **lab_env())
    started = time.monotonic()
    for s in servers:
        # A current microversion, as host_evacuate uses (2.68): block migration "auto", no disk_over_commit.
        subprocess.run([str(cli), "--os-compute-api-version", "2.80", "server", "migrate", "--live-migration", "--wait", s["id"]],
                       env=env, check=True, capture_output=True, text=True, timeout=600)
    return {"wall_s": round(time.monotonic() - started, 2)}


def evacuate(host: str, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        rc, seconds, text = playbook(PLAYBOOK, {"bench_cloud": lab_env()["OS_CLOUD"], "bench_host": host,
                                                "bench_concurrency": concurrency, "bench_result_file": str(out)})
        if rc != 0 or not out.exists():
            raise RuntimeError(f"host_evacuate at concurrency {concurrency} failed (rc {rc}):\n{text[-3000:]}")
        data = json.loads(out.read_text())
    result = data["result"]
    moved = [i for i in result["instances"] if i["status"] == "moved"]
    if len(moved) != len(result["instances"]):
        raise RuntimeError(f"host_evacuate left instances behind: {result['summary']}")
    return {"wall_s": round(data["finished"] - data["started"], 2), "playbook_s": seconds,
            "instance_s": [i["seconds"] for i in result["instances"]]}


def run_round(cloud: Cloud, cli: Path, host: str, servers: list[dict[str, Any]], n: int) -> dict[str, Any]:
    names = {s["name"] for s in servers}
    present = {s["name"]: s for s in cloud.servers() if s["name"] in names}
    if len(present) != len(names):  # another job's teardown took the lab (and our servers) away: boot them again
        log(f"only {len(present)} of {len(names)} bench servers left: booting them again on {host}")
        cloud.delete_mine()
        servers[:] = cloud.boot(host, len(names), servers[0]["name"].rsplit("-", 1)[0] + "-")
    variants: list[str | int] = ["serial", *CONCURRENCY]
    variants = variants[n % len(variants):] + variants[:n % len(variants)]  # rotate the order round by round
    result: dict[str, Any] = {"host": host, "order": variants}
    for variant in variants:
        cloud.gather(host, names)
        if variant == "serial":
            result["serial"] = serial(cli, servers)
            left = [s["name"] for s in cloud.servers() if s["name"] in names and s["host"] == host]
            if left:
                raise RuntimeError(f"the serial loop left servers on {host}: {left}")
        else:
            result[str(variant)] = evacuate(host, int(variant))
        log(f"    {variant}: {result[str(variant)]['wall_s']} s")
    cloud.gather(host, names)
    return result


def summarise(k: int, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    one = [statistics.median(r["1"]["instance_s"]) for r in rounds]
    out["one_migration_s"] = stats(one)
    for variant in ["serial", *map(str, CONCURRENCY)]:
        c = 1 if variant == "serial" else int(variant)
        walls = [r[variant]["wall_s"] for r in rounds]
        out[variant] = {
            "wall_s": stats(walls),
            "speedup": stats([r["serial"]["wall_s"] / r[variant]["wall_s"] for r in rounds]),
            "limit_ratio": stats([r[variant]["wall_s"] / (math.ceil(k / c) * o) for r, o in zip(rounds, one)]),
            "goal_speedup": round(0.8 * min(k, c), 2),
        }
        out[variant]["speedup_goal_met"] = out[variant]["speedup"]["median"] >= out[variant]["goal_speedup"]
        out[variant]["limit_goal_met"] = out[variant]["limit_ratio"]["median"] <= 1.25
    return out


def markdown(doc: dict[str, Any]) -> str:
    parts = [header("P2 drain: emptying one host, host_evacuate vs a serial CLI loop", doc),
             f"\nSource host {', '.join(f'`{h}`' for h in doc['hosts_used'])} (a compute without other jobs' servers, "
             f"`{doc['host']}` preferred); every live migration set to {doc['duration_s']} s in the lab driver. "
             f"One migration = median per-instance time of host_evacuate at c=1 in the same round; "
             f"limit = ceil(K/c) × one migration. Goals: speed-up ≥ 0.8 × min(K, c), wall ≤ 1.25 × limit.\n"]
    if doc.get("failed_rounds"):
        parts.append(f"\n{len(doc['failed_rounds'])} round(s) failed and were run again (another job's operation on the source "
                     f"host; the errors are in the JSON under `failed_rounds`).\n")
    for k, s in doc["summary"].items():
        rows = []
        for variant in ["serial", *map(str, CONCURRENCY)]:
            v = s[variant]
            label = "serial `openstack server migrate --live-migration --wait`" if variant == "serial" else f"host_evacuate c={variant}"
            speed = "1 (baseline)" if variant == "serial" else \
                f"{fmt(v['speedup'], 2)} (goal ≥ {v['goal_speedup']}: {'met' if v['speedup_goal_met'] else 'NOT met'})"
            limit = f"{fmt(v['limit_ratio'], 2)}" + ("" if variant == "serial" else f" ({'met' if v['limit_goal_met'] else 'NOT met'})")
            rows.append([label, fmt(v["wall_s"]), speed, limit])
        parts.append(f"\n### K = {k} (one migration {fmt(s['one_migration_s'], 2)} s)\n\n" +
                     md_table(["variant", "wall (s)", "speed-up over serial", "wall / limit"], rows) + "\n")
    return "".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ks", default="8,16", help="instance counts, comma-separated")
    ap.add_argument("--rounds", default="5", help="rounds per K (one number for every K, or one per K)")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds every live migration takes in the lab driver")
    ap.add_argument("--host", default="compute1")
    args = ap.parse_args()
    exit_cleanly_on_term()
    cli = openstack_cli()
    cloud = Cloud()
    ks = [int(x) for x in args.ks.split(",")]
    per_k = [int(x) for x in args.rounds.split(",")]
    rounds = dict(zip(ks, per_k + [per_k[-1]] * len(ks)))
    doc: dict[str, Any] = {"benchmark": NAME, "machine": machine(), "started": now(), "load_start": loadavg(),
                           "rounds": ", ".join(f"{r} (K={k})" for k, r in rounds.items()),
                           "host": args.host, "duration_s": args.duration,
                           "others_running": wait_quiet(60), "round_results": {}, "summary": {}}
    try:
        for k in ks:
            names = [f"{PREFIX}{k}-{n}" for n in range(k)]
            set_behaviour(names, args.duration)
            servers = with_free_host(cloud, args.host, f"P2 K={k}: boot", lambda host, _w, _b: cloud.boot(host, k))
            doc["round_results"][str(k)] = []
            doc.setdefault("failed_rounds", [])
            n = 0
            while n < rounds[k]:
                def one_round(host: str, waited: float, busy: list[str], n: int = n) -> dict[str, Any]:
                    return {**run_round(cloud, cli, host, servers, n), "lock_wait_s": round(waited, 1), "others_running": busy}
                try:
                    doc["round_results"][str(k)].append(with_free_host(cloud, args.host, f"P2 K={k} round {n + 1}/{rounds[k]}", one_round))
                    n += 1
                    # Written after every round: a run stopped early keeps the rounds it finished, and says how many.
                    doc["summary"][str(k)] = summarise(k, doc["round_results"][str(k)])
                    doc.update(finished=now(), load_end=loadavg(),
                               rounds=", ".join(f"{len(rs)} of {rounds[int(kk)]} (K={kk})" for kk, rs in doc["round_results"].items()),
                               hosts_used=sorted({r["host"] for rs in doc["round_results"].values() for r in rs}))
                    write_results(NAME, doc, markdown(doc))
                except (RuntimeError, subprocess.SubprocessError) as exc:  # e.g. another job's migration onto the host
                    doc["failed_rounds"].append({"k": k, "round": n + 1, "error": str(exc)[-1500:]})
                    log(f"P2 K={k} round {n + 1} failed, run again ({len(doc['failed_rounds'])} failed so far): {str(exc)[-300:]}")
                    if len(doc["failed_rounds"]) >= 3:
                        raise
            doc["summary"][str(k)] = summarise(k, doc["round_results"][str(k)])
            cloud.delete_mine()
            # Written after every K: a run stopped later keeps the K values it finished.
            doc.update(finished=now(), load_end=loadavg(),
                       hosts_used=sorted({r["host"] for rs in doc["round_results"].values() for r in rs}))
            write_results(NAME, doc, markdown(doc))
    finally:
        cloud.delete_mine()
        set_behaviour([], None)
    doc.update(finished=now(), load_end=loadavg(),
               hosts_used=sorted({r["host"] for rs in doc["round_results"].values() for r in rs}))
    path = write_results(NAME, doc, markdown(doc))
    print(path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
