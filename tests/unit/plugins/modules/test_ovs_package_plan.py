# SPDX-License-Identifier: Apache-2.0
"""The ``ovs_package_plan`` module with canned apt-cache output."""
from __future__ import annotations

import fcntl
import multiprocessing
import time

import pytest
from ovs_module_harness import run_module

from ansible_collections.ndu.dataplane.plugins.modules import ovs_package_plan

POLICY = """\
openvswitch-switch:
  Installed: 3.1.0-2+deb12u1
  Candidate: 3.1.0-2+deb12u1+lab1
  Version table:
     3.1.0-2+deb12u1+lab1 500
        500 file:/srv/ndu-lab-repo ./ Packages
 *** 3.1.0-2+deb12u1 500
        100 /var/lib/dpkg/status
"""


def apt(argv: list[str]) -> tuple[int, str, str]:
    assert argv[:2] == ["/usr/bin/apt-cache", "policy"]
    return 0, POLICY, ""


def test_plan_reports_the_change():
    out = run_module(ovs_package_plan.main, {"packages": ["openvswitch-switch"], "package_manager": "apt"}, apt)
    assert not out.failed
    assert out.result["changed"] is False
    assert out.result["changes"] == {"openvswitch-switch": {"from": "3.1.0-2+deb12u1", "to": "3.1.0-2+deb12u1+lab1"}}


def test_unknown_version_fails_with_a_sentence():
    out = run_module(ovs_package_plan.main, {"packages": ["openvswitch-switch"], "package_manager": "apt", "target_version": "4.0"}, apt)
    assert out.failed
    assert out.result["msg"].startswith("Failed to find version '4.0' of package 'openvswitch-switch'")


def test_apt_cache_failure_is_reported():
    out = run_module(ovs_package_plan.main, {"packages": ["x"], "package_manager": "apt"}, lambda argv: (100, "", "E: boom"))
    assert out.failed and out.result["msg"] == "Failed to read package versions 'x': E: boom"


def _hold(path: str, seconds: float) -> None:
    with open(path, "a", encoding="ascii") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX)
        time.sleep(seconds)


def test_a_held_dpkg_lock_fails_after_the_timeout_naming_the_holder(tmp_path, monkeypatch):
    lock = tmp_path / "lock-frontend"
    lock.touch()
    monkeypatch.setattr(ovs_package_plan, "DPKG_LOCK", str(lock))
    holder = multiprocessing.get_context("fork").Process(target=_hold, args=(str(lock), 10))
    holder.start()
    try:
        time.sleep(0.3)
        started = time.monotonic()
        out = run_module(ovs_package_plan.main, {"packages": ["openvswitch-switch"], "package_manager": "apt", "lock_timeout": 2}, apt)
        waited = time.monotonic() - started
    finally:
        holder.terminate()
        holder.join()
    assert out.failed
    assert 2 <= waited < 5
    assert f"within 2 s: it is held by process {holder.pid}" in out.result["msg"]
    assert "Nothing was changed" in out.result["msg"]


def test_a_free_lock_costs_no_wait(tmp_path, monkeypatch):
    lock = tmp_path / "lock-frontend"
    monkeypatch.setattr(ovs_package_plan, "DPKG_LOCK", str(lock))
    out = run_module(ovs_package_plan.main, {"packages": ["openvswitch-switch"], "package_manager": "apt", "lock_timeout": 5}, apt)
    assert not out.failed and out.result["lock_wait"] == pytest.approx(0.0, abs=0.5)
