# SPDX-License-Identifier: Apache-2.0
"""The ndu lab's control plane: settings shared by labctl and its steps.

Everything the lab creates lives under ``Settings.lab_dir`` (removed by
``labctl down``); everything worth keeping between runs lives under
``Settings.cache_dir`` and is named by the hash of what built it.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

LAB_ROOT = Path(__file__).resolve().parent.parent
REPO_ROOT = LAB_ROOT.parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates"
HOSTSCTL = LAB_ROOT / "hosts" / "hostsctl"
LABFAKE = LAB_ROOT / "nova" / "labfake.py"
LABVIF = LAB_ROOT / "nova" / "labvif.py"
REQUIREMENTS = LAB_ROOT / "requirements-lab.txt"

MIN_COMPUTES = 1
MAX_COMPUTES = 6
DEFAULT_COMPUTES = 3

CLOUD_NAME = "ndu-lab"
REGION = "RegionOne"
ADMIN_PASSWORD = "admin"
SERVICE_PASSWORD = "ndu-lab-service"
DB_USER = "ndulab"
DB_PASSWORD = "ndu-lab-db"
RABBIT_USER = "ndulab"
RABBIT_PASSWORD = "ndu-lab-rabbit"

PORTS = {
    "mariadb": 18306,
    "rabbitmq": 18672,
    "epmd": 18369,
    "rabbitmq-dist": 18673,
    "keystone": 18500,
    "placement": 18778,
    "glance": 18292,
    "neutron": 18696,
    "nova-api": 18774,
}

IMAGE_NAME = "ndu-lab-image"
FLAVOR_NAME = "ndu-lab-tiny"

# Network backends (`labctl up --network`): the controller that owns br-int.
NETWORKS = ("ovn", "ovs")
DEFAULT_NETWORK = "ovn"
TENANT_NETWORK = "ndu-lab-net"
TENANT_SUBNET = "ndu-lab-subnet"
TENANT_CIDR = "10.215.0.0/24"
OVN_CENTRAL_IP = "10.213.0.5"
OVN_NB = f"tcp:{OVN_CENTRAL_IP}:6641"
OVN_SB = f"tcp:{OVN_CENTRAL_IP}:6642"
LOCK_FILE = "/run/ndu-lab.lock"
# The probe-only chassis (hostsctl's ndu-lab-probe) and its Neutron port.
PROBE_HOST = "ndu-lab-probe"
PROBE_HOST_IP = "10.213.0.10"
PROBE_PORT = "ndu-lab-probe"
PROBE_NAMESPACE = "vm-probe"
# What the test hosts' local repo holds (tests/lab/hosts/image/build.sh, trixie).
OVS_VERSIONS = {"original": "3.5.0-1+b1", "lab1": "3.5.0-1+b1+lab1", "broken": "3.5.0-1+b1+lab2broken"}
OVN_VERSIONS = {"original": "25.03.0-1", "lab1": "25.03.0-1+lab1"}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Where the lab lives and how it is reached; built once per labctl run."""

    lab_dir: Path
    cache_dir: Path
    host_ip: str
    computes: int
    with_hosts: bool
    # None: control plane only (no mechanism driver, no agents).
    network: str | None = DEFAULT_NETWORK

    @classmethod
    def from_env(cls, computes: int, with_hosts: bool = True,
                 network: str | None = DEFAULT_NETWORK) -> Settings:
        return cls(
            lab_dir=Path(os.environ.get("NDU_LAB_DIR", "/var/lib/ndu-lab")),
            cache_dir=Path(os.environ.get("NDU_LAB_CACHE", "/var/cache/ndu-lab")),
            host_ip="10.213.0.1" if with_hosts else "127.0.0.1",
            computes=computes,
            with_hosts=with_hosts,
            network=network if with_hosts else None,
        )

    # Paths below lab_dir (state the lab created; `down` removes all of it).
    @property
    def etc_dir(self) -> Path:
        return self.lab_dir / "etc"

    @property
    def log_dir(self) -> Path:
        return self.lab_dir / "logs"

    @property
    def state_dir(self) -> Path:
        return self.lab_dir / "state"

    @property
    def pid_dir(self) -> Path:
        return self.lab_dir / "pids"

    @property
    def driver_dir(self) -> Path:
        return self.lab_dir / "driver"

    @property
    def hosts_dir(self) -> Path:
        return self.lab_dir / "hosts"

    @property
    def clouds_yaml(self) -> Path:
        return self.lab_dir / "clouds.yaml"

    @property
    def inventory(self) -> Path:
        return self.lab_dir / "inventory.yml"

    @property
    def lab_env(self) -> Path:
        return self.lab_dir / "lab.env"

    @property
    def status_json(self) -> Path:
        return self.lab_dir / "status.json"

    @property
    def lab_json(self) -> Path:
        """What `up` last built (compute count, venv, snapshot); read by status/down."""
        return self.lab_dir / "lab.json"

    def url(self, service: str, suffix: str = "") -> str:
        return f"http://{self.host_ip}:{PORTS[service]}{suffix}"

    @property
    def db_url(self) -> str:
        return f"mysql+pymysql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{PORTS['mariadb']}"

    @property
    def transport_url(self) -> str:
        return f"rabbit://{RABBIT_USER}:{RABBIT_PASSWORD}@{self.host_ip}:{PORTS['rabbitmq']}/"


def compute_names(count: int) -> list[str]:
    return [f"compute{n}" for n in range(1, count + 1)]


def compute_ip(name: str) -> str:
    return f"10.213.0.{10 + int(name.removeprefix('compute'))}"


def workload_ips(name: str) -> dict[str, str]:
    n = int(name.removeprefix("compute"))
    return {"vm1": f"10.214.0.{10 * n + 1}", "vm2": f"10.214.0.{10 * n + 2}"}
