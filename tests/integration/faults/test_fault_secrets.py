# SPDX-License-Identifier: Apache-2.0
"""Fault 13: the cloud password never appears in the run's output (at -vvv), its log, its report or the records it
leaves on the host. The lab's own password ("admin") is also a user name, so the roll runs as a user of its own
with a password that cannot occur by chance."""
from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from faulthelpers import assert_invariants, converge
from rollhelpers import LAB1, boot, roll, sh

CANARY = ("compute1",)


@pytest.fixture
def secret_lab(lab: Any, clean_lab: Any, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """The lab seen through a clouds.yaml of a new admin user whose password is random; the user is deleted after."""
    password = "ndu-secret-" + secrets.token_hex(12)
    identity = clean_lab.identity
    project = identity.find_project("admin")
    user = identity.create_user(name=f"ndu-fault-{secrets.token_hex(3)}", password=password,
                                default_project_id=project.id, domain_id="default")
    try:
        identity.assign_project_role_to_user(project, user, identity.find_role("admin"))
        clouds = yaml.safe_load(lab.clouds_yaml.read_text())
        clouds["clouds"]["ndu-lab"]["auth"].update(username=user.name, password=password)
        path = tmp_path / "clouds-secret.yaml"
        path.write_text(yaml.safe_dump(clouds))
        path.chmod(0o600)
        yield dataclasses.replace(lab, clouds_yaml=path), password
    finally:
        identity.delete_user(user)


@pytest.mark.fault(13, "secrets: the cloud password in output, logs, report")
def test_the_cloud_password_appears_nowhere(lab: Any, clean_lab: Any, report: Path, row: Any, tmp_path: Path,
                                            secret_lab: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen_through, password = secret_lab
    ids = boot(clean_lab, CANARY, 1)
    log = tmp_path / "ansible.log"
    monkeypatch.setenv("ANSIBLE_VERBOSITY", "3")
    monkeypatch.setenv("ANSIBLE_LOG_PATH", str(log))
    runs = [roll(seen_through, report, ndu_hosts=CANARY[0], ndu_target_version=LAB1)]
    assert runs[0].rc == 0, runs[0].out[-4000:]
    assert_invariants(row, lab, clean_lab, ids, runs[0].report)
    runs.append(converge(row, seen_through, clean_lab, report, ids, CANARY))
    places = {f"output of run {n}": run.out for n, run in enumerate(runs, 1)}
    places |= {"ansible log": log.read_text(), "report": report.read_text()}
    places |= {f"{CANARY[0]}:/var/lib/ndu-dataplane": sh(CANARY[0], "sh", "-c", "cat /var/lib/ndu-dataplane/* 2>/dev/null",
                                                         check=False).stdout}
    assert len(places["ansible log"]) > 1000 and "TASK [" in places["output of run 1"], "nothing was logged: the check proves nothing"
    leaked = [where for where, text in places.items() if password in text]
    assert not leaked, f"the cloud password appears in: {leaked}"
