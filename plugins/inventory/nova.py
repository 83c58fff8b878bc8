# SPDX-License-Identifier: Apache-2.0
"""Inventory of compute hosts from Nova's os-services."""

from __future__ import annotations

DOCUMENTATION = r"""
name: nova
short_description: Compute hosts from Nova os-services, grouped by zone, aggregate and state
version_added: 0.1.0
description:
  - Lists the nova-compute services of a cloud and makes one inventory host per service host.
  - "Groups (with O(group_prefix), names sanitised to C([a-z0-9_])): C(<prefix>computes) (all), C(<prefix>az_<zone>),
    C(<prefix>aggregate_<name>), C(<prefix>enabled) / C(<prefix>disabled), C(<prefix>up) / C(<prefix>down)."
  - "Host variables: C(ndu_nova_host) (the Nova service host, what this collection's modules take), C(nova_service_status),
    C(nova_service_state), C(nova_disabled_reason), C(nova_disabled_by_ndu), C(nova_availability_zone), C(nova_aggregates)
    and C(nova_instance_count) (with O(instance_counts))."
  - Reads os-services, os-aggregates and (for counts) the server list per host; never C(os-hypervisors/detail).
  - The inventory file must end in C(nova.yml) or C(nova.yaml).
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: Marks the file as this plugin's.
    type: str
    required: true
    choices: [ndu.dataplane.nova]
  cloud:
    description:
      - Cloud name in C(clouds.yaml) (found through C(OS_CLIENT_CONFIG_FILE) or the usual places).
      - Without it the C(OS_CLOUD) / C(OS_*) environment applies.
    type: str
    env:
      - name: OS_CLOUD
  region_name:
    description: Region to use when the cloud has several.
    type: str
  host_map:
    description:
      - Mapping from Nova service host name to inventory host name, for hosts whose names differ.
    type: dict
    default: {}
  strip_domain:
    description:
      - Drop the domain part (C(compute1.example.org) becomes C(compute1)) from inventory host names not in O(host_map).
    type: bool
    default: false
  instance_counts:
    description:
      - Count the instances on each host (one server list call per host).
    type: bool
    default: true
  group_prefix:
    description: Prefix of every group this plugin creates.
    type: str
    default: nova_
requirements:
  - openstacksdk >= 1.0.0
"""

EXAMPLES = r"""
# inventory/nova.yml
plugin: ndu.dataplane.nova
cloud: ndu-lab
host_map:
  compute1: lab-compute1
strip_domain: true
keyed_groups:
  - key: nova_service_status
    prefix: status
"""

import re
from typing import Any

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import NovaApi
from ansible_collections.ndu.dataplane.plugins.module_utils.reason_marker import is_ours


def group_name(prefix: str, *parts: str) -> str:
    return prefix + "_".join(re.sub(r"[^a-z0-9_]", "_", part.lower()) for part in parts)


def inventory_name(nova_host: str, host_map: dict[str, str], strip_domain: bool) -> str:
    if nova_host in host_map:
        return host_map[nova_host]
    return nova_host.split(".", 1)[0] if strip_domain else nova_host


def host_records(services: list[dict], aggregates: list[dict], counts: dict[str, int] | None) -> list[dict[str, Any]]:
    """One record of host variables per nova-compute service, sorted by host."""
    member_of: dict[str, list[str]] = {}
    for aggregate in aggregates:
        for host in aggregate.get("hosts") or []:
            member_of.setdefault(host, []).append(aggregate["name"])
    records = []
    for svc in sorted(services, key=lambda s: s["host"]):
        reason = svc.get("disabled_reason") if svc["status"] == "disabled" else None
        record = {
            "ndu_nova_host": svc["host"],
            "nova_service_status": svc["status"],
            "nova_service_state": svc["state"],
            "nova_disabled_reason": reason,
            "nova_disabled_by_ndu": is_ours(reason),
            "nova_availability_zone": svc.get("zone"),
            "nova_aggregates": sorted(member_of.get(svc["host"], [])),
        }
        if counts is not None:
            record["nova_instance_count"] = counts.get(svc["host"], 0)
        records.append(record)
    return records


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "ndu.dataplane.nova"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("nova.yml", "nova.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        api = NovaApi(self._connect())
        try:
            services = api.services()
            aggregates = api.aggregates()
            counts = None
            if self.get_option("instance_counts"):
                counts = {svc["host"]: len(api.servers(host=svc["host"])) for svc in services}
        except Exception as err:
            raise AnsibleError(f"Failed to read compute services from cloud '{self.get_option('cloud')}': {err}") from err
        self.populate(host_records(services, aggregates, counts))

    def _connect(self) -> Any:
        try:
            import openstack  # pylint: disable=import-outside-toplevel
        except ImportError as err:
            raise AnsibleError("Failed to import openstacksdk: the ndu.dataplane.nova inventory needs openstacksdk >= 1.0.0") from err
        options = {k: self.get_option(k) for k in ("cloud", "region_name") if self.get_option(k)}
        try:
            conn = openstack.connect(**options)
            conn.authorize()
        except Exception as err:
            raise AnsibleError(f"Failed to connect to cloud '{options.get('cloud', 'from the OS_* environment')}': {err}") from err
        return conn

    def populate(self, records: list[dict[str, Any]]) -> None:
        prefix = self.get_option("group_prefix")
        host_map = self.get_option("host_map") or {}
        strict = self.get_option("strict")
        everyone = self.inventory.add_group(group_name(prefix, "computes"))
        for record in records:
            name = inventory_name(record["ndu_nova_host"], host_map, self.get_option("strip_domain"))
            self.inventory.add_host(name, group=everyone)
            for key, value in record.items():
                self.inventory.set_variable(name, key, value)
            groups = [record["nova_service_status"], record["nova_service_state"]]
            if record["nova_availability_zone"]:
                groups.append(f"az_{record['nova_availability_zone']}")
            groups += [f"aggregate_{agg}" for agg in record["nova_aggregates"]]
            for group in groups:
                self.inventory.add_child(self.inventory.add_group(group_name(prefix, group)), name)
            self._set_composite_vars(self.get_option("compose"), record, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), record, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), record, name, strict=strict)
