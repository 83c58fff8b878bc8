# SPDX-License-Identifier: Apache-2.0
"""The preflight role's defaults work standalone (without ndu_nova_host) and its capacity check runs per host."""
from __future__ import annotations

from pathlib import Path

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = Path(__file__).resolve().parents[3] / "roles" / "preflight"


def batch_hosts(hostvars: dict) -> list:
    expr = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["preflight_batch_hosts"]
    templar = Templar(loader=DataLoader(), variables={"ansible_play_batch": list(hostvars), "hostvars": hostvars})
    return list(templar.template(trust_as_template(expr)))


def test_batch_hosts_fall_back_to_the_inventory_name():
    # Without ndu_nova_host the default dropped every host, and capacity_check failed with "give at least one compute host".
    assert batch_hosts({"c1": {}, "c2": {"ndu_nova_host": "nova-c2"}, "c3": {"ndu_nova_host": ""}}) == ["c1", "nova-c2", "c3"]


def test_capacity_check_is_not_decided_by_the_first_host_of_the_batch():
    # With run_once, the first host's per-host `when` (preflight_check_capacity) decided for the whole batch: a batch whose
    # first host was in_place skipped the check for its evacuate hosts.
    tasks = yaml.safe_load((ROLE / "tasks" / "capacity.yml").read_text())
    assert all(not task.get("run_once") for task in tasks)
