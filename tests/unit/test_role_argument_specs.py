# SPDX-License-Identifier: Apache-2.0
"""Every role's meta/argument_specs.yml and defaults/main.yml must agree.

The argument spec is the role's public interface and the source of its
generated docs; defaults/main.yml is what Ansible really uses. A variable in
one and not the other, or a default that differs, is a bug either way.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"
ROLE_DIRS = sorted(p for p in ROLES.iterdir() if (p / "tasks").is_dir()) if ROLES.is_dir() else []


def _load(path: Path) -> dict:
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def spec_options(role: Path) -> dict:
    """Options of the role's ``main`` entry point."""
    spec = _load(role / "meta" / "argument_specs.yml")
    return spec.get("argument_specs", {}).get("main", {}).get("options", {}) or {}


def test_there_are_roles_to_check():
    assert ROLE_DIRS, "no roles found under roles/: this test would check nothing"


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_role_has_argument_spec(role: Path):
    assert (role / "meta" / "argument_specs.yml").is_file(), f"{role.name}: meta/argument_specs.yml missing"


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_defaults_and_argument_spec_list_the_same_variables(role: Path):
    defaults = _load(role / "defaults" / "main.yml")
    options = spec_options(role)
    only_defaults = sorted(set(defaults) - set(options))
    only_spec = sorted(set(options) - set(defaults))
    assert not only_defaults, f"{role.name}: in defaults/main.yml but not in argument_specs: {only_defaults}"
    assert not only_spec, f"{role.name}: in argument_specs but not in defaults/main.yml: {only_spec}"


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_public_variables_are_prefixed_with_the_role_name(role: Path):
    bad = sorted(name for name in spec_options(role) if not name.startswith(f"{role.name}_"))
    assert not bad, f"{role.name}: public variables must start with '{role.name}_': {bad}"


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_spec_defaults_match_defaults_file(role: Path):
    defaults = _load(role / "defaults" / "main.yml")
    mismatched = []
    for name, option in spec_options(role).items():
        if name not in defaults:
            continue
        if "default" not in option:
            mismatched.append(f"{name}: argument_specs has no 'default' (defaults/main.yml: {defaults[name]!r})")
        elif option["default"] != defaults[name]:
            mismatched.append(f"{name}: argument_specs {option['default']!r} != defaults/main.yml {defaults[name]!r}")
    assert not mismatched, f"{role.name}: " + "; ".join(mismatched)


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_every_option_is_typed_and_described(role: Path):
    bad = [n for n, o in spec_options(role).items() if not o.get("type") or not o.get("description")]
    assert not bad, f"{role.name}: options without type or description: {bad}"
