# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

from ansible_collections.ndu.dataplane.plugins.modules.capacity_check import CapacityCheck


def test_batch_fits_and_reports_rows(run_module, cloud):
    for i in range(4):
        cloud.add_server(f"vm{i}", "compute1")
    result = run_module(CapacityCheck, {"hosts": ["compute1"]})
    assert result["rc"] == 0 and result["fits"] and not result["changed"]
    assert result["receivers"] == ["compute2", "compute3"]
    vcpu = result["resources"][0]
    assert vcpu == {"resource_class": "VCPU", "demand": 4, "free": 64, "headroom": 60, "largest_free": 32, "fits": True}


def test_batch_does_not_fit_fails_with_table(run_module, cloud):
    for i in range(9):
        cloud.add_server(f"vm{i}", "compute1")
    cloud.service_map["compute3"]["status"] = "disabled"
    result = run_module(CapacityCheck, {"hosts": ["compute1"]})
    assert result["failed"] and not result["fits"]
    assert "Failed to fit batch compute1 on the remaining hosts (compute2): short of MEMORY_MB" in result["msg"]
    assert "MEMORY_MB  18432" in result["msg"] and "NO" in result["table"]
    soft = run_module(CapacityCheck, {"hosts": ["compute1"], "fail_on_shortage": False})
    assert soft["rc"] == 0 and not soft["fits"]


def test_unknown_batch_host(run_module, cloud):
    result = run_module(CapacityCheck, {"hosts": ["compute1", "ghost"]})
    assert result["failed"] and "Nova knows no compute host ghost" in result["msg"]


def test_bad_margin_fails_before_connecting(run_module):
    def refuse(self):
        raise AssertionError("must not connect")
    result = run_module(CapacityCheck, {"hosts": ["compute1"], "margin_percent": 100}, connect=refuse)
    assert result["failed"] and "margin_percent" in result["msg"]
