# SPDX-License-Identifier: Apache-2.0
"""Fault 12: bad input (unknown host, wrong cloud, bad credentials, serial 0, a strategy typo) stops the roll with a
clear error before anything changes; the corrected run converges."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from faulthelpers import assert_invariants, converge
from rollhelpers import LAB1, boot, roll
from test_rolling_input import snapshot

CANARY = ("compute1",)


def bad_password_lab(lab: Any, tmp_path: Path) -> Any:
    """The same lab seen through a clouds.yaml whose password is wrong."""
    clouds = yaml.safe_load(lab.clouds_yaml.read_text())
    clouds["clouds"]["ndu-lab"]["auth"]["password"] = "not-the-password"
    path = tmp_path / "clouds-bad-password.yaml"
    path.write_text(yaml.safe_dump(clouds))
    return dataclasses.replace(lab, clouds_yaml=path)


@pytest.mark.fault(12, "bad input: unknown host, wrong cloud, bad credentials, serial 0, strategy typo")
def test_bad_input_is_refused_before_anything_changes_then_the_corrected_run_converges(
        lab: Any, clean_lab: Any, report: Path, row: Any, tmp_path: Path) -> None:
    ids = boot(clean_lab, CANARY, 1)
    ghost = tmp_path / "ghost.yml"
    ghost.write_text("all:\n  children:\n    computes:\n      hosts:\n        ghost1:\n          ndu_nova_host: ghost-compute\n")
    cases = [
        ("unknown host", lab, {"ndu_hosts": "compute1:ghost1"}, (ghost,), ["ghost1", "ghost-compute"]),
        ("wrong cloud", lab, {"ndu_cloud": "no-such-cloud"}, (), ["no-such-cloud"]),
        ("bad credentials", bad_password_lab(lab, tmp_path), {}, (), ["401", "uthenticat"]),
        ("serial 0", lab, {"ndu_serial": 0}, (), ["ndu_serial", "at least 1"]),
        ("strategy typo", lab, {"ndu_strategy": "evacuat"}, (), ["ndu_strategy 'evacuat' is unknown"]),
    ]
    before = snapshot(clean_lab, lab.computes)
    refusals = {}
    for name, target, extra, inventories, needles in cases:
        run = roll(target, report, inventories=inventories, **{"ndu_target_version": LAB1, "ndu_hosts": "compute1", **extra})
        refusals[name] = [line for line in run.out.splitlines() if "fatal:" in line or "msg" in line][:3]
        assert run.rc != 0, f"{name}: the roll did not refuse:\n{run.out[-3000:]}"
        assert any(n in run.out for n in needles), f"{name}: the error names none of {needles}:\n{run.out[-3000:]}"
        assert "Read every host and plan the roll" not in run.out, f"{name}: the roll went past the input check"
        assert run.report is None, f"{name}: a refused roll wrote a report"
        assert snapshot(clean_lab, lab.computes) == before, f"{name}: something changed in the cloud or on a host"
    print("refusals:", refusals)
    assert_invariants(row, lab, clean_lab, ids, None)
    converge(row, lab, clean_lab, report, ids, CANARY)
