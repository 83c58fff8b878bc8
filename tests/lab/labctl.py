#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""labctl: bring the ndu lab up, report on it, tear it down.

    labctl up [--computes N] [--network ovn|ovs]
                               idempotent; a healthy lab returns in seconds. --network: the
                               controller that owns br-int (default ovn; a running lab keeps its own)
    labctl status              readable table, also written to $NDU_LAB_DIR/status.json
    labctl down                removes everything the lab created, keeps the caches
    labctl rss                 RSS of the whole lab (control plane, containers) in MiB, as JSON
    labctl service stop|start|restart NAME
                               fault injection: one control-plane process (nova-api, rabbitmq, ...)
                               stopped by its recorded PID, started as `up` does, lab healthy again

Runs as root under the dev venv (it uses openstacksdk for health checks):
``.venv/bin/python tests/lab/labctl.py up``. See docs/lab.md.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from controlplane import (  # noqa: E402
    ADMIN_PASSWORD,
    CLOUD_NAME,
    DEFAULT_COMPUTES,
    DEFAULT_NETWORK,
    HOSTSCTL,
    LOCK_FILE,
    NETWORKS,
    OVN_VERSIONS,
    OVS_VERSIONS,
    PROBE_HOST,
    PROBE_NAMESPACE,
    PROBE_PORT,
    TENANT_NETWORK,
    TENANT_SUBNET,
    MAX_COMPUTES,
    MIN_COMPUTES,
    PORTS,
    REGION,
    Settings,
    compute_ip,
    compute_names,
    workload_ips,
)
from controlplane import onoff, services  # noqa: E402
from controlplane.procs import LabError, address_is_local, alive, port_bound, recorded, run  # noqa: E402

# Which recorded process may legitimately hold which port.
PORT_OWNERS = {
    "mariadb": "mariadb", "rabbitmq": "rabbitmq", "rabbitmq-dist": "rabbitmq", "epmd": "epmd",
    "keystone": "keystone", "placement": "placement-api", "glance": "glance-api",
    "neutron": "neutron-api", "nova-api": "nova-api",
}
T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[labctl {time.monotonic() - T0:6.1f}s] {message}", flush=True)


# --- the lab lock -----------------------------------------------------------

def lock_holders(path: Path) -> set[int]:
    """PIDs /proc/locks names as holding an flock on `path`."""
    try:
        st = path.stat()
        text = Path("/proc/locks").read_text()
    except OSError:
        return set()
    pids = set()
    for line in text.splitlines():
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF" (blocked waiters carry "->")
        if "->" in parts or len(parts) < 6 or parts[1] != "FLOCK":
            continue
        try:
            major, minor, inode = parts[5].split(":")
            if int(inode) == st.st_ino and os.makedev(int(major, 16), int(minor, 16)) == st.st_dev:
                pids.add(int(parts[4]))
        except ValueError:
            continue
    return pids


def ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        pids.add(pid)
    return pids


@contextlib.contextmanager
def lab_lock(path: Path = Path(LOCK_FILE)):
    """Hold the shared lab lock (the one `flock`, the tests, the demo and the
    benchmarks take) while up/down change the lab. A caller that already holds
    it (`flock /run/ndu-lab.lock labctl up`, a test's lab_lock) is one of our
    ancestors: then it is ours already and taking it again would wait forever."""
    path.touch(exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if lock_holders(path) & ancestors():
                yield
                return
            say(f"waiting for the lab lock {path} (held by PID {', '.join(map(str, sorted(lock_holders(path)))) or '?'})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- preflight --------------------------------------------------------------

def preflight(settings: Settings) -> None:
    """Refuse clearly, before anything starts, when the lab cannot come up."""
    if os.geteuid() != 0:
        raise LabError("labctl must run as root (it starts MariaDB, RabbitMQ, podman containers)")
    if not MIN_COMPUTES <= settings.computes <= MAX_COMPUTES:
        raise LabError(f"--computes {settings.computes} is out of range: "
                       f"choose {MIN_COMPUTES}..{MAX_COMPUTES}")
    missing = [tool for tool in ("/usr/sbin/mariadbd", "/usr/lib/rabbitmq/bin/rabbitmq-server",
                                 "/usr/bin/epmd", "/usr/bin/python3") if not Path(tool).exists()]
    if settings.with_hosts:
        if shutil.which("podman") is None:
            missing.append("podman")
        if not HOSTSCTL.exists():
            missing.append(str(HOSTSCTL))
    if missing:
        raise LabError("missing on this machine: " + ", ".join(missing)
                       + " (run `make deps` as root; tests/lab/controlplane/apt-packages.txt lists them)")
    try:
        import openstack  # noqa: F401
    except ImportError as exc:
        raise LabError("openstacksdk is not importable: run labctl with the dev venv "
                       "(.venv/bin/python tests/lab/labctl.py)") from exc
    previous = read_lab_json(settings)
    if previous and recorded(settings.pid_dir) and previous.get("with_hosts") and settings.with_hosts \
            and previous.get("network", DEFAULT_NETWORK) != settings.network:
        raise LabError(f"the lab is up with the {previous.get('network', DEFAULT_NETWORK)} network backend; "
                       f"switching a running lab to {settings.network} is not possible: run `make lab-down` "
                       f"first, then `make lab-up NETWORK={settings.network}`")
    if previous and previous.get("computes") != settings.computes and recorded(settings.pid_dir):
        raise LabError(f"the lab is up with {previous['computes']} computes; run `labctl down` "
                       f"before asking for {settings.computes}")
    if previous and previous.get("host_ip") != settings.host_ip and recorded(settings.pid_dir):
        raise LabError("the lab is up in another mode (with/without test hosts); "
                       "run `labctl down` first")
    taken = []
    for key, port in PORTS.items():
        if alive(settings.pid_dir, PORT_OWNERS[key]):
            continue
        holder = port_bound(port)
        if holder:
            taken.append(f"{port} ({key}): {holder.split()[-1] if holder.split() else holder}")
    if taken:
        raise LabError("ports the lab needs are in use by other processes: " + "; ".join(taken)
                       + ". Stop them (or run `labctl down` if an earlier lab left them) and retry")


def read_lab_json(settings: Settings) -> dict[str, Any] | None:
    try:
        return json.loads(settings.lab_json.read_text())
    except (OSError, ValueError):
        return None


# --- generated files --------------------------------------------------------

def read_probe(settings: Settings) -> dict[str, Any] | None:
    return (read_lab_json(settings) or {}).get("probe")


def write_client_files(settings: Settings, probe: dict[str, Any] | None = None) -> None:
    settings.lab_dir.mkdir(parents=True, exist_ok=True)
    clouds = (
        "# Generated by tests/lab/labctl.py up; removed by labctl down.\n"
        "clouds:\n"
        f"  {CLOUD_NAME}:\n"
        "    auth:\n"
        f"      auth_url: {settings.url('keystone', '/v3')}\n"
        "      username: admin\n"
        f"      password: {ADMIN_PASSWORD}\n"
        "      project_name: admin\n"
        "      user_domain_name: Default\n"
        "      project_domain_name: Default\n"
        f"    region_name: {REGION}\n"
        "    interface: public\n"
        "    identity_api_version: 3\n"
    )
    settings.clouds_yaml.write_text(clouds)
    settings.clouds_yaml.chmod(0o600)
    lines = [
        "# Generated by tests/lab/labctl.py up; removed by labctl down.",
        "all:",
        "  children:",
        "    computes:",
        "      hosts:" if settings.with_hosts and settings.computes else "      hosts: {}",
    ]
    if settings.with_hosts:
        for name in compute_names(settings.computes):
            # With a network backend the workloads are Nova's instances
            # (namespace vm-<uuid>), not the stand-in's vm1/vm2.
            ips = {} if settings.network else workload_ips(name)
            lines += [
                f"        {name}:",
                "          ansible_connection: containers.podman.podman",
                "          ansible_python_interpreter: /usr/bin/python3",
                f"          ndu_nova_host: {name}",
                f"          ndu_lab_host_ip: {compute_ip(name)}",
                "          ndu_lab_workloads:" + ("" if ips else " []"),
            ]
            for ns, ip in ips.items():
                lines += [f"            - name: {ns}", f"              namespace: {ns}",
                          f"              ip: {ip}"]
    lines += [
        "  vars:",
        f"    ndu_lab_dir: {settings.lab_dir}",
        f"    ndu_lab_clouds_yaml: {settings.clouds_yaml}",
        f"    ndu_lab_cloud: {CLOUD_NAME}",
        *([f"    ndu_lab_ovs_versions: {json.dumps(OVS_VERSIONS)}",
           f"    ndu_lab_ovn_versions: {json.dumps(OVN_VERSIONS)}"] if settings.with_hosts else []),
        *([f"    ndu_lab_network_backend: {settings.network}",
           f"    ndu_lab_network: {TENANT_NETWORK}",
           f"    ndu_lab_subnet: {TENANT_SUBNET}"] if settings.network else []),
    ]
    if probe:
        # The probe-only chassis: never a compute, never rolled.
        lines[lines.index("  vars:"):lines.index("  vars:")] = [
            "    ndu_probe:",
            "      hosts:",
            f"        {probe['host']}:",
            "          ansible_connection: containers.podman.podman",
            "          ansible_python_interpreter: /usr/bin/python3",
            f"          ndu_probe_namespace: {probe['namespace']}",
            f"          ndu_probe_ip: {probe['ip']}",
        ]
    settings.inventory.write_text("\n".join(lines) + "\n")
    podman_env = []
    if settings.with_hosts:
        # This machine's podman quirks (CONTAINERS_CONF=...), when hostsctl detects any.
        podman_env = [f"export {line.strip()}" for line in hostsctl(settings, "env").splitlines()
                      if "=" in line and not line.startswith("#")]
    settings.lab_env.write_text("\n".join([
        "# Generated by tests/lab/labctl.py up: `. $NDU_LAB_DIR/lab.env`",
        f"export OS_CLIENT_CONFIG_FILE={settings.clouds_yaml}",
        f"export OS_CLOUD={CLOUD_NAME}",
        f"export NDU_LAB_INVENTORY={settings.inventory}",
        f"export NDU_LAB_DIR={settings.lab_dir}",
        *([f"export NDU_LAB_NETWORK_BACKEND={settings.network}",
           f"export NDU_LAB_BACKEND={settings.network}",
           f"export NDU_LAB_NETWORK={TENANT_NETWORK}",
           f"export NDU_LAB_SUBNET={TENANT_SUBNET}"] if settings.network else []),
        *([f"export NDU_LAB_OVS_ORIGINAL={OVS_VERSIONS['original']}",
           f"export NDU_LAB_OVS_LAB1={OVS_VERSIONS['lab1']}",
           f"export NDU_LAB_OVS_BROKEN={OVS_VERSIONS['broken']}",
           f"export NDU_LAB_OVN_ORIGINAL={OVN_VERSIONS['original']}",
           f"export NDU_LAB_OVN_LAB1={OVN_VERSIONS['lab1']}"] if settings.with_hosts else []),
        *([f"export NDU_LAB_PROBE_HOST={probe['host']}",
           f"export NDU_LAB_PROBE_NS={probe['namespace']}",
           f"export NDU_LAB_PROBE_IP={probe['ip']}"] if probe else []),
        *podman_env,
        "",
    ]))


def connect(settings: Settings) -> Any:
    import openstack
    from openstack import config as os_config

    cfg = os_config.OpenStackConfig(config_files=[str(settings.clouds_yaml)])
    return openstack.connection.Connection(config=cfg.get_one(CLOUD_NAME))


# --- test hosts (through hostsctl only) --------------------------------------

def hostsctl(settings: Settings, *args: str, timeout: float = 1200) -> str:
    env = {"NDU_LAB_DIR": str(settings.lab_dir), "NDU_LAB_CACHE": str(settings.cache_dir)}
    return run([str(HOSTSCTL), *args], f"run hostsctl {' '.join(args)}", env=env,
               log=settings.log_dir / "hostsctl.log", timeout=timeout)


def hosts_status(settings: Settings) -> dict[str, Any]:
    try:
        return json.loads(hostsctl(settings, "status", timeout=120))
    except (LabError, ValueError) as exc:
        return {"error": str(exc)}


def host_checks(status: dict[str, Any], names: list[str]) -> dict[str, dict[str, Any]]:
    """Per host, out of `hostsctl status` JSON: container running, OVS answering,
    dataplane unit active, nova-compute unit active, workload traffic passing."""
    hosts = status.get("hosts") or {}
    out: dict[str, dict[str, Any]] = {}
    backend = status.get("backend")
    for name in names:
        host = hosts.get(name) or {}
        workloads = host.get("workloads") or []
        out[name] = {
            "running": host.get("container") == "running",
            "ovs": bool(host.get("ovs")) and host.get("dataplane") == "active",
            "nova_compute_unit": host.get("nova_compute"),
            # With a controller: the instances' ports are checked through Neutron.
            "traffic": True if backend else bool(workloads) and all(w.get("reachable") for w in workloads),
        }
        if backend:
            out[name]["controller"] = host.get("controller")
            out[name]["controller_unit"] = host.get("controller_unit")
            out[name]["ports"] = host.get("ports") or []
            out[name]["netns"] = host.get("netns") or []
    return out


def port_problems(backend: str, ports: list[Any], servers: dict[str, Any],
                  hosts: dict[str, dict[str, Any]], agents: list[Any],
                  warnings: list[str] | None = None) -> list[str]:
    """Sentences naming host and port for every instance port the controller
    did not program (pure: the inputs are API objects and hostsctl's JSON).
    Findings that are not the controller's fault go to `warnings`."""
    problems: list[str] = []
    warnings = [] if warnings is None else warnings
    if backend == "ovs":
        for name in sorted(hosts):
            mine = [a for a in agents if a.get("host") == name and a.get("agent_type") == "Open vSwitch agent"]
            if not mine:
                problems.append(f"{name}: no neutron-openvswitch-agent registered in Neutron "
                                f"(read `podman exec {name} journalctl -u ndu-lab-neutron-ovs-agent`)")
            elif not any(a.get("is_alive") for a in mine):
                problems.append(f"{name}: neutron-openvswitch-agent is dead in `openstack network agent list`")
    elif backend == "ovn":
        for name in sorted(hosts):
            mine = [a for a in agents if a.get("host") == name and "OVN Controller" in (a.get("agent_type") or "")]
            if not mine:
                problems.append(f"{name}: not registered as an OVN chassis (ovn-controller never reached the "
                                "SB database; read `podman exec {0} journalctl -u ovn-controller`)".format(name))
            elif not any(a.get("is_alive") for a in mine):
                problems.append(f"{name}: its OVN Controller agent is dead in `openstack network agent list`")
    for port in ports:
        host = port.get("binding_host_id") or ""
        server = servers.get(port.get("device_id") or "")
        if server is None or host not in hosts:
            continue
        label = f"port {port['id']} of server {server.get('name')}"
        tap = "tap" + port["id"][:11]
        seen = [p for p in hosts[host].get("ports") or [] if p.get("port_id") == port["id"]]
        if not seen:
            problems.append(f"{host}: {label} is not plugged ({tap} missing from br-int)")
            continue
        if backend == "ovn" and not seen[0].get("ovn_installed"):
            problems.append(f"{host}: ovn-controller never programmed {label} ({tap} has no ovn-installed)")
            continue
        if backend == "ovn" and port.get("status") != "ACTIVE":
            # ovn-controller installed it: Neutron's status is stale. Seen with
            # neutron 29 after a rolled-back live migration (the binding update
            # resets the status to DOWN, OVN's LSP stays up, no event follows).
            warnings.append(f"{host}: {label} is {port.get('status')} in Neutron although ovn-controller "
                            f"installed it ({tap} has ovn-installed)")
            continue
        if port.get("status") != "ACTIVE":
            who = "ovn-controller/northd" if backend == "ovn" else "neutron-openvswitch-agent"
            problems.append(f"{host}: {label} is {port.get('status')} in Neutron ({who} never made it ACTIVE)")
    return problems


# --- health -----------------------------------------------------------------

def health(settings: Settings) -> dict[str, Any]:
    """One look at everything; `healthy` is True only when every check passes."""
    names = compute_names(settings.computes) if settings.with_hosts else []
    processes = {name: alive(settings.pid_dir, name) is not None for name in services.processes(settings)}
    report: dict[str, Any] = {"processes": processes, "computes": {}, "problems": []}
    # hostsctl status (pings between hosts) runs while the API checks run.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    hosts_future = pool.submit(hosts_status, settings) if settings.with_hosts else None
    for name, up in processes.items():
        if not up:
            report["problems"].append(f"process {name} is not running")
    local = address_is_local(settings.host_ip)
    if not local:
        report["problems"].append(f"{settings.host_ip} is not on this machine (bridge ndulab0 "
                                  "missing?): no API check sent")
    if all(processes.values()) and local:
        try:
            conn = connect(settings)
            svc = {s.host: s for s in conn.compute.services(binary="nova-compute")}
            rps = {rp.name: rp.id for rp in conn.placement.resource_providers()}
            control = {s.binary: s.state for s in conn.compute.services() if s.binary != "nova-compute"}
            report["control_services"] = control
            for binary, state in control.items():
                if state != "up":
                    report["problems"].append(f"{binary} is {state} in os-services")
            for name in names:
                s = svc.get(name)
                report["computes"][name] = {
                    "nova_compute": s.state if s else "missing",
                    "nova_status": s.status if s else "missing",
                    "resource_provider": rps.get(name),
                }
                if not s or s.state != "up":
                    report["problems"].append(f"nova-compute on {name} is "
                                              f"{s.state if s else 'not registered'}")
                if name not in rps:
                    report["problems"].append(f"no resource provider for {name}")
            if names and not report["problems"]:
                unmapped = sorted(set(names) - services.mapped_hosts(settings))
                report["unmapped"] = unmapped
                if unmapped:
                    report["problems"].append("not mapped to cell1 yet: " + ", ".join(unmapped))
            extra = sorted(set(rps) - set(names))
            if extra:
                report["problems"].append("unexpected resource providers: " + ", ".join(extra))
            if settings.network and names:
                report["neutron"] = {
                    "agents": [{"host": a.host, "agent_type": a.agent_type, "is_alive": a.is_alive}
                               for a in conn.network.agents()],
                    "ports": [{"id": p.id, "status": p.status, "binding_host_id": p.binding_host_id,
                               "device_id": p.device_id, "mac": p.mac_address}
                              for p in conn.network.ports()
                              if (p.device_owner or "").startswith(("compute:", "ndu-lab:probe"))],
                    "servers": {sv.id: {"name": sv.name, "host": sv.compute_host}
                                for sv in conn.compute.servers(all_projects=True)},
                }
        except Exception as exc:  # noqa: BLE001 - any API failure is a health finding
            report["problems"].append(f"cloud API check failed: {type(exc).__name__}: {exc}")
    if hosts_future is not None:
        hs = hosts_future.result()
        pool.shutdown()
        report["hosts_raw"] = hs
        if "error" in hs:
            report["problems"].append(f"hostsctl status failed: {hs['error']}")
        else:
            checks_by_host = host_checks(hs, names)
            if settings.network == "ovn" and not (hs.get("central") or {}).get("ready"):
                report["problems"].append("the OVN central container (ndu-lab-ovn-central, NB/SB at "
                                          "10.213.0.5) is not ready: `podman logs ndu-lab-ovn-central`")
            if settings.network and "neutron" in report:
                nt = report["neutron"]
                probe_host = hs.get("probe") or {}
                hosts_and_probe = dict(checks_by_host)
                if probe_host.get("container") == "running":
                    hosts_and_probe[PROBE_HOST] = {"ports": probe_host.get("ports") or []}
                else:
                    report["problems"].append(f"{PROBE_HOST}: the probe chassis container is "
                                              f"{probe_host.get('container', 'absent')}")
                if probe_host.get("container") == "running" and probe_host.get("controller") != "active":
                    report["problems"].append(f"{PROBE_HOST}: {probe_host.get('controller_unit')} is "
                                              f"{probe_host.get('controller')}")
                servers = dict(nt["servers"])
                probe = read_probe(settings)
                if probe:
                    servers[PROBE_PORT] = {"name": "the probe (" + PROBE_NAMESPACE + ")", "host": PROBE_HOST}
                report["warnings"] = []
                report["problems"] += port_problems(settings.network, nt["ports"], servers,
                                                    hosts_and_probe, nt["agents"], report["warnings"])
                if probe and not any(p["id"] == probe["port_id"] for p in nt["ports"]):
                    report["problems"].append(f"{PROBE_HOST}: the probe port {probe['port_id']} is gone from Neutron")
            for name, checks in checks_by_host.items():
                if settings.network and checks.get("running") and checks.get("controller") != "active":
                    report["problems"].append(f"{name}: {checks.get('controller_unit')} is "
                                              f"{checks.get('controller')}")
                checks = {k: v for k, v in checks.items() if k not in ("ports", "netns")} | {
                    "ports": len(checks.get("ports") or []), "netns": checks.get("netns") or []}
                report["computes"].setdefault(name, {}).update(checks)
                for key in ("running", "ovs", "traffic"):
                    if not checks[key]:
                        report["problems"].append(f"{name}: {key} check failed")
                unit = checks["nova_compute_unit"]
                if checks["running"] and unit != "active":
                    report["problems"].append(
                        f"{name}: ndu-lab-nova-compute.service is {unit} (read `podman exec {name} "
                        "journalctl -u ndu-lab-nova-compute`)")
    report["healthy"] = not report["problems"]
    return report


def wait_healthy(settings: Settings, venv: Path, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: list[str] = []
    while True:
        report = health(settings)
        if report["healthy"]:
            return report
        if report.get("unmapped"):
            # The scheduler also discovers hosts every 10 s; this is the fast path.
            services.discover_hosts(settings, venv)
        if report["problems"] != last:
            say("waiting: " + "; ".join(report["problems"][:4]))
            last = report["problems"]
        if time.monotonic() > deadline:
            raise LabError("the lab did not become healthy within "
                           f"{timeout:.0f} s: " + "; ".join(report["problems"])
                           + f". Logs: {settings.log_dir}; the lab is left as is, "
                           "`labctl down` removes it")
        time.sleep(3)


# --- commands ---------------------------------------------------------------

def cmd_up(settings: Settings) -> int:
    preflight(settings)
    if settings.lab_json.exists() and recorded(settings.pid_dir):
        report = health(settings)
        if report["healthy"]:
            say("the lab is already up and healthy")
            print_summary(settings, report)
            write_status(settings, report)
            return 0
    for sub in (settings.log_dir, settings.state_dir, settings.pid_dir):
        sub.mkdir(parents=True, exist_ok=True)
    venv = services.ensure_venv(settings, say)
    host_venv = None
    if settings.with_hosts:
        # nova-compute and the agent run with the host image's own Python.
        say("building or reusing the test-host image and the host venv (hostsctl host-venv)")
        host_venv = Path(hostsctl(settings, "host-venv", timeout=2400).strip().splitlines()[-1])
        services.install_driver(host_venv)
    services.write_configs(settings, venv)
    services.write_lab_json(settings, venv, host_venv)
    write_client_files(settings)
    if settings.with_hosts:
        say("creating the lab network (hostsctl network-up)")
        hostsctl(settings, "network-up")
    if settings.network == "ovn":
        # Before neutron-api: the OVN mechanism driver connects to NB/SB at start.
        say("starting OVN central (hostsctl central-up)")
        hostsctl(settings, "central-up", timeout=300)
    how = services.ensure_database(settings, venv, say)
    say(f"MariaDB ready ({how})")
    if not address_is_local(settings.host_ip):
        raise LabError(f"{settings.host_ip} is not on this machine after `hostsctl network-up`; "
                       "see logs/hostsctl.log")
    services.ensure_rabbitmq(settings)
    say("RabbitMQ ready")
    services.ensure_keystone(settings, venv)
    conn = connect(settings)
    services.ensure_catalog(conn)
    services.ensure_endpoints(conn, settings)
    say("Keystone ready (service users and catalog in place)")
    services.ensure_services(settings, venv)
    conn = connect(settings)
    services.ensure_image_and_flavor(conn)
    say("Placement, Glance, Neutron and Nova are answering")
    if settings.network:
        net = services.ensure_tenant_network(conn, settings)
        say(f"tenant network {TENANT_NETWORK} ({net['type']}, MTU {net['mtu']}) and subnet {TENANT_SUBNET} ready")
    if settings.with_hosts:
        services.write_compute_configs(settings)
        say(f"starting {settings.computes} test hosts (hostsctl up, network {settings.network})")
        argv = ["up", "--computes", str(settings.computes), "--venv", str(host_venv)]
        if settings.network:
            argv += ["--network", settings.network]
        try:
            hostsctl(settings, *argv, timeout=1500)
        except LabError as exc:
            # hostsctl up is idempotent; one retry absorbs a transient probe
            # loss while a fresh host's flows settle on a loaded machine.
            say(f"hostsctl up failed once, retrying: {exc}")
            hostsctl(settings, *argv, timeout=1500)
    if settings.network:
        probe = ensure_probe(settings)
        say(f"probe {probe['namespace']} ({probe['ip']}) plugged on {probe['host']}")
        services.write_lab_json(settings, venv, host_venv, probe)
        write_client_files(settings, probe)
    report = wait_healthy(settings, venv, timeout=600)
    say("the lab is healthy")
    print_summary(settings, report)
    write_status(settings, report)
    return 0


def wait_agent(conn: Any, settings: Settings, host: str, timeout: float = 180) -> None:
    kind = "OVN Controller" if settings.network == "ovn" else "Open vSwitch agent"
    deadline = time.monotonic() + timeout
    while True:
        if any(a.host == host and kind in (a.agent_type or "") and a.is_alive for a in conn.network.agents()):
            return
        if time.monotonic() > deadline:
            raise LabError(f"{host}: no live {kind} in `openstack network agent list` after {timeout:.0f} s "
                           f"(read `podman exec {host} journalctl -u "
                           f"{'ovn-controller' if settings.network == 'ovn' else 'ndu-lab-neutron-ovs-agent'}`)")
        time.sleep(2)


def ensure_probe(settings: Settings) -> dict[str, Any]:
    """The probe's Neutron port, bound to the probe-only chassis and plugged there."""
    conn = connect(settings)
    wait_agent(conn, settings, PROBE_HOST)
    port = services.ensure_probe_port(conn, PROBE_HOST, PROBE_PORT)
    subnet = conn.network.get_subnet(port.fixed_ips[0]["subnet_id"])
    net = conn.network.get_network(port.network_id)
    ip = port.fixed_ips[0]["ip_address"]
    argv = ["probe-plug", "--port-id", port.id, "--mac", port.mac_address, "--ip", ip, "--cidr", subnet.cidr]
    if net.mtu:
        argv += ["--mtu", str(net.mtu)]
    hostsctl(settings, *argv, timeout=180)
    return {"host": PROBE_HOST, "namespace": PROBE_NAMESPACE, "ip": ip, "port_id": port.id,
            "mac": port.mac_address}


def print_summary(settings: Settings, report: dict[str, Any]) -> None:
    print(render_table(settings, report))
    print(f"\nclouds.yaml: {settings.clouds_yaml} (cloud {CLOUD_NAME})")
    print(f"inventory:   {settings.inventory}")
    print(f"lab.env:     {settings.lab_env}  (. {settings.lab_env})")
    print(f"logs:        {settings.log_dir}")


def render_table(settings: Settings, report: dict[str, Any]) -> str:
    rows = [("component", "state", "detail")]
    if settings.network:
        rows.append(("network backend", settings.network,
                     f"tenant network {TENANT_NETWORK} / {TENANT_SUBNET}"))
    for name, up in report["processes"].items():
        port = next((str(PORTS[k]) for k, owner in PORT_OWNERS.items() if owner == name
                     and k not in ("rabbitmq-dist",)), "")
        rows.append((name, "up" if up else "DOWN", f"port {port}" if port else ""))
    for name, c in sorted(report["computes"].items()):
        detail = (f"rp={'yes' if c.get('resource_provider') else 'no'} "
                  f"container={'running' if c.get('running') else 'no'} "
                  f"ovs={'ok' if c.get('ovs') else 'no'} ")
        if settings.network:
            detail += f"controller={c.get('controller')} ports={c.get('ports', 0)}"
        else:
            detail += f"traffic={'ok' if c.get('traffic') else 'no'}"
        rows.append((f"{name} nova-compute", c.get("nova_compute", "?"), detail))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(col.ljust(width[i]) for i, col in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in width))
    verdict = "HEALTHY" if report["healthy"] else "NOT HEALTHY: " + "; ".join(report["problems"])
    return "\n".join(lines + ["", f"lab: {verdict}"])


def write_status(settings: Settings, report: dict[str, Any]) -> None:
    if not settings.lab_dir.exists():
        return
    payload = {k: v for k, v in report.items()}
    payload["computes_wanted"] = settings.computes
    payload["network_backend"] = settings.network
    payload["clouds_yaml"] = str(settings.clouds_yaml)
    payload["inventory"] = str(settings.inventory)
    payload["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    settings.status_json.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def cmd_status(settings: Settings) -> int:
    if not settings.lab_json.exists():
        print(f"the lab is down (no {settings.lab_json})")
        return 1
    report = health(settings)
    print(render_table(settings, report))
    write_status(settings, report)
    print(f"\nstatus.json: {settings.status_json}")
    return 0 if report["healthy"] else 1


def lab_rss(settings: Settings) -> dict[str, Any]:
    """RSS of the whole lab in MiB: the control plane (every recorded process's
    session: uWSGI workers included) and the containers (hosts, probe, OVN
    central; by their cgroup), each process counted once."""
    sessions = {}
    for name in recorded(settings.pid_dir):
        pid = alive(settings.pid_dir, name)
        if pid:
            sessions[os.getsid(pid)] = name
    ids = {}
    if shutil.which("podman"):
        out = subprocess.run(["podman", "ps", "--format", "{{.ID}} {{.Names}}", "--no-trunc"],
                             capture_output=True, text=True, check=False,
                             env=dict(os.environ, **dict(line.split("=", 1) for line in
                                                         hostsctl(settings, "env").split() if "=" in line)))
        for line in out.stdout.splitlines():
            cid, _sep, cname = line.partition(" ")
            if cname.startswith(("compute", "ndu-lab-")):
                ids[cid] = cname
    per: dict[str, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            cgroup = (proc / "cgroup").read_text()
            sid = os.getsid(int(proc.name))
        except (OSError, ProcessLookupError):
            continue
        rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        owner = sessions.get(sid)
        if owner is None:
            owner = next((f"host:{cname}" for cid, cname in ids.items() if cid in cgroup), None)
        if owner:
            per[owner] = per.get(owner, 0) + rss
    mib = {k: round(v / 1024) for k, v in sorted(per.items())}
    control = sum(v for k, v in mib.items() if not k.startswith("host:"))
    hosts = sum(v for k, v in mib.items() if k.startswith("host:"))
    return {"control_plane_mib": control, "hosts_mib": hosts, "total_mib": control + hosts,
            "network_backend": settings.network, "processes": mib}


def cmd_down(settings: Settings) -> int:
    if os.geteuid() != 0:
        raise LabError("labctl must run as root")
    problems = []
    if settings.with_hosts and HOSTSCTL.exists() and shutil.which("podman"):
        say("removing the test hosts and the lab network (hostsctl down)")
        try:
            hostsctl(settings, "down", timeout=300)
        except LabError as exc:
            problems.append(str(exc))
    services.stop_all(settings, say)
    leftovers = recorded(settings.pid_dir)
    if leftovers:
        problems.append("processes still recorded: " + ", ".join(leftovers))
    if not problems and not settings.with_hosts:
        # Control-plane-only lab: the test hosts' part of the lab dir is not ours.
        for child in settings.lab_dir.iterdir() if settings.lab_dir.is_dir() else []:
            if child.name != "hosts":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        say(f"removed the control plane's files from {settings.lab_dir}")
        return 0
    if not problems:
        shutil.rmtree(settings.lab_dir, ignore_errors=True)
        say(f"removed {settings.lab_dir}; caches kept in {settings.cache_dir}")
        return 0
    raise LabError("down left things behind: " + "; ".join(problems)
                   + f". State kept in {settings.lab_dir}; fix and rerun `labctl down`")


def cmd_service(settings: Settings, op: str, name: str) -> int:
    """Stop, start or restart one recorded control-plane process; start waits until the lab is healthy."""
    if os.geteuid() != 0:
        raise LabError("labctl must run as root")
    if op not in ("stop", "start", "restart"):
        raise LabError(f"unknown service action '{op}': choose stop, start or restart")
    onoff.check_name(name)
    lab = read_lab_json(settings)
    if not lab or not recorded(settings.pid_dir):
        raise LabError("the lab is not up: run `labctl up` first")
    if op in ("stop", "restart"):
        say(f"{name}: {'stopped' if onoff.stop_service(settings, name) else 'was not running'}")
    if op in ("start", "restart"):
        venv = Path(lab["venv"])
        say(f"{name}: {'started' if onoff.start_service(settings, venv, name) else 'was already running'}")
        wait_healthy(settings, venv, timeout=300)
        say("the lab is healthy")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labctl", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "down", "status", "service", "rss"))
    parser.add_argument("service", nargs="*", metavar="stop|start|restart NAME",
                        help="with `service`: the action and the lab process (" + ", ".join(onoff.SWITCHABLE) + ")")
    parser.add_argument("--computes", type=int, default=None,
                        help=f"number of test hosts ({MIN_COMPUTES}..{MAX_COMPUTES}, "
                             f"default {DEFAULT_COMPUTES} or what the running lab has)")
    parser.add_argument("--control-plane-only", action="store_true",
                        help="development aid: OpenStack services on 127.0.0.1, no test hosts")
    parser.add_argument("--network", choices=NETWORKS, default=None,
                        help=f"with `up`: the network backend (default {DEFAULT_NETWORK}, or the running lab's)")
    args = parser.parse_args(argv)
    probe = Settings.from_env(DEFAULT_COMPUTES)
    previous = read_lab_json(probe) or {}
    computes = args.computes if args.computes is not None else previous.get("computes", DEFAULT_COMPUTES)
    with_hosts = not args.control_plane_only
    if args.action != "up" and previous:
        with_hosts = previous.get("with_hosts", with_hosts)
    if args.network and args.action != "up":
        parser.error("--network goes with `up` only")
    network = args.network or previous.get("network") or DEFAULT_NETWORK
    settings = Settings.from_env(computes, with_hosts=with_hosts, network=network)
    if (args.action == "service") != bool(args.service) or (args.service and len(args.service) != 2):
        parser.error("`service` takes two words (stop|start|restart NAME); up, down and status take none")
    try:
        if args.action == "service":
            return cmd_service(settings, *args.service)
        if args.action == "rss":
            print(json.dumps(lab_rss(settings), indent=2))
            return 0
        if args.action in ("up", "down"):
            with lab_lock():
                return {"up": cmd_up, "down": cmd_down}[args.action](settings)
        return cmd_status(settings)
    except LabError as exc:
        print(f"labctl {args.action}: {exc}", file=sys.stderr)
        return 2
    except subprocess.SubprocessError as exc:
        print(f"labctl {args.action}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
