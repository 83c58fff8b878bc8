# SPDX-License-Identifier: Apache-2.0
"""Helpers of the packaging tests (conftest.py holds their fixtures): the repository, its version, the
environment of a user's shell, and what a fresh clone of the tree holds."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the dev venv's tools (ansible-galaxy, ansible-builder)
VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: the venv's tools on PATH, none of this checkout's Ansible settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MAKE", "MFLAGS"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path | str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout, check=False)
    proc.output = f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}"  # type: ignore[attr-defined]
    return proc


def tree_files() -> list[str]:
    """What a fresh clone holds once the work is committed: tracked files and new files git does not ignore."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p and (REPO / p).exists()]
