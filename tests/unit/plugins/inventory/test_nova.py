# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

import pytest
from ansible.inventory.data import InventoryData

from ansible_collections.ndu.dataplane.plugins.inventory.nova import InventoryModule, group_name, host_records, inventory_name


@pytest.fixture
def records(cloud):
    cloud.add_host("compute4.example.org", zone="az-2")
    cloud.service_map["compute2"].update(status="disabled", disabled_reason="[ndu.dataplane] upgrade")
    cloud.service_map["compute3"].update(status="disabled", disabled_reason="broken disk", state="down")
    cloud.add_server("vm1", "compute1")
    cloud.add_server("vm2", "compute1")
    cloud.aggregate_hosts = {"rack-A": ["compute1", "compute2"], "gpu": ["compute1"]}
    counts = {svc["host"]: len(cloud.servers(host=svc["host"])) for svc in cloud.services()}
    return host_records(cloud.services(), cloud.aggregates(), counts)


def test_group_and_host_names():
    assert group_name("nova_", "aggregate_rack-A.1") == "nova_aggregate_rack_a_1"
    assert inventory_name("c1.example.org", {}, True) == "c1"
    assert inventory_name("c1.example.org", {"c1.example.org": "lab1"}, True) == "lab1"
    assert inventory_name("c1.example.org", {}, False) == "c1.example.org"


def test_host_records(records):
    by_host = {r["ndu_nova_host"]: r for r in records}
    assert by_host["compute1"]["nova_instance_count"] == 2 and by_host["compute1"]["nova_aggregates"] == ["gpu", "rack-A"]
    assert by_host["compute2"]["nova_disabled_by_ndu"] is True
    assert by_host["compute3"]["nova_disabled_reason"] == "broken disk" and not by_host["compute3"]["nova_disabled_by_ndu"]
    assert by_host["compute1"]["nova_disabled_reason"] is None


def test_populate_groups_and_hostvars(records):
    plugin = InventoryModule()
    plugin.inventory = InventoryData()
    plugin._options = {"group_prefix": "nova_", "host_map": {"compute1": "lab-compute1"}, "strip_domain": True, "strict": False,
                       "compose": {}, "groups": {}, "keyed_groups": [], "use_extra_vars": False, "leading_separator": True}
    plugin.populate(records)
    groups = {name: sorted(h.name for h in g.get_hosts()) for name, g in plugin.inventory.groups.items()}
    assert groups["nova_computes"] == ["compute2", "compute3", "compute4", "lab-compute1"]
    assert groups["nova_enabled"] == ["compute4", "lab-compute1"] and groups["nova_disabled"] == ["compute2", "compute3"]
    assert groups["nova_down"] == ["compute3"] and groups["nova_az_az_2"] == ["compute4"]
    assert groups["nova_aggregate_rack_a"] == ["compute2", "lab-compute1"] and groups["nova_aggregate_gpu"] == ["lab-compute1"]
    hostvars = plugin.inventory.get_host("lab-compute1").vars
    assert hostvars["ndu_nova_host"] == "compute1" and hostvars["nova_instance_count"] == 2


def test_verify_file_wants_nova_yml(tmp_path):
    good, bad = tmp_path / "lab.nova.yml", tmp_path / "hosts.yml"
    good.write_text("plugin: ndu.dataplane.nova\n")
    bad.write_text("plugin: ndu.dataplane.nova\n")
    plugin = InventoryModule()
    assert plugin.verify_file(str(good)) and not plugin.verify_file(str(bad))
