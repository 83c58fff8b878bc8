# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the packaging tests: what a user gets (the artifact, installed) and a copy of the tree as a fresh
clone has it. These tests need no lab and no root (one runs `make build` as an unprivileged user)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pkgtools import REPO, VERSION, clean_env, run, tree_files


@pytest.fixture(scope="session")
def fresh_tree(tmp_path_factory) -> Path:
    """A copy of the repository's files as a fresh clone has them (no .venv, no build/, no caches)."""
    dest = tmp_path_factory.mktemp("clone") / "ndu.dataplane"
    for rel in tree_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target, follow_symlinks=False)
    return dest


@pytest.fixture(scope="session")
def artifact(tmp_path_factory, fresh_tree) -> Path:
    """The collection artifact built from the fresh tree, as `make build` builds it."""
    out = tmp_path_factory.mktemp("artifact")
    proc = run(["ansible-galaxy", "collection", "build", "--output-path", str(out), str(fresh_tree)], cwd=out)
    assert proc.returncode == 0, proc.output
    path = out / f"ndu-dataplane-{VERSION}.tar.gz"
    assert path.is_file(), proc.output
    return path


@pytest.fixture(scope="session")
def installed(tmp_path_factory, artifact) -> Path:
    """A collections path holding the installed artifact (ansible_collections/ndu/dataplane), as a user installs it."""
    path = tmp_path_factory.mktemp("collections")
    proc = run(["ansible-galaxy", "collection", "install", "--offline", "--no-deps", "-p", str(path), str(artifact)],
               cwd=path, env=clean_env(ANSIBLE_COLLECTIONS_PATH=str(path)))
    assert proc.returncode == 0, proc.output
    assert (path / "ansible_collections" / "ndu" / "dataplane" / "MANIFEST.json").is_file(), proc.output
    return path
