# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

import pytest

from ansible_collections.ndu.dataplane.plugins.module_utils.capacity import HostCapacity, assess, capacity_of, format_table

INV = {"VCPU": {"total": 8, "reserved": 0, "allocation_ratio": 4.0}, "MEMORY_MB": {"total": 16384, "reserved": 512, "allocation_ratio": 1.0}}


def host(name, used_cpu, used_mem, enabled=True, up=True):
    return HostCapacity(name, enabled, up, INV, {"VCPU": used_cpu, "MEMORY_MB": used_mem})


def test_capacity_applies_reserved_and_ratio():
    assert capacity_of(INV["VCPU"]) == 32
    assert capacity_of(INV["MEMORY_MB"]) == 15872
    assert capacity_of({"total": 10, "reserved": 2, "allocation_ratio": 1.5}) == 12


def test_batch_fits_on_remaining_hosts():
    result = assess([host("c1", 4, 8192), host("c2", 2, 4096), host("c3", 0, 0)], ["c1"], ["VCPU", "MEMORY_MB"])
    assert result.fits
    assert result.receivers == ["c2", "c3"]
    cpu, mem = result.rows
    assert (cpu.demand, cpu.free, cpu.headroom, cpu.largest_free) == (4, 62, 58, 32)
    assert (mem.demand, mem.free, mem.headroom) == (8192, 15872 + 11776, 15872 + 11776 - 8192)


def test_disabled_down_and_batch_hosts_do_not_receive():
    hosts = [host("c1", 4, 12000), host("c2", 0, 0, enabled=False), host("c3", 0, 0, up=False), host("c4", 0, 12000)]
    result = assess(hosts, ["c1"], ["VCPU", "MEMORY_MB"])
    assert result.receivers == ["c4"]
    mem = result.rows[1]
    assert mem.free == 3872 and mem.headroom == 3872 - 12000 and not mem.fits
    assert not result.fits


def test_whole_batch_leaves_nobody_to_receive():
    result = assess([host("c1", 1, 10), host("c2", 1, 10)], ["c1", "c2"], ["VCPU"])
    assert result.receivers == [] and not result.fits and result.rows[0].headroom == -2


def test_margin_keeps_a_share_in_reserve():
    base = assess([host("c1", 0, 0), host("c2", 0, 0)], ["c1"], ["VCPU"])
    kept = assess([host("c1", 0, 0), host("c2", 0, 0)], ["c1"], ["VCPU"], margin_percent=25)
    assert base.rows[0].free == 32 and kept.rows[0].free == 24


@pytest.mark.parametrize("margin", [-1, 100])
def test_bad_margin(margin):
    with pytest.raises(ValueError, match="margin_percent"):
        assess([host("c1", 0, 0)], [], margin_percent=margin)


def test_unknown_batch_host_is_named():
    with pytest.raises(ValueError, match="unknown compute host.*nope"):
        assess([host("c1", 0, 0)], ["nope"])


def test_table_marks_the_short_resource():
    result = assess([host("c1", 40, 0), host("c2", 0, 0)], ["c1"], ["VCPU", "MEMORY_MB"])
    table = format_table(result.rows)
    lines = table.splitlines()
    assert lines[0].split() == ["resource", "batch", "uses", "free", "elsewhere", "headroom", "fits"]
    assert lines[1].split() == ["VCPU", "40", "32", "-8", "NO"]
    assert lines[2].split()[-1] == "yes"
