# SPDX-License-Identifier: Apache-2.0
"""ansible-lint rule ndu-private-vars: nothing outside a role reads that role's private (``__<role>_*``) variables.

A role's interface is its arguments and its one published result, ``<role>_result``; its ``__<role>_*`` variables
(vars/main.yml, registered results) may change with any release. The rule checks every file ansible-lint reads
(playbooks, tasks, vars, molecule) against the roles of this collection. Loaded through ``rulesdir`` in .ansible-lint.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ansiblelint.rules import AnsibleLintRule

if TYPE_CHECKING:
    from ansiblelint.errors import MatchError
    from ansiblelint.file_utils import Lintable

ROLES = Path(__file__).resolve().parents[3] / "roles"


def role_names() -> list[str]:
    return sorted(p.name for p in ROLES.iterdir() if (p / "tasks").is_dir()) if ROLES.is_dir() else []


def private_reads(text: str, path: Path, roles: list[str]) -> list[tuple[int, str, str]]:
    """(line number, role, variable) for each ``__<role>_*`` name in ``text`` of a file outside ``roles/<role>/``."""
    found = []
    if not roles:
        return found
    pattern = re.compile(r"(?<![\w])__(" + "|".join(map(re.escape, roles)) + r")_\w+")
    resolved = path.resolve()
    for number, line in enumerate(text.splitlines(), start=1):
        for match in pattern.finditer(line):
            role = match.group(1)
            if (ROLES / role) not in resolved.parents:
                found.append((number, role, match.group(0)))
    return found


class PrivateVarsRule(AnsibleLintRule):
    """A file outside a role reads that role's private variables."""

    id = "ndu-private-vars"
    description = "Read a role's <role>_result (or pass its arguments), never its __<role>_* variables."
    severity = "HIGH"
    tags = ["ndu", "idiom"]
    version_changed = "0.1.0"

    def matchlines(self, file: Lintable) -> list[MatchError]:
        if Path(str(file.path)).suffix not in (".yml", ".yaml", ".j2"):
            return []  # Python (a role's own unit tests) and text are not Ansible's to read
        return [
            self.create_matcherror(message=f"{name} is private to the role {role}; read {role}_result instead",
                                   lineno=number, details=name, filename=file)
            for number, role, name in private_reads(file.content, Path(str(file.path)), role_names())
        ]
