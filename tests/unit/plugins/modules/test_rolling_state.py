# SPDX-License-Identifier: Apache-2.0
"""ndu.dataplane.rolling_state and its schema (plugins/module_utils/rolling_state.py)."""
from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from ovs_module_harness import run_module

from ansible_collections.ndu.dataplane.plugins.module_utils import rolling_state as logic
from ansible_collections.ndu.dataplane.plugins.modules import rolling_state

OLD, NEW = {"ovs": "1"}, {"ovs": "2"}


def call(directory: Path, check: bool = False, **args: Any):
    return run_module(rolling_state.main, {"directory": str(directory), "_ansible_check_mode": check, **args},
                      lambda argv: (0, "", ""))


def test_read_of_nothing(tmp_path: Path):
    out = call(tmp_path)
    assert not out.failed and out.result == {"changed": False, "state": None, "last": None, "_calls": []}


def test_begin_writes_a_versioned_private_record_once_per_target(tmp_path: Path):
    out = call(tmp_path / "d", operation="begin", target_version="2", versions_before=OLD, strategy="in_place")
    assert out.result["changed"] and out.result["state"]["schema"] == "ndu.dataplane/rolling-state/v1"
    path = tmp_path / "d" / "rolling-state.json"
    assert json.loads(path.read_text())["versions_before"] == OLD
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = call(tmp_path / "d", operation="begin", target_version="2", versions_before=NEW)
    assert not again.result["changed"] and again.result["state"]["versions_before"] == OLD  # a resume keeps them
    other = call(tmp_path / "d", operation="begin", target_version="3", versions_before=NEW)
    assert other.result["changed"] and other.result["state"]["target_version"] == "3"


def test_finish_keeps_what_changed_and_removes_the_record(tmp_path: Path):
    call(tmp_path, operation="begin", target_version="2", versions_before=OLD)
    out = call(tmp_path, operation="finish", versions_after=NEW)
    assert out.result["changed"] and out.result["state"] is None
    assert out.result["last"]["versions_before"] == OLD and out.result["last"]["target_version"] == "2"
    assert not (tmp_path / "rolling-state.json").exists() and (tmp_path / "rolling-last.json").exists()
    assert not call(tmp_path, operation="finish", versions_after=NEW, versions_before=OLD).result["changed"]


def test_finish_without_a_change_writes_no_last_record(tmp_path: Path):
    call(tmp_path, operation="begin", target_version="2", versions_before=OLD)
    out = call(tmp_path, operation="finish", versions_after=OLD)
    assert out.result["last"] is None and not (tmp_path / "rolling-last.json").exists()


def test_clear_and_check_mode(tmp_path: Path):
    call(tmp_path, operation="begin", target_version="2", versions_before=OLD)
    dry = call(tmp_path, check=True, operation="clear")
    assert dry.result["changed"] and (tmp_path / "rolling-state.json").exists()
    assert call(tmp_path, operation="clear").result["changed"] and not (tmp_path / "rolling-state.json").exists()
    assert not call(tmp_path, operation="clear").result["changed"]
    dry_begin = call(tmp_path, check=True, operation="begin", target_version="2", versions_before=OLD)
    assert dry_begin.result["changed"] and not (tmp_path / "rolling-state.json").exists()


def test_a_record_without_schema_reads_as_version_1(tmp_path: Path):
    (tmp_path / "rolling-last.json").write_text(json.dumps({"versions_before": OLD, "versions_after": NEW, "target_version": "2"}))
    assert call(tmp_path).result["last"]["schema"] == "ndu.dataplane/rolling-last/v1"


@pytest.mark.parametrize("content,needle", [
    ("{nope", "it is not JSON"),
    ("[]", "expected a JSON object"),
    (json.dumps({"schema": "ndu.dataplane/rolling-state/v9", "target_version": "2", "versions_before": OLD}), "schema 'ndu.dataplane/rolling-state/v9'"),
    (json.dumps({"target_version": "2"}), "it lacks versions_before"),
])
def test_a_bad_record_fails_naming_the_file(tmp_path: Path, content: str, needle: str):
    (tmp_path / "rolling-state.json").write_text(content)
    out = call(tmp_path)
    assert out.failed and out.result["msg"].startswith(f"Failed to read the roll record '{tmp_path}/rolling-state.json'")
    assert needle in out.result["msg"]


def test_required_arguments(tmp_path: Path):
    assert call(tmp_path, operation="begin", target_version="2").failed
    assert call(tmp_path, operation="finish").failed


def test_finish_plan():
    assert logic.finish_plan(OLD, NEW) and not logic.finish_plan(OLD, OLD) and not logic.finish_plan(OLD, None)
