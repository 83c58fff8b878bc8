# SPDX-License-Identifier: Apache-2.0
"""Pure logic for planning an Open vSwitch package upgrade.

Parses what ``apt-cache policy``, ``dnf list --showduplicates`` and ``rpm -q``
print, decides which packages change to which version, and reads who holds a
lock from ``/proc/locks``. No commands run here; unit tests call it directly.
"""
from __future__ import annotations

import re
from typing import Any

LATEST = "latest"

_APT_VERSION_ROW = re.compile(r"^ (?:\*\*\*|   ) (\S+) (-?\d+)$")
_DNF_ROW = re.compile(r"^(\S+)\.(\w+)\s+(\S+)\s+\S+")


class PlanError(Exception):
    """A plan cannot be made; the message is a sentence for the operator."""


def parse_apt_policy(text: str) -> dict[str, dict[str, Any]]:
    """Parse ``apt-cache policy PKG...`` into ``{pkg: {installed, candidate, versions}}``.

    ``installed`` and ``candidate`` are None when apt prints ``(none)``;
    ``versions`` lists every version in the version table, in apt's order.
    """
    packages: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = packages.setdefault(line[:-1], {"installed": None, "candidate": None, "versions": []})
            continue
        if current is None:
            continue
        stripped = line.strip()
        for key in ("installed", "candidate"):
            prefix = f"{key.capitalize()}: "
            if stripped.startswith(prefix):
                value = stripped[len(prefix):].strip()
                current[key] = None if value == "(none)" else value
        row = _APT_VERSION_ROW.match(line)
        if row and row.group(1) not in current["versions"]:
            current["versions"].append(row.group(1))
    return packages


def parse_rpm_installed(text: str) -> dict[str, str]:
    """Parse ``rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' PKG...`` (lines of uninstalled packages are skipped)."""
    installed = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and "is not installed" not in line:
            installed[parts[0]] = parts[1]
    return installed


def parse_dnf_available(text: str) -> dict[str, list[str]]:
    """Parse ``dnf list --showduplicates --available PKG...`` into ``{pkg: [version-release, ...]}`` (dnf's order: oldest first)."""
    available: dict[str, list[str]] = {}
    for line in text.splitlines():
        row = _DNF_ROW.match(line)
        if not row or line.startswith(("Available", "Installed", "Last metadata")):
            continue
        version = row.group(3).split(":", 1)[-1]
        versions = available.setdefault(row.group(1), [])
        if version not in versions:
            versions.append(version)
    return available


def plan(packages: list[str], target_version: str, state: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Decide which packages change.

    ``state`` maps each package to ``{installed, candidate, versions}``.
    ``target_version`` is ``latest`` (apt's or dnf's candidate) or one exact
    version for every package. Raises PlanError with an operator sentence
    when a package is not installed or the version does not exist.
    """
    target: dict[str, str] = {}
    for name in packages:
        info = state.get(name) or {}
        if not info.get("installed"):
            raise PlanError(f"Failed to plan the upgrade of package '{name}': it is not installed on this host")
        if target_version == LATEST:
            if not info.get("candidate"):
                raise PlanError(f"Failed to plan the upgrade of package '{name}': the package manager has no candidate version for it")
            target[name] = info["candidate"]
        elif target_version in info.get("versions", []):
            target[name] = target_version
        else:
            known = ", ".join(info.get("versions", [])) or "none"
            raise PlanError(f"Failed to find version '{target_version}' of package '{name}': the repositories offer {known}")
    changes = {name: {"from": state[name]["installed"], "to": target[name]} for name in packages if state[name]["installed"] != target[name]}
    return {
        "installed": {name: state[name]["installed"] for name in packages},
        "target": target,
        "changes": changes,
        "upgrade_needed": bool(changes),
    }


def lock_holders(proc_locks: str, inode: int) -> list[int]:
    """PIDs holding a POSIX or flock lock on ``inode``, read from the text of ``/proc/locks``."""
    pids = []
    for line in proc_locks.splitlines():
        fields = line.split()
        if "->" in fields:  # a waiter, not a holder
            continue
        if len(fields) >= 6 and fields[1] in ("POSIX", "FLOCK", "OFDLCK"):
            try:
                pid, ident = int(fields[4]), fields[5]
            except ValueError:
                continue
            if ident.rsplit(":", 1)[-1] == str(inode) and pid > 0 and pid not in pids:
                pids.append(pid)
    return pids
