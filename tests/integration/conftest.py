# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures of the integration stage: the lab.

``lab`` (session) makes sure the lab is up and healthy (``labctl status``;
``labctl up`` when it is not) and yields a :class:`Lab` with the paths every
integration test needs::

    def test_something(lab):
        conn = lab.connect()                  # openstacksdk, cloud "ndu-lab"
        run(["ansible-playbook", "-i", lab.inventory, ...], env=lab.env)

It never tears the lab down: the test marked ``teardown``
(tests/integration/lab/test_zz_teardown.py) does, last. NDU_LAB_COMPUTES
sets the host count for a lab this fixture has to start (default 3);
NDU_LAB_NETWORK_WANTED its network backend (``ovn``, the default, or ``ovs``):
a running lab with the other backend is taken down and brought up again.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
LABCTL = REPO / "tests" / "lab" / "labctl.py"


@dataclasses.dataclass(frozen=True)
class Lab:
    lab_dir: Path
    clouds_yaml: Path
    inventory: Path
    lab_env: Path
    computes: tuple[str, ...]

    @property
    def env(self) -> dict[str, str]:
        """os.environ plus what lab.env exports (OS_CLOUD, inventory, ...)."""
        env = dict(os.environ)
        env.update(OS_CLIENT_CONFIG_FILE=str(self.clouds_yaml), OS_CLOUD="ndu-lab",
                   NDU_LAB_INVENTORY=str(self.inventory), NDU_LAB_DIR=str(self.lab_dir))
        return env

    def connect(self) -> Any:
        """openstacksdk Connection to the lab; refuses when 10.213.0.1 is not local
        (a vanished bridge would send the requests out of the machine)."""
        addrs = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                               check=False).stdout
        if self.computes and " 10.213.0.1/" not in addrs:
            pytest.fail("the lab bridge ndulab0 (10.213.0.1) is gone: run `labctl up` again")
        import openstack
        from openstack import config as os_config

        cfg = os_config.OpenStackConfig(config_files=[str(self.clouds_yaml)])
        return openstack.connection.Connection(config=cfg.get_one("ndu-lab"))

    def labctl(self, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
        return labctl(*args, timeout=timeout)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `teardown` run last, whatever directory they sit in."""
    items.sort(key=lambda item: item.get_closest_marker("teardown") is not None)


def labctl(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(LABCTL), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    import json

    lab_dir = Path(os.environ.get("NDU_LAB_DIR", "/var/lib/ndu-lab"))
    wanted = os.environ.get("NDU_LAB_NETWORK_WANTED", "ovn")
    status = labctl("status", timeout=300)
    running = json.loads((lab_dir / "lab.json").read_text()).get("network") if (lab_dir / "lab.json").exists() else None
    if status.returncode == 0 and running != wanted:
        down = labctl("down", timeout=600)
        if down.returncode != 0:
            pytest.fail(f"labctl down (to switch the lab from {running} to {wanted}) failed:\n{down.stdout[-2000:]}\n{down.stderr[-2000:]}")
    if status.returncode != 0 or running != wanted:
        computes = os.environ.get("NDU_LAB_COMPUTES", "3")
        up = labctl("up", "--computes", computes, "--network", wanted)
        if up.returncode != 0:
            pytest.fail(f"labctl up --network {wanted} failed (rc {up.returncode}):\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}")

    lab_json = json.loads((lab_dir / "lab.json").read_text())
    count = int(lab_json["computes"]) if lab_json.get("with_hosts", True) else 0
    yield Lab(
        lab_dir=lab_dir,
        clouds_yaml=lab_dir / "clouds.yaml",
        inventory=lab_dir / "inventory.yml",
        lab_env=lab_dir / "lab.env",
        computes=tuple(f"compute{n}" for n in range(1, count + 1)),
    )
