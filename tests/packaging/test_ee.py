# SPDX-License-Identifier: Apache-2.0
"""Execution environments: the collection's dependency metadata as ansible-builder reads it from an installed
artifact, the project's own EE definition, and the user's EE that docs/awx.md shows."""
from __future__ import annotations

import re
import shutil
import tarfile

import pytest
import yaml
from packaging.requirements import Requirement

from pkgtools import REPO, VERSION, clean_env, run

META = REPO / "meta"


def test_metadata_is_the_form_ansible_builder_documents():
    meta = yaml.safe_load((META / "execution-environment.yml").read_text())
    assert meta == {"version": 1, "dependencies": {"python": "meta/ee-requirements.txt", "system": "meta/ee-bindep.txt"}}
    for rel in meta["dependencies"].values():
        assert (REPO / rel).is_file(), rel


def _requirements() -> list[Requirement]:
    lines = [re.sub(r"\s+#.*$", "", x).strip() for x in (META / "ee-requirements.txt").read_text().splitlines()]
    return [Requirement(x) for x in lines if x and not x.startswith("#")]


def test_python_requirements_have_lower_bounds_only():
    reqs = _requirements()
    assert [r.name for r in reqs] == ["openstacksdk"]
    for req in reqs:
        ops = {spec.operator for spec in req.specifier}
        assert ops and ops <= {">=", ">"}, f"{req}: an upper bound or pin would fight other collections' requirements"


def test_sdk_minimum_is_the_one_the_code_checks():
    source = (REPO / "plugins" / "module_utils" / "ndu_openstack.py").read_text()
    found = re.search(r"^MIN_SDK_VERSION\s*=\s*\((\d+),\s*(\d+),\s*(\d+)\)", source, re.M)
    if not found:
        pytest.skip("plugins/module_utils/ndu_openstack.py states no MIN_SDK_VERSION yet")
    sdk = next(r for r in _requirements() if r.name == "openstacksdk")
    assert {s.operator + s.version for s in sdk.specifier} == {">=" + ".".join(found.groups())}


def test_introspect_of_the_installed_artifact(installed):
    proc = run(["ansible-builder", "introspect", "--sanitize", str(installed)], cwd=installed)
    assert proc.returncode == 0, proc.output
    data = yaml.safe_load(proc.stdout.split("---", 1)[1])
    assert data["python"] == ["openstacksdk>=4.16.0  # from collection ndu.dataplane"], proc.output
    assert "gcc [platform:rpm compile]  # from collection ndu.dataplane" in data["system"], proc.output


def test_the_artifact_carries_no_ee_definition(artifact):
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
    assert "meta/execution-environment.yml" in names
    assert not [n for n in names if n == "ee" or n.startswith("ee/")], "ee/ is the project's own EE, not the collection's"


def test_own_ee_names_no_version():
    text = (REPO / "ee" / "execution-environment.yml").read_text()
    assert VERSION not in text and "ndu-dataplane-0" not in text


def test_own_ee_create_then_its_galaxy_and_builder_stages(tmp_path, artifact):
    """`make ee`'s two steps, then what the image build would run in the galaxy and builder stages (no registry):
    ansible-galaxy installs the collection from the context, and the context's own introspect.py finds openstacksdk."""
    (tmp_path / "ee").mkdir()
    shutil.copy(REPO / "ee" / "execution-environment.yml", tmp_path / "ee")
    (tmp_path / "build" / "ee").mkdir(parents=True)
    shutil.copy(artifact, tmp_path / "build" / "ee" / "ndu-dataplane.tar.gz")
    context = tmp_path / "context"
    proc = run(["ansible-builder", "create", "-f", "ee/execution-environment.yml", "-c", str(context)], cwd=tmp_path)
    assert proc.returncode == 0, proc.output
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile
    assert "introspect.py introspect" in containerfile
    build = context / "_build"
    assert (build / "collections" / "ndu-dataplane.tar.gz").is_file()

    collections = tmp_path / "usr-share-ansible-collections"
    # As in the image: only the collections path the stage installs into (not this machine's ~/.ansible/collections).
    proc = run(["ansible-galaxy", "collection", "install", "--offline", "-r", "requirements.yml", "--collections-path",
                str(collections)], cwd=build, env=clean_env(HOME=str(tmp_path), ANSIBLE_COLLECTIONS_PATH=str(collections)))
    assert proc.returncode == 0, proc.output
    assert (collections / "ansible_collections" / "ndu" / "dataplane" / "meta" / "execution-environment.yml").is_file()
    proc = run(["python", "scripts/introspect.py", "introspect", str(collections),
                f"--write-pip={tmp_path}/requirements.txt", f"--write-bindep={tmp_path}/bindep.txt"], cwd=build)
    assert proc.returncode == 0, proc.output
    assert "openstacksdk>=4.16.0" in (tmp_path / "requirements.txt").read_text()
    assert "gcc [platform:rpm compile]" in (tmp_path / "bindep.txt").read_text()


def _awx_doc_ee() -> str:
    text = (REPO / "docs" / "awx.md").read_text()
    found = re.search(r"```yaml\n(# execution-environment\.yml of your EE\n.*?)```", text, re.S)
    assert found, "docs/awx.md has no block starting '# execution-environment.yml of your EE'"
    return found.group(1)


def test_the_users_ee_in_docs_awx_creates(tmp_path):
    (tmp_path / "execution-environment.yml").write_text(_awx_doc_ee())
    proc = run(["ansible-builder", "create", "-f", "execution-environment.yml", "-c", "context"], cwd=tmp_path)
    assert proc.returncode == 0, proc.output
    requirements = yaml.safe_load((tmp_path / "context" / "_build" / "requirements.yml").read_text())
    assert "ndu.dataplane" in [c["name"] for c in requirements["collections"]]
    assert "introspect.py introspect" in (tmp_path / "context" / "Containerfile").read_text()
