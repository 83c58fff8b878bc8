# SPDX-License-Identifier: Apache-2.0
"""The playbook through ansible-runner (what AWX runs): status, stats and the ndu_report artifact."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import ansible_runner
import jsonschema
from rollhelpers import LAB_VARS, ORIGINAL, REPO, playbook_env

SCHEMA_DOC = REPO / "docs" / "report-schema.md"


def report_schema() -> dict[str, Any]:
    block = re.search(r"```json\n(.*?)```", SCHEMA_DOC.read_text(), re.S)
    assert block, "docs/report-schema.md has no JSON schema block"
    return json.loads(block.group(1))


def test_runner_artifacts_of_a_roll_with_nothing_to_do(lab: Any, clean_lab: Any, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    (tmp_path / "runner").mkdir()  # ansible-runner wants its private data dir to exist (AWX makes it per job)
    env = playbook_env(lab)
    result = ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"), playbook="ndu.dataplane.rolling_upgrade",
        inventory=str(lab.inventory), project_dir=str(REPO),
        extravars={**LAB_VARS, "ndu_target_version": ORIGINAL, "ndu_report_path": str(report)},
        envvars={k: env[k] for k in ("ANSIBLE_CONFIG", "OS_CLIENT_CONFIG_FILE", "OS_CLOUD", "PATH") if k in env}
        | ({"CONTAINERS_CONF": env["CONTAINERS_CONF"]} if "CONTAINERS_CONF" in env else {}),
        quiet=True, timeout=600)
    assert result.status == "successful" and result.rc == 0, result.stdout.read()[-4000:]
    stats = result.stats
    assert set(stats["ok"]) >= {"localhost", *lab.computes}
    assert not stats["failures"] and not stats["dark"]
    assert sum(stats["changed"].get(h, 0) for h in lab.computes) == 0

    artifact = None
    for event in result.events:
        if event.get("event") == "playbook_on_stats":
            artifact = event["event_data"].get("artifact_data", {}).get("ndu_report")
    assert artifact, "the run gave AWX no ndu_report artifact (set_stats)"
    on_disk = json.loads(report.read_text())
    jsonschema.validate(on_disk, report_schema())
    assert artifact["result"] == on_disk["result"] == "nothing_to_do"
    assert set(artifact["hosts"]) == set(lab.computes)
    assert all(h["status"] == "skipped" for h in artifact["hosts"].values())
    assert (tmp_path / "runner" / "artifacts").is_dir()
