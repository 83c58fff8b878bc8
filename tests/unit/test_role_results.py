# SPDX-License-Identifier: Apache-2.0
"""Every step role publishes exactly one documented result, ``<role>_result``, also when it fails.

"Also when it fails" is checked by shape: the result is set in an ``always`` section (reached through the role's
entry points and their imports), or it is a ``register`` of a module (Ansible registers failed results too).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"
ROLE_DIRS = sorted(p for p in ROLES.iterdir() if (p / "tasks").is_dir())
# Facts a role may set besides its result: documented, cacheable cross-play records.
EXTRA_FACTS = {"live_migrate": {"live_migrate_origins"}}


def entry_points(role: Path) -> list[str]:
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return list(spec)


def walk(role: Path, file: str, in_always: bool = False, seen: set | None = None) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every task reachable from tasks/<file>, with whether it sits in an always section."""
    seen = seen if seen is not None else set()
    if file in seen:
        return
    seen.add(file)
    for task in yaml.safe_load((role / "tasks" / file).read_text()) or []:
        yield from _task(role, task, in_always, seen)


def _task(role: Path, task: dict[str, Any], in_always: bool, seen: set) -> Iterator[tuple[dict[str, Any], bool]]:
    if "block" in task:
        for key in ("block", "rescue", "always"):
            for sub in task.get(key) or []:
                yield from _task(role, sub, in_always or key == "always", seen)
        return
    yield task, in_always
    for key in ("ansible.builtin.import_tasks", "ansible.builtin.include_tasks"):
        if key in task:
            yield from walk(role, task[key], in_always, seen)


def published(role: Path) -> dict[str, list[bool]]:
    """Fact or register name -> for each place it is set, whether that place is reached also after a failure."""
    names: dict[str, list[bool]] = {}
    for entry in entry_points(role):
        for task, in_always in walk(role, f"{entry}.yml"):
            for name in (task.get("ansible.builtin.set_fact") or {}):
                if name != "cacheable":
                    names.setdefault(name, []).append(in_always)
            if task.get("register"):
                names.setdefault(task["register"], []).append(True)
    return names


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_role_publishes_its_result_also_when_it_fails(role: Path):
    names = published(role)
    result = f"{role.name}_result"
    assert result in names, f"{role.name}: no entry point sets {result}"
    assert any(names[result]), f"{role.name}: {result} is set only on the success path (put it in an always section)"


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_role_publishes_nothing_else(role: Path):
    others = sorted(n for n in published(role) if not n.startswith(f"__{role.name}_") and n != f"{role.name}_result"
                    and n not in EXTRA_FACTS.get(role.name, set()))
    assert not others, f"{role.name}: public names other than {role.name}_result: {others} (prefix private ones __{role.name}_)"


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_result_is_documented_in_every_entry_point(role: Path):
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    for name, entry in spec.items():
        text = " ".join(entry.get("description") or [])
        assert f"C({role.name}_result)" in text, f"{role.name}: entry point {name} does not document {role.name}_result"


def test_flow_snapshot_is_an_entry_point_not_a_phase():
    assert {"snapshot", "compare", "restore"} <= set(entry_points(ROLES / "flow_verify"))
