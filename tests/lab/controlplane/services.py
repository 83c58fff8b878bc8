# SPDX-License-Identifier: Apache-2.0
"""Bring-up steps of the control plane, each idempotent.

Order (labctl.up calls them): venv -> configs -> MariaDB (snapshot or cold
init) -> RabbitMQ -> Keystone -> catalog -> Placement, Glance, Neutron,
Nova api/conductor/scheduler -> image and flavor.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import shutil
import string
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable

from . import (
    ADMIN_PASSWORD,
    DB_PASSWORD,
    DB_USER,
    FLAVOR_NAME,
    IMAGE_NAME,
    LABFAKE,
    LABVIF,
    OVN_NB,
    OVN_SB,
    OVN_VERSIONS,
    OVS_VERSIONS,
    PORTS,
    PROBE_HOST,
    PROBE_HOST_IP,
    RABBIT_PASSWORD,
    RABBIT_USER,
    REGION,
    REQUIREMENTS,
    SERVICE_PASSWORD,
    TEMPLATES,
    TENANT_CIDR,
    TENANT_NETWORK,
    TENANT_SUBNET,
    Settings,
    compute_ip,
    compute_names,
)
from .procs import LabError, alive, port_open, recorded, run, start, stop, stop_many, wait_port

DATABASES = ("keystone", "placement", "glance", "neutron", "nova_api", "nova", "nova_cell0")
SERVICE_USERS = ("nova", "placement", "glance", "neutron")
CATALOG = (
    # (service name, type, port key, path)
    ("placement", "placement", "placement", ""),
    ("glance", "image", "glance", ""),
    ("neutron", "network", "neutron", ""),
    ("nova", "compute", "nova-api", "/v2.1"),
)
# Neutron's processes besides its API, per backend (neutron 29 under uWSGI:
# the RPC server and the OVN maintenance worker are separate commands).
NEUTRON_EXTRA = {
    "ovn": ("neutron-ovn-maintenance",),
    "ovs": ("neutron-rpc", "neutron-periodic"),
    None: (),
}
# Processes in the order `down` stops them (APIs first, database last).
PROCESS_ORDER = (
    "nova-scheduler",
    "nova-conductor",
    "nova-api",
    "neutron-ovn-maintenance",
    "neutron-rpc",
    "neutron-periodic",
    "neutron-api",
    "glance-api",
    "placement-api",
    "keystone",
    "rabbitmq",
    "epmd",
    "mariadb",
)

Log = Callable[[str], None]
# Bump when _sync_schemas or the database settings change: it keys the snapshot.
DB_RECIPE_VERSION = "1"


def _hash(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:12]


# --- lab venv ---------------------------------------------------------------

def venv_key() -> str:
    python = subprocess.run(["/usr/bin/python3", "--version"], capture_output=True, text=True,
                            check=False).stdout.strip()
    return _hash(REQUIREMENTS.read_bytes(), python.encode())


def processes(settings: Settings) -> tuple[str, ...]:
    """The processes this lab runs (its backend's Neutron workers only)."""
    wanted = set(NEUTRON_EXTRA[settings.network])
    others = {n for extra in NEUTRON_EXTRA.values() for n in extra}
    return tuple(n for n in PROCESS_ORDER if n not in others or n in wanted)


def install_driver(venv: Path) -> None:
    """Put the lab driver (and its plug logic) into nova/virt of `venv`:
    Nova loads compute_driver only as nova.virt.<value>."""
    site = next((venv / "lib").glob("python3*/site-packages"))
    for source in (LABFAKE, LABVIF):
        target = site / "nova" / "virt" / source.name
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)


def ensure_venv(settings: Settings, log: Log) -> Path:
    """Build (once) or reuse the lab venv keyed by requirements-lab.txt."""
    venv = settings.cache_dir / f"venv-{venv_key()}"
    marker = venv / ".ndu-lab-complete"
    if not marker.exists():
        log(f"building the lab venv {venv} (pip install, about 2 minutes)")
        shutil.rmtree(venv, ignore_errors=True)
        settings.cache_dir.mkdir(parents=True, exist_ok=True)
        build_log = settings.log_dir / "venv-build.log"
        run(["/usr/bin/python3", "-m", "venv", str(venv)], "create the lab venv", log=build_log)
        run([str(venv / "bin/pip"), "install", "--quiet", "--disable-pip-version-check",
             "-r", str(REQUIREMENTS)], f"install {REQUIREMENTS.name} into {venv}",
            log=build_log, timeout=1500)
        marker.write_text(REQUIREMENTS.read_text())
    else:
        log(f"reusing the lab venv {venv}")
    install_driver(venv)
    return venv


# --- configuration ----------------------------------------------------------

def _authtoken(settings: Settings, user: str) -> str:
    return "\n".join([
        f"www_authenticate_uri = {settings.url('keystone', '/v3')}",
        f"auth_url = {settings.url('keystone', '/v3')}",
        "auth_type = password",
        "project_domain_name = Default",
        "user_domain_name = Default",
        "project_name = service",
        f"username = {user}",
        f"password = {SERVICE_PASSWORD}",
        "service_token_roles_required = true",
        "memcached_servers =",
    ])


def _client_section(settings: Settings, name: str, user: str, extra: tuple[str, ...] = ()) -> str:
    return "\n".join([
        f"[{name}]",
        f"auth_url = {settings.url('keystone', '/v3')}",
        "auth_type = password",
        "project_domain_name = Default",
        "user_domain_name = Default",
        "project_name = service",
        f"username = {user}",
        f"password = {SERVICE_PASSWORD}",
        f"region_name = {REGION}",
        "valid_interfaces = public",
        *extra,
        "",
    ])


def _nova_clients(settings: Settings) -> str:
    return "\n".join([
        _client_section(settings, "placement", "placement"),
        _client_section(settings, "neutron", "neutron"),
        _client_section(settings, "glance", "glance"),
        _client_section(settings, "service_user", "nova", ("send_service_user_token = false",)),
        "[vnc]\nenabled = false\n",
        "[spice]\nenabled = false\n",
        "[cinder]\nos_region_name = RegionOne\n",
    ])


# Heartbeats: a stopped host must show `down` well within a test's patience,
# a busy 2-core machine must not make a healthy one flap.
NOVA_COMMON = "\n".join([
    "report_interval = 3",
    "service_down_time = 15",
    "heal_instance_info_cache_interval = -1",
    "rpc_response_timeout = 60",
    "debug = false",
])


def render(template: str, target: Path, **values: str) -> None:
    text = string.Template((TEMPLATES / template).read_text()).substitute(values)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def write_configs(settings: Settings, venv: Path) -> None:
    common = {
        "log_dir": str(settings.log_dir),
        "state_dir": str(settings.state_dir),
        "etc_dir": str(settings.etc_dir),
        "db_url": settings.db_url,
        "transport_url": settings.transport_url,
        "host_ip": settings.host_ip,
        "glance_url": settings.url("glance"),
        "nova_common": NOVA_COMMON,
        "nova_clients": _nova_clients(settings),
    }
    etc = settings.etc_dir
    render("keystone.conf", etc / "keystone/keystone.conf", **common)
    render("placement.conf", etc / "placement/placement.conf", **common,
           authtoken_placement=_authtoken(settings, "placement"))
    render("glance-api.conf", etc / "glance/glance-api.conf", **common,
           authtoken_glance=_authtoken(settings, "glance"))
    notify = "true" if settings.network else "false"
    nova_section = _client_section(settings, "nova", "nova") if settings.network else ""
    render("neutron.conf", etc / "neutron/neutron.conf", **common,
           authtoken_neutron=_authtoken(settings, "neutron"), notify_nova=notify,
           nova_section=nova_section)
    ml2 = f"ml2_conf-{settings.network}.ini" if settings.network else "ml2_conf.ini"
    render(ml2, etc / "neutron/plugins/ml2/ml2_conf.ini", ovn_nb=OVN_NB, ovn_sb=OVN_SB)
    for proc in ("nova-api", "nova-conductor", "nova-scheduler", "nova-manage"):
        render("nova.conf", etc / f"{proc}/nova.conf", **common, nova_log_name=proc,
               authtoken_nova=_authtoken(settings, "nova"))
    # Paste pipelines ship with the packages (venv/etc/<service>).
    for service, name, where in (("glance", "glance-api-paste.ini", "glance"),
                                 ("neutron", "api-paste.ini", "neutron"),
                                 ("nova", "api-paste.ini", "nova-api")):
        (etc / where).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(venv / "etc" / service / name, etc / where / name)
    rabbit = etc / "rabbitmq"
    rabbit.mkdir(parents=True, exist_ok=True)
    (rabbit / "rabbitmq.conf").write_text("\n".join([
        f"listeners.tcp.1 = {settings.host_ip}:{PORTS['rabbitmq']}",
        f"default_user = {RABBIT_USER}",
        f"default_pass = {RABBIT_PASSWORD}",
        "loopback_users = none",
        "log.console = false",
        f"log.file.level = warning",
        "vm_memory_high_watermark.absolute = 512MiB",
        "disk_free_limit.absolute = 100MB",
        "management.tcp.port = 0",
        "",
    ]))
    (rabbit / "enabled_plugins").write_text("[].\n")
    settings.driver_dir.mkdir(parents=True, exist_ok=True)
    behaviour = settings.driver_dir / "behaviour.json"
    if not behaviour.exists():
        behaviour.write_text("{}\n")
    host = settings.driver_dir / "host.json"
    if not host.exists():
        # Longer than service_down_time: a rebooted host shows `down` in Nova.
        host.write_text(json.dumps({"boot_delay": 20}) + "\n")


def node_uuid(name: str) -> str:
    """The Nova node identity of test host `name` (stable, derived from the name)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ndu-lab:{name}"))


def write_compute_configs(settings: Settings) -> None:
    # ML2/OVS: the agent on the destination reports the inactive binding's
    # port up during pre_live_migration (network-vif-plugged); ML2/OVN sends
    # no event there (the port is up on the source all along), so Nova must
    # not wait for one (what OVN deployments configure).
    wait_plug = "true" if settings.network == "ovs" else "false"
    for name in compute_names(settings.computes):
        etc_nova = settings.hosts_dir / name / "nova"
        render("nova-compute.conf", etc_nova / "nova.conf",
               compute_name=name, compute_ip=compute_ip(name),
               transport_url=settings.transport_url, nova_common=NOVA_COMMON,
               nova_clients=_nova_clients(settings), wait_for_vif_plug=wait_plug)
        # Nova reads its node identity from compute_id next to its config file
        # too: kept here, it survives the container being rebuilt, not just
        # rebooted, while the lab's database lives.
        identity = etc_nova / "compute_id"
        if not identity.exists():
            identity.write_text(node_uuid(name) + "\n")
    # The probe-only chassis runs the agent too (ML2/OVS); nothing of Nova.
    for name, ip in [*((n, compute_ip(n)) for n in compute_names(settings.computes)),
                     (PROBE_HOST, PROBE_HOST_IP)]:
        etc_neutron = settings.hosts_dir / name / "neutron"
        render("neutron-host.conf", etc_neutron / "neutron.conf", compute_name=name,
               transport_url=settings.transport_url)
        render("openvswitch_agent.ini", etc_neutron / "openvswitch_agent.ini", compute_name=name,
               compute_ip=ip)


# --- MariaDB ----------------------------------------------------------------

def snapshot_key(settings: Settings) -> str:
    """Names the DB snapshot: what the schemas and the catalog URLs depend on."""
    return _hash(REQUIREMENTS.read_bytes(), settings.host_ip.encode(), DB_RECIPE_VERSION.encode())


def _mariadb_argv(settings: Settings) -> list[str]:
    state = settings.state_dir
    return [
        "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={state / 'mysql'}",
        "--bind-address=127.0.0.1", f"--port={PORTS['mariadb']}",
        f"--socket={state / 'mysql.sock'}", f"--pid-file={state / 'mysql.pid'}",
        "--user=root", "--skip-name-resolve", "--skip-log-bin",
        f"--log-error={settings.log_dir / 'mariadb.log'}",
        "--innodb-buffer-pool-size=128M", "--max-connections=1000",
        "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
        "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
    ]


def _start_mariadb(settings: Settings) -> None:
    if alive(settings.pid_dir, "mariadb"):
        return
    start(settings.pid_dir, settings.log_dir, "mariadb", _mariadb_argv(settings))
    wait_port("127.0.0.1", PORTS["mariadb"], 60, "MariaDB", settings.log_dir / "mariadb.log")


def _sql(settings: Settings, statements: str) -> None:
    run(["/usr/bin/mariadb", "--no-defaults", "-S", str(settings.state_dir / "mysql.sock"),
         "-u", "root"], "create the lab databases", input_text=statements)


def ensure_database(settings: Settings, venv: Path, log: Log) -> str:
    """MariaDB running with every schema synced; returns how it got there."""
    ready = settings.state_dir / "mysql.ready"
    datadir = settings.state_dir / "mysql"
    if ready.exists() and datadir.is_dir():
        was_running = alive(settings.pid_dir, "mariadb") is not None
        _start_mariadb(settings)
        return "running" if was_running else "restarted"
    stop(settings.pid_dir, "mariadb")
    shutil.rmtree(datadir, ignore_errors=True)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    snapshot = settings.cache_dir / f"db-{snapshot_key(settings)}.tar"
    if snapshot.exists():
        log(f"restoring the database snapshot {snapshot}")
        run(["tar", "-C", str(settings.state_dir), "-xf", str(snapshot)], "restore the database snapshot")
        _start_mariadb(settings)
        ready.write_text(snapshot.name)
        return "snapshot"
    log("initialising the databases (cold: schema syncs take a few minutes)")
    run(["/usr/bin/mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=root",
         "--auth-root-authentication-method=socket", "--skip-test-db"],
        "initialise the MariaDB data directory", log=settings.log_dir / "mariadb-install.log")
    _start_mariadb(settings)
    grants = [f"CREATE USER IF NOT EXISTS '{DB_USER}'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}';",
              f"GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'127.0.0.1';"]
    grants += [f"CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4;" for db in DATABASES]
    _sql(settings, "\n".join(grants) + "\n")
    _sync_schemas(settings, venv)
    stop(settings.pid_dir, "mariadb", timeout=60)
    tmp = snapshot.with_suffix(".tar.tmp")
    run(["tar", "-C", str(settings.state_dir), "-cf", str(tmp), "mysql"], "save the database snapshot")
    tmp.rename(snapshot)
    log(f"saved the database snapshot {snapshot}")
    for stale in settings.cache_dir.glob("db-*.tar"):
        if stale != snapshot:
            stale.unlink()
            log(f"removed the stale database snapshot {stale}")
    _start_mariadb(settings)
    ready.write_text(snapshot.name)
    return "cold"


def _sync_schemas(settings: Settings, venv: Path) -> None:
    etc = settings.etc_dir
    bindir = venv / "bin"
    slog = settings.log_dir / "db-sync.log"
    keystone = ["--config-file", str(etc / "keystone/keystone.conf")]
    nova = ["--config-file", str(etc / "nova-manage/nova.conf")]
    chains = {
        "keystone": [
            ([str(bindir / "keystone-manage"), *keystone, "db_sync"], "sync the Keystone schema"),
            *[([str(bindir / "keystone-manage"), *keystone, setup, "--keystone-user", "root",
                "--keystone-group", "root"], f"run keystone-manage {setup}")
              for setup in ("fernet_setup", "credential_setup")],
            ([str(bindir / "keystone-manage"), *keystone, "bootstrap",
              "--bootstrap-password", ADMIN_PASSWORD,
              "--bootstrap-admin-url", settings.url("keystone", "/v3"),
              "--bootstrap-public-url", settings.url("keystone", "/v3"),
              "--bootstrap-internal-url", settings.url("keystone", "/v3"),
              "--bootstrap-region-id", REGION], "bootstrap Keystone"),
        ],
        "placement": [([str(bindir / "placement-manage"), "--config-file",
                        str(etc / "placement/placement.conf"), "db", "sync"],
                       "sync the Placement schema")],
        "glance": [([str(bindir / "glance-manage"), "--config-file",
                     str(etc / "glance/glance-api.conf"), "db_sync"], "sync the Glance schema")],
        "neutron": [([str(bindir / "neutron-db-manage"), "--config-file",
                      str(etc / "neutron/neutron.conf"), "--config-file",
                      str(etc / "neutron/plugins/ml2/ml2_conf.ini"), "upgrade", "heads"],
                     "sync the Neutron schema")],
        "nova": [
            ([str(bindir / "nova-manage"), *nova, "api_db", "sync"], "sync the Nova API schema"),
            ([str(bindir / "nova-manage"), *nova, "cell_v2", "map_cell0", "--database_connection",
              f"{settings.db_url}/nova_cell0"], "map Nova cell0"),
            ([str(bindir / "nova-manage"), *nova, "cell_v2", "create_cell", "--name", "cell1",
              "--verbose"], "create Nova cell1"),
            ([str(bindir / "nova-manage"), *nova, "db", "sync"], "sync the Nova schema"),
        ],
    }

    def chain(steps: list[tuple[list[str], str]]) -> None:
        for argv, what in steps:
            try:
                run(argv, what, log=slog, timeout=900)
            except LabError:
                # Every step is idempotent; one retry absorbs a transient
                # failure on a loaded machine (seen once on a cold keystone
                # db_sync); a second failure is reported with its log.
                time.sleep(3)
                run(argv, what, log=slog, timeout=900)

    # Three at a time: the schemas are independent, the machine has 2 cores.
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        for future in [pool.submit(chain, steps) for steps in chains.values()]:
            future.result()


# --- RabbitMQ ---------------------------------------------------------------

def ensure_rabbitmq(settings: Settings) -> None:
    state = settings.state_dir / "rabbitmq"
    env = {
        "HOME": str(state),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(PORTS["epmd"]),
    }
    if not alive(settings.pid_dir, "epmd"):
        state.mkdir(parents=True, exist_ok=True)
        start(settings.pid_dir, settings.log_dir, "epmd",
              ["/usr/bin/epmd", "-address", "127.0.0.1", "-port", str(PORTS["epmd"])], env=env)
        wait_port("127.0.0.1", PORTS["epmd"], 20, "epmd for RabbitMQ")
    if alive(settings.pid_dir, "rabbitmq"):
        return
    etc = settings.etc_dir / "rabbitmq"
    env |= {
        "RABBITMQ_NODENAME": "ndulab@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": settings.host_ip,
        "RABBITMQ_NODE_PORT": str(PORTS["rabbitmq"]),
        "RABBITMQ_DIST_PORT": str(PORTS["rabbitmq-dist"]),
        "RABBITMQ_CONFIG_FILE": str(etc / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(etc / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(state / "mnesia"),
        "RABBITMQ_LOG_BASE": str(settings.log_dir / "rabbitmq"),
        "RABBITMQ_PID_FILE": str(state / "rabbitmq.pid"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(etc / "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(etc / "rabbitmq-env.conf"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "RABBITMQ_CTL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    (etc / "rabbitmq-env.conf").write_text("# empty: everything comes from the environment\n")
    (etc / "advanced.config").write_text("[].\n")
    start(settings.pid_dir, settings.log_dir, "rabbitmq",
          ["/usr/lib/rabbitmq/bin/rabbitmq-server"], env=env)
    wait_port(settings.host_ip, PORTS["rabbitmq"], 90, "RabbitMQ",
              settings.log_dir / "rabbitmq.out")


# --- API services and Nova daemons ------------------------------------------

NEUTRON_WSGI = Path(__file__).resolve().parent / "neutron_wsgi.py"


def _uwsgi(settings: Settings, venv: Path, port_key: str, app: list[str], name: str) -> list[str]:
    return [
        str(venv / "bin/uwsgi"), "--http-socket", f"{settings.host_ip}:{PORTS[port_key]}",
        *app, "--virtualenv", str(venv), "--master", "--processes", "1", "--threads", "4",
        "--lazy-apps", "--die-on-term", "--need-app", "--buffer-size", "65535",
        # http-socket closes the connection after each response: say so, or
        # clients reuse it and get "connection reset".
        "--add-header", "Connection: close",
        "--disable-logging", "--procname-prefix-spaced", f"ndu-lab-{name}",
    ]


def _api_specs(settings: Settings, venv: Path) -> dict[str, tuple[list[str], dict[str, str], str]]:
    etc = settings.etc_dir
    py = str(venv / "bin/python")
    nova_main = "import sys; from nova.cmd.{0} import main; sys.exit(main())"
    return {
        "keystone": (_uwsgi(settings, venv, "keystone", ["--module", "keystone.wsgi.api:application"], "keystone"),
                     {"OS_KEYSTONE_CONFIG_DIR": str(etc / "keystone")}, "keystone"),
        "placement-api": (_uwsgi(settings, venv, "placement", ["--module", "placement.wsgi.api:application"], "placement"),
                          {"OS_PLACEMENT_CONFIG_DIR": str(etc / "placement")}, "placement"),
        "glance-api": (_uwsgi(settings, venv, "glance", ["--module", "glance.wsgi.api:application"], "glance"),
                       {"OS_GLANCE_CONFIG_DIR": str(etc / "glance")}, "glance"),
        "neutron-api": (_uwsgi(settings, venv, "neutron", ["--wsgi-file", str(NEUTRON_WSGI)], "neutron"),
                        {"OS_NEUTRON_CONFIG_DIR": str(etc / "neutron")}, "neutron"),
        "nova-api": (_uwsgi(settings, venv, "nova-api", ["--module", "nova.wsgi.osapi_compute:application"], "nova-api"),
                     {"OS_NOVA_CONFIG_DIR": str(etc / "nova-api"),
                      "OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf"}, "nova-api"),
        **{name: ([py, "-c", f"import sys; from neutron.cmd.server import {entry}; sys.exit({entry}())",
                   "--log-file", str(settings.log_dir / f"{name}.log")],
                  {"OS_NEUTRON_CONFIG_DIR": str(etc / "neutron")}, "")
           for name, entry in (("neutron-ovn-maintenance", "main_ovn_maintenance"),
                               ("neutron-rpc", "main_rpc"), ("neutron-periodic", "main_periodic"))},
        "nova-conductor": ([py, "-c", nova_main.format("conductor"), "--config-file",
                            str(etc / "nova-conductor/nova.conf")], {}, ""),
        "nova-scheduler": ([py, "-c", nova_main.format("scheduler"), "--config-file",
                            str(etc / "nova-scheduler/nova.conf")], {}, ""),
    }


def ensure_keystone(settings: Settings, venv: Path) -> None:
    keys = settings.state_dir / "keystone"
    if not (keys / "fernet-keys" / "0").exists():
        conf = ["--config-file", str(settings.etc_dir / "keystone/keystone.conf")]
        for setup in ("fernet_setup", "credential_setup"):
            run([str(venv / "bin/keystone-manage"), *conf, setup, "--keystone-user", "root",
                 "--keystone-group", "root"], f"run keystone-manage {setup}")
    _start_many(settings, venv, ["keystone"])


def ensure_services(settings: Settings, venv: Path) -> None:
    (settings.state_dir / "glance").mkdir(parents=True, exist_ok=True)
    for sub in ("nova/lock", "neutron/lock", "glance/images", "glance/staging", "glance/tasks"):
        (settings.state_dir / sub).mkdir(parents=True, exist_ok=True)
    _start_many(settings, venv, ["placement-api", "glance-api", "neutron-api",
                                 *NEUTRON_EXTRA[settings.network], "nova-api",
                                 "nova-conductor", "nova-scheduler"])


def _start_many(settings: Settings, venv: Path, names: list[str]) -> None:
    specs = _api_specs(settings, venv)
    started = []
    for name in names:
        argv, env, port_key = specs[name]
        if alive(settings.pid_dir, name):
            continue
        if port_key and port_open(settings.host_ip, PORTS[port_key]):
            raise LabError(f"Failed to start {name}: {settings.host_ip}:{PORTS[port_key]} is taken "
                           "by a process the lab did not record; run `labctl down` and retry")
        start(settings.pid_dir, settings.log_dir, name, argv, env=env)
        started.append(name)
    for name in started:
        _, _, port_key = specs[name]
        if port_key:
            _wait_http(settings, name, port_key)
        elif not alive(settings.pid_dir, name):
            raise LabError(f"Failed to start {name}: it exited at once; see {settings.log_dir / (name + '.out')}")


def _wait_http(settings: Settings, name: str, port_key: str, timeout: float = 180) -> None:
    """Wait until the API answers HTTP at all (any status), or its process died."""
    import urllib.error
    import urllib.request

    url = settings.url(port_key, "/")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(settings.pid_dir, name):
            raise LabError(f"Failed to start {name}: the process exited; see "
                           f"{settings.log_dir / (name + '.out')} and {settings.log_dir}")
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 - lab URL
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.5)
    raise LabError(f"Failed to start {name}: {url} did not answer within {timeout:.0f} s; "
                   f"see {settings.log_dir / (name + '.out')}")


# --- cloud content (idempotent, through openstacksdk) -----------------------

def ensure_catalog(conn: object) -> None:
    """Service project, users with admin role, services and endpoints."""
    ident = conn.identity  # type: ignore[attr-defined]
    project = ident.find_project("service", domain_id="default") or ident.create_project(
        name="service", domain_id="default", description="ndu lab services")
    admin_role = ident.find_role("admin")
    service_role = ident.find_role("service") or ident.create_role(name="service")
    for user_name in SERVICE_USERS:
        user = ident.find_user(user_name, domain_id="default")
        if user is None:
            user = ident.create_user(name=user_name, domain_id="default", password=SERVICE_PASSWORD,
                                     default_project_id=project.id)
        for role in (admin_role, service_role):
            if not ident.validate_user_has_project_role(project, user, role):
                ident.assign_project_role_to_user(project, user, role)
    return None


def ensure_endpoints(conn: object, settings: Settings) -> None:
    ident = conn.identity  # type: ignore[attr-defined]
    for name, stype, port_key, path in CATALOG:
        service = ident.find_service(name) or ident.create_service(name=name, type=stype)
        url = settings.url(port_key, path)
        have = {(e.interface, e.url) for e in ident.endpoints(service_id=service.id)}
        for interface in ("public", "internal", "admin"):
            if (interface, url) not in have:
                ident.create_endpoint(service_id=service.id, interface=interface, url=url,
                                      region_id=REGION)


def ensure_image_and_flavor(conn: object) -> None:
    image_api = conn.image  # type: ignore[attr-defined]
    image = image_api.find_image(IMAGE_NAME)
    if image is not None and image.status != "active":
        image_api.delete_image(image)
        image = None
    if image is None:
        image_api.create_image(name=IMAGE_NAME, data=b"\0" * 1024, disk_format="raw",
                               container_format="bare", visibility="public",
                               allow_duplicates=True, wait=True, validate_checksum=False)
    compute = conn.compute  # type: ignore[attr-defined]
    if compute.find_flavor(FLAVOR_NAME) is None:
        compute.create_flavor(name=FLAVOR_NAME, ram=64, vcpus=1, disk=1, is_public=True)


def ensure_tenant_network(conn: object, settings: Settings) -> dict[str, str]:
    """The tenant network and subnet every lab instance has its port on (shared,
    the backend's overlay type: Geneve with OVN, VXLAN with ML2/OVS). No DHCP
    (the lab driver puts the fixed IP into the guest), no port security (the
    probe reaches every instance without security-group rules)."""
    net_api = conn.network  # type: ignore[attr-defined]
    net = net_api.find_network(TENANT_NETWORK)
    if net is None:
        net = net_api.create_network(name=TENANT_NETWORK, shared=True, port_security_enabled=False)
    subnet = net_api.find_subnet(TENANT_SUBNET)
    if subnet is None:
        subnet = net_api.create_subnet(name=TENANT_SUBNET, network_id=net.id, ip_version=4,
                                       cidr=TENANT_CIDR, enable_dhcp=False, gateway_ip=None)
    return {"network": net.id, "subnet": subnet.id, "type": net.provider_network_type or "",
            "mtu": str(net.mtu or "")}


def ensure_probe_port(conn: object, host: str, name: str) -> object:
    """The probe's port on the tenant network, bound to the probe chassis (admin
    binding:host_id, as Nova binds an instance's). A binding that failed (the
    chassis or agent was not registered yet) is retried."""
    net_api = conn.network  # type: ignore[attr-defined]
    net = net_api.find_network(TENANT_NETWORK)
    port = net_api.find_port(name)
    if port is None:
        port = net_api.create_port(name=name, network_id=net.id, binding_host_id=host,
                                   device_owner="ndu-lab:probe", device_id=name)
    elif port.binding_host_id != host or port.binding_vif_type in ("binding_failed", "unbound"):
        port = net_api.update_port(port, binding_host_id="")
        port = net_api.update_port(port, binding_host_id=host)
    return port


def discover_hosts(settings: Settings, venv: Path) -> None:
    run([str(venv / "bin/nova-manage"), "--config-file",
         str(settings.etc_dir / "nova-manage/nova.conf"), "cell_v2", "discover_hosts"],
        "map the compute hosts to cell1 (nova-manage cell_v2 discover_hosts)",
        log=settings.log_dir / "discover-hosts.log")


def mapped_hosts(settings: Settings) -> set[str]:
    """Compute hosts mapped to a cell (nova_api.host_mappings; what
    `nova-manage cell_v2 list_hosts` shows, without its 4 s start-up)."""
    out = run(["/usr/bin/mariadb", "--no-defaults", "-S", str(settings.state_dir / "mysql.sock"),
               "-u", "root", "-N", "-B", "-e", "SELECT host FROM nova_api.host_mappings"],
              "read the Nova host mappings")
    return {line.strip() for line in out.splitlines() if line.strip()}


def write_lab_json(settings: Settings, venv: Path, host_venv: Path | None = None,
                   probe: dict | None = None) -> None:
    settings.lab_json.write_text(json.dumps({
        "computes": settings.computes,
        "venv": str(venv),
        "host_ip": settings.host_ip,
        "with_hosts": settings.with_hosts,
        "network": settings.network,
        # The same, under the names the probe helper's tests read.
        "backend": settings.network,
        "tenant_network": TENANT_NETWORK if settings.network else None,
        "probe_host": (probe or {}).get("host"),
        "probe_namespace": (probe or {}).get("namespace"),
        "probe_ip": (probe or {}).get("ip"),
        "host_venv": str(host_venv) if host_venv else None,
        "ovs_versions": OVS_VERSIONS if settings.with_hosts else None,
        "ovn_versions": OVN_VERSIONS if settings.with_hosts else None,
        "probe": probe,
        "snapshot": f"db-{snapshot_key(settings)}.tar",
    }, indent=2) + "\n")


def stop_all(settings: Settings, log: Log) -> list[str]:
    stopped = []
    # The OpenStack services together (none needs another to stop), then the message queue and the database.
    backing = ("rabbitmq", "epmd", "mariadb")
    together = [n for n in PROCESS_ORDER if n not in backing]
    together += [n for n in recorded(settings.pid_dir) if n not in PROCESS_ORDER]
    for name in stop_many(settings.pid_dir, together, timeout=20):
        stopped.append(name)
        log(f"stopped {name}")
    for name in backing:
        if stop(settings.pid_dir, name, timeout=60 if name == "mariadb" else 20):
            stopped.append(name)
            log(f"stopped {name}")
    return stopped


def subprocess_ok(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0
