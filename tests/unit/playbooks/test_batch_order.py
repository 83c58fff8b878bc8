# SPDX-License-Identifier: Apache-2.0
"""The batches the roll plays are the plan's, and the canary is the host the plan names (issue 15).

The tasks are taken from playbooks/rolling_upgrade.yml itself (the one that puts the hosts in the roll group and the
batch play's first two), and run by ansible-playbook on local hosts with a plan whose order is not the inventory's:
group_by added the hosts in the order their results arrived (inventory order here), so the play rolled compute1
first although the plan named compute3 the canary.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def task(play: dict, name: str) -> dict:
    found = [t for t in play["tasks"] if t.get("name") == name]
    assert len(found) == 1, f"no task '{name}' in play '{play['name']}'"
    return found[0]


@pytest.mark.skipif(not PLAYBOOK.exists(), reason="needs ansible-playbook")
def test_hosts_join_the_roll_in_plan_order_and_each_batch_is_the_planned_one(tmp_path: Path):
    plays = {p["name"]: p for p in yaml.safe_load((REPO / "playbooks" / "rolling_upgrade.yml").read_text())}
    plan_play, roll_play = plays["Read every host and plan the roll"], plays["Roll the hosts batch by batch"]
    batches = [["compute3"], ["compute1", "compute2"]]
    plan = {"batches": batches, "totals": {"to_roll": 3},
            "hosts": {h: {"batch": b + 1} for b, names in enumerate(batches) for h in names}}
    seen = tmp_path / "seen.txt"
    lineinfile = {"path": str(seen), "line": "{{ ansible_play_batch | to_json }}", "create": True, "mode": "0600", "insertafter": "EOF"}
    record = {"name": "Record the batch", "ansible.builtin.lineinfile": lineinfile, "delegate_to": "localhost", "run_once": True}
    playbook = [
        {"name": "Plan", "hosts": "computes", "gather_facts": False, "tasks": [
            {"name": "Keep the plan", "ansible.builtin.set_fact": {"ndu_plan": plan}, "delegate_to": "localhost",
             "delegate_facts": True, "run_once": True},
            task(plan_play, "Put the hosts that need work in the roll, in the plan's order")]},
        {"name": "Roll", "hosts": roll_play["hosts"], "gather_facts": False, "serial": [1, 2],
         "vars": {k: roll_play["vars"][k] for k in ("__ndu_plan", "__ndu_me")},
         "tasks": [task(roll_play, "Say which batch starts"), task(roll_play, "Check that the batch is the planned one"), record]},
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
    local = f"ansible_connection=local ansible_python_interpreter={sys.executable}"
    (tmp_path / "inventory.ini").write_text(f"localhost {local}\n[computes]\n" + "".join(f"compute{i} {local}\n" for i in (1, 2, 3)))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([str(PLAYBOOK), "-i", str(tmp_path / "inventory.ini"), str(tmp_path / "play.yml")], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert [json.loads(line) for line in seen.read_text().splitlines()] == batches, out[-4000:]
    assert "Batch 1/2: compute3 (0 of 3 host(s) done before it)" in " ".join(out.split())
