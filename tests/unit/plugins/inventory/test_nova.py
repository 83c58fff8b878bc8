# SPDX-License-Identifier: Apache-2.0
"""The nova inventory plugin, parsed the way Ansible parses it, against the fake cloud behind the real openstacksdk."""
from __future__ import annotations

from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader

from ansible_collections.ndu.dataplane.plugins.inventory import nova
from ansible_collections.ndu.dataplane.plugins.inventory.nova import InventoryModule, group_name, host_records, inventory_name


@pytest.fixture(scope="module", autouse=True)
def plugin_options():
    """Register the plugin's options (its DOCUMENTATION plus the constructed and inventory_cache fragments) as the loader does."""
    from ansible import constants as C
    from ansible.plugins.loader import fragment_loader
    from ansible.utils.plugin_docs import add_fragments

    doc = yaml.safe_load(nova.DOCUMENTATION)
    add_fragments(doc, nova.__file__, fragment_loader=fragment_loader)
    C.config.initialize_plugin_configuration_definitions("inventory", InventoryModule.NAME, doc["options"])


@pytest.fixture
def warnings(monkeypatch) -> list[str]:
    found: list[str] = []
    monkeypatch.setattr(nova.display, "warning", found.append)
    return found


@pytest.fixture
def parse(tmp_path, cloud, monkeypatch):
    """Parse an inventory file with ``options``; the plugin connects to ``cloud`` through the real SDK."""
    from sdk_fake import sdk_connection

    conn, http = sdk_connection(cloud)
    monkeypatch.delenv("OS_CLOUD", raising=False)
    monkeypatch.delenv("OS_CLIENT_CONFIG_FILE", raising=False)

    def _parse(options: dict[str, Any], cache: bool = True, connect: bool = True) -> tuple[InventoryData, Any]:
        source = tmp_path / "lab.nova.yml"
        source.write_text(yaml.safe_dump({"plugin": "ndu.dataplane.nova", **options}))
        plugin = InventoryModule()
        plugin._load_name = plugin.ansible_name = InventoryModule.NAME
        if connect:
            monkeypatch.setattr(plugin, "connect", lambda: conn)
        inventory = InventoryData()
        plugin.parse(inventory, DataLoader(), str(source), cache=cache)
        if plugin.get_option("cache"):
            plugin.update_cache_if_changed()  # what InventoryManager does after parse
        return inventory, http

    return _parse


@pytest.fixture
def lab(cloud):
    cloud.add_host("compute4.example.org", zone="az-2")
    cloud.service_map["compute2"].update(status="disabled", disabled_reason="[ndu.dataplane] upgrade")
    cloud.service_map["compute3"].update(status="disabled", disabled_reason="broken disk", state="down")
    cloud.add_server("vm1", "compute1")
    cloud.add_server("vm2", "compute1")
    cloud.aggregate_hosts = {"rack-A": ["compute1", "compute2"], "gpu": ["compute1"]}
    cloud.host_ips = {"compute1": "10.0.0.11", "compute2": "10.0.0.12", "compute3": None, "compute4.example.org": "10.0.0.14"}
    return cloud


def groups_of(inventory: InventoryData) -> dict[str, list[str]]:
    return {name: sorted(h.name for h in g.get_hosts()) for name, g in inventory.groups.items()}


def test_group_and_host_names():
    assert group_name("nova_", "aggregate_rack-A.1") == "nova_aggregate_rack_a_1"
    assert inventory_name("c1.example.org", {}, True) == "c1"
    assert inventory_name("c1.example.org", {"c1.example.org": "lab1"}, True) == "lab1"
    assert inventory_name("c1.example.org", {}, False) == "c1.example.org"


def test_host_records_without_hypervisors_have_no_address_or_count():
    services = [{"host": "c1", "status": "enabled", "state": "up", "zone": "nova", "disabled_reason": None}]
    (record,) = host_records(services, [], None)
    assert record["nova_host_ip"] is None and "nova_instance_count" not in record


def test_default_group_is_the_playbooks_and_hosts_carry_state(parse, lab):
    inventory, http = parse({"cloud": "ndu-lab", "host_map": {"compute1": "lab-compute1"}, "strip_domain": True})
    groups = groups_of(inventory)
    assert groups["computes"] == ["compute2", "compute3", "compute4", "lab-compute1"] and "nova_computes" not in groups
    assert groups["nova_enabled"] == ["compute4", "lab-compute1"] and groups["nova_disabled"] == ["compute2", "compute3"]
    assert groups["nova_down"] == ["compute3"] and groups["nova_az_az_2"] == ["compute4"]
    assert groups["nova_aggregate_rack_a"] == ["compute2", "lab-compute1"] and groups["nova_aggregate_gpu"] == ["lab-compute1"]
    one = inventory.get_host("lab-compute1").vars
    assert one["ndu_nova_host"] == "compute1" and one["nova_instance_count"] == 2 and one["nova_aggregates"] == ["gpu", "rack-A"]
    assert one["nova_host_ip"] == one["ansible_host"] == "10.0.0.11"
    assert inventory.get_host("compute2").vars["nova_disabled_by_ndu"] is True
    three = inventory.get_host("compute3").vars
    assert three["nova_disabled_reason"] == "broken disk" and not three["nova_disabled_by_ndu"]
    assert three["nova_host_ip"] is None and "ansible_host" not in three  # Nova has no address for it
    # one call each, whatever the number of hosts
    assert sorted(r.path for r in http.log.requests if r.path != "/") == ["/os-aggregates", "/os-hypervisors/detail", "/os-services"]


def test_compose_runs_over_host_vars_and_can_replace_ansible_host(parse, lab):
    inventory, _ = parse({"cloud": "ndu-lab", "set_ansible_host": False,
                          "compose": {"ansible_host": "'ssh-' ~ inventory_hostname", "ndu_busy": "nova_instance_count > 0",
                                      "ip_seen": "nova_host_ip"},
                          "groups": {"busy": "ndu_busy"},
                          "keyed_groups": [{"key": "nova_availability_zone", "prefix": "zone"}]})
    one = inventory.get_host("compute1").vars
    assert one["ansible_host"] == "ssh-compute1" and one["ip_seen"] == "10.0.0.11" and one["ndu_busy"] is True
    groups = groups_of(inventory)
    assert groups["busy"] == ["compute1"] and groups["zone_az_2"] == ["compute4.example.org"]
    assert groups["zone_nova"] == ["compute1", "compute2", "compute3"]


def test_group_names_are_options(parse, lab):
    inventory, _ = parse({"cloud": "ndu-lab", "group": "hypervisors", "group_prefix": "lab_", "instance_counts": False})
    groups = groups_of(inventory)
    assert len(groups["hypervisors"]) == 4 and groups["lab_up"] == ["compute1", "compute2", "compute4.example.org"]
    assert "nova_instance_count" not in inventory.get_host("compute1").vars


def test_an_unreadable_cloud_is_a_warning_and_no_hosts(parse, lab, warnings):
    inventory, http = parse({"cloud": "ndu-lab"})  # healthy first
    assert len(groups_of(inventory)["computes"]) == 4
    http.fail_next[("GET", "/os-services")] = (503, "Service Unavailable")
    # the same connection object serves every parse of this test
    inventory, _ = parse({"cloud": "ndu-lab"})
    assert groups_of(inventory).get("computes", []) == []
    assert warnings == ["Failed to list compute hosts from cloud 'ndu-lab': could not read os-services: GET /os-services failed in the cloud "
                        "(HTTP 503): Service Unavailable; this inventory source adds no hosts (set fail_on_errors: true to stop instead)"]


def test_fail_on_errors_stops_parsing(parse, lab):
    inventory, http = parse({"cloud": "ndu-lab"})
    http.fail_next[("GET", "/os-services")] = (503, "Service Unavailable")
    with pytest.raises(AnsibleParserError, match=r"Failed to list compute hosts from cloud 'ndu-lab': could not read os-services: "
                                                 r"GET /os-services failed in the cloud \(HTTP 503\)"):
        parse({"cloud": "ndu-lab", "fail_on_errors": True})


def test_forbidden_hypervisors_still_list_hosts_without_addresses(parse, lab, warnings):
    _, http = parse({"cloud": "ndu-lab"})
    http.fail_next[("GET", "/os-hypervisors/detail")] = (403, "Policy doesn't allow os_compute_api:os-hypervisors:list-detail")
    inventory, _ = parse({"cloud": "ndu-lab"})
    assert len(groups_of(inventory)["computes"]) == 4
    one = inventory.get_host("compute1").vars
    assert one["nova_host_ip"] is None and "ansible_host" not in one and "nova_instance_count" not in one
    assert len(warnings) == 1 and "could not read os-hypervisors (no nova_host_ip, ansible_host or nova_instance_count)" in warnings[0]
    assert "(HTTP 403): Policy doesn't allow" in warnings[0]


def test_cache_keeps_the_last_answer_until_refreshed(parse, lab, tmp_path):
    options = {"cloud": "ndu-lab", "cache": True, "cache_plugin": "jsonfile", "cache_connection": str(tmp_path / "cache")}
    first, http = parse(options)
    calls = len(http.log.requests)
    lab.service_map["compute1"]["status"] = "disabled"
    cached, _ = parse(options)
    assert len(http.log.requests) == calls  # answered from the cache: no request
    assert cached.get_host("compute1").vars["nova_service_status"] == "enabled"
    refreshed, _ = parse(options, cache=False)  # ansible-inventory --flush-cache, meta: refresh_inventory
    assert len(http.log.requests) > calls and refreshed.get_host("compute1").vars["nova_service_status"] == "disabled"
    again, _ = parse(options)
    assert again.get_host("compute1").vars["nova_service_status"] == "disabled"


def test_no_cloud_named_is_a_clear_error(parse, tmp_path, monkeypatch):
    clouds = tmp_path / "my-clouds.yaml"
    clouds.write_text("clouds:\n  alpha: {auth: {auth_url: 'http://127.0.0.1:9/v3'}}\n  beta: {auth: {auth_url: 'http://127.0.0.1:9/v3'}}\n")
    monkeypatch.delenv("OS_AUTH_URL", raising=False)
    with pytest.raises(AnsibleParserError) as info:
        parse({"clouds_yaml_path": [str(clouds)]}, connect=False)
    assert str(info.value).startswith("Failed to choose a cloud for the ndu.dataplane.nova inventory: no cloud is named. "
                                      "Set 'cloud:' in the inventory file or OS_CLOUD to one of: alpha, beta")
    assert str(clouds) in str(info.value)


def test_clouds_yaml_path_is_read_first(parse, tmp_path, warnings):
    clouds = tmp_path / "my-clouds.yaml"
    clouds.write_text("clouds:\n  alpha:\n    auth: {auth_url: 'http://127.0.0.1:9/v3', username: u, password: p, project_name: x}\n"
                      "    api_timeout: 2\n")
    parse({"cloud": "alpha", "clouds_yaml_path": [str(clouds)]}, connect=False)
    (warning,) = warnings
    assert warning.startswith("Failed to list compute hosts from cloud 'alpha': could not connect: cloud 'alpha' could not be reached")
    with pytest.raises(AnsibleParserError, match="Cloud gamma was not found"):
        parse({"cloud": "gamma", "clouds_yaml_path": [str(clouds)], "fail_on_errors": True}, connect=False)


def test_a_cloud_too_old_is_named(parse, lab, warnings, monkeypatch):
    from sdk_fake import sdk_connection

    old, _ = sdk_connection(lab, max_microversion="2.70")
    monkeypatch.setattr(InventoryModule, "connect", lambda self: old)
    inventory, _ = parse({"cloud": "ndu-lab"}, connect=False)
    assert "computes" not in groups_of(inventory) or groups_of(inventory)["computes"] == []
    assert "the Compute API goes up to microversion 2.70; this collection needs 2.80" in warnings[0]


def test_verify_file_wants_nova_yml(tmp_path):
    good, bad = tmp_path / "lab.nova.yml", tmp_path / "hosts.yml"
    good.write_text("plugin: ndu.dataplane.nova\n")
    bad.write_text("plugin: ndu.dataplane.nova\n")
    plugin = InventoryModule()
    assert plugin.verify_file(str(good)) and not plugin.verify_file(str(bad))
