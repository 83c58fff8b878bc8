# SPDX-License-Identifier: Apache-2.0
"""Bad input gives a clear error and changes nothing in the lab cloud."""
from __future__ import annotations

import json
from typing import Any

import yaml
from cloudhelpers import run_playbook, service


def test_bad_input_fails_clearly_and_changes_nothing(lab: Any, conn: Any) -> None:
    host = lab.computes[0]
    before = service(conn, host)
    migrations_before = conn.compute.get("/os-migrations", microversion="2.80").json()["migrations"]
    auth = dict(yaml.safe_load(lab.clouds_yaml.read_text())["clouds"]["ndu-lab"]["auth"], password="wrong-password-x1")
    run = run_playbook(lab, "bad_input.yml", good_host=host, bad_auth=auth)
    assert run.rc == 0, run.stderr  # every task ignores its error; each result is checked here

    def failed(task: str) -> str:
        result = run.result(task, "localhost")
        assert result.get("failed") is True, f"{task}: did not fail: {result}"
        assert not result.get("changed"), f"{task}: reported a change"
        return result["msg"]

    assert "Failed to find nova-compute on host 'no-such-compute': Nova knows no such host" in failed("Unknown host")
    assert host in failed("Unknown host")
    assert failed("Unknown cloud").startswith("Failed to connect to cloud 'no-such-cloud': ")
    assert "no-such-cloud was not found" in failed("Unknown cloud")
    creds = failed("Bad credentials")
    assert "rejected by Keystone (HTTP 401)" in creds
    assert "wrong-password-x1" not in json.dumps(run.output)
    assert failed("Concurrency zero") == "Failed to validate options: concurrency must be at least 1, got 0"
    assert failed("Negative timeout") == "Failed to validate options: timeout must be a positive number of seconds, got -5"
    policy = failed("Unknown policy")
    assert "unmovable_policy" in policy and "delete_them" in policy
    assert "Nova knows no compute host no-such-compute" in failed("Capacity of a host Nova does not know")

    after = service(conn, host)
    assert (after["status"], after["disabled_reason"]) == (before["status"], before["disabled_reason"])
    assert conn.compute.get("/os-migrations", microversion="2.80").json()["migrations"] == migrations_before
