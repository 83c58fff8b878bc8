# SPDX-License-Identifier: Apache-2.0
"""The lint rule ndu-private-vars (tests/lint/rules) and the tree it guards."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lint" / "rules"))

import ndu_private_vars as rule  # noqa: E402

ROLES = rule.role_names()


def test_a_playbook_reading_a_roles_private_variable_is_named():
    text = "- debug:\n    msg: \"{{ __ovs_reload_mode }} {{ ovs_reload_result.mode }} {{ __ndu_plan }}\"\n"
    assert rule.private_reads(text, REPO / "playbooks" / "x.yml", ROLES) == [(2, "ovs_reload", "__ovs_reload_mode")]


def test_a_role_reads_its_own_private_variables():
    assert rule.private_reads("{{ __ovs_reload_mode }}", REPO / "roles" / "ovs_reload" / "tasks" / "x.yml", ROLES) == []
    assert rule.private_reads("{{ __drain_service }}", REPO / "roles" / "undrain" / "tasks" / "x.yml", ROLES)


def test_no_yaml_outside_a_role_reads_its_private_variables():
    # What `make lint` enforces through ansible-lint, also checked here over every YAML file of the tree.
    bad = []
    for path in sorted(REPO.rglob("*.y*ml")):
        if any(part in (".venv", "build", ".ansible", ".git") for part in path.relative_to(REPO).parts):
            continue
        bad += [f"{path.relative_to(REPO)}:{n}: {name}" for n, _role, name in rule.private_reads(path.read_text(), path, ROLES)]
    assert not bad, bad
