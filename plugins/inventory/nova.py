# SPDX-License-Identifier: Apache-2.0
"""Inventory of compute hosts from Nova's os-services (and os-hypervisors for addresses and counts)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: nova
short_description: Compute hosts from Nova, grouped by zone, aggregate and state, reachable at the hypervisor's address
version_added: 0.1.0
description:
  - Lists the nova-compute services of one cloud and makes one inventory host per service host.
  - "Groups: O(group) (default C(computes), the group the rolling playbook runs on) holds every host. With
    O(group_prefix) (names sanitised to C([a-z0-9_])): C(<prefix>az_<zone>), C(<prefix>aggregate_<name>),
    C(<prefix>enabled) / C(<prefix>disabled), C(<prefix>up) / C(<prefix>down)."
  - "Host variables: C(ndu_nova_host) (the Nova service host, what this collection's modules take),
    C(nova_service_status), C(nova_service_state), C(nova_disabled_reason), C(nova_disabled_by_ndu),
    C(nova_availability_zone), C(nova_aggregates), C(nova_host_ip) (the hypervisor's C(host_ip), null when Nova has
    none) and, with O(instance_counts), C(nova_instance_count)."
  - C(ansible_host) is set to C(nova_host_ip) when Nova has an address for the host and O(set_ansible_host) is true.
    O(compose) runs over all of a host's variables afterwards, so it can override C(ansible_host) or add others.
  - Reads os-services, os-aggregates and os-hypervisors/detail, one call each whatever the number of hosts.
  - A cloud that cannot be read is a warning and no hosts, unless O(fail_on_errors=true); with O(cache=true) the last
    good answer is kept for O(cache_timeout) seconds.
  - The inventory file must end in C(nova.yml) or C(nova.yaml).
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks the file as this plugin's.
    type: str
    required: true
    choices: [ndu.dataplane.nova]
  cloud:
    description:
      - Name of the cloud in C(clouds.yaml).
      - Without it, C(OS_CLOUD) names it; without that, the C(OS_AUTH_URL) / C(OS_*) environment is the cloud. When
        none of these is there, parsing fails and says which clouds C(clouds.yaml) has.
    type: str
    env:
      - name: OS_CLOUD
  clouds_yaml_path:
    description:
      - C(clouds.yaml) files to read before the usual places (C(./clouds.yaml), C(~/.config/openstack/clouds.yaml),
        C(/etc/openstack/clouds.yaml)).
    type: list
    elements: path
    env:
      - name: OS_CLIENT_CONFIG_FILE
  region_name:
    description: Region to use when the cloud has several.
    type: str
  fail_on_errors:
    description:
      - Fail parsing when the cloud cannot be reached or read. With V(false) the error is a warning and this source
        adds no hosts; when only os-aggregates or os-hypervisors cannot be read, the hosts are still listed without the
        variables those give.
    type: bool
    default: false
  set_ansible_host:
    description:
      - Set C(ansible_host) to the hypervisor's C(host_ip) (Nova's C(my_ip) of that compute host) when Nova has one.
      - Set V(false) when hosts are reached by name (an SSH config, a container connection).
    type: bool
    default: true
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
      - Count the instances on each host (from the same os-hypervisors call, with its servers).
    type: bool
    default: true
  group:
    description: The group every compute host is in.
    type: str
    default: computes
  group_prefix:
    description: Prefix of the zone, aggregate and state groups.
    type: str
    default: nova_
requirements:
  - openstacksdk >= 4.16.0
"""

EXAMPLES = r"""
# inventory/nova.yml. The smallest one is two lines: "plugin" and "cloud"; every compute host is then in group
# "computes" (what the rolling playbook runs on), reached at the address Nova has for it.
plugin: ndu.dataplane.nova
cloud: ndu-lab
clouds_yaml_path: [/etc/ndu/clouds.yaml]  # read before ./clouds.yaml, ~/.config/openstack/, /etc/openstack/
fail_on_errors: true                      # a cloud that cannot be read fails the run instead of a warning
set_ansible_host: false                   # hosts are reached by name (an SSH config, a container connection)
host_map:
  compute1: lab-compute1
strip_domain: true
compose:
  ansible_user: "'cloud-admin'"
keyed_groups:
  - key: nova_service_status
    prefix: status
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ndu-inventory
cache_timeout: 300
"""

import os
import re
from typing import Any

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display

from ansible_collections.ndu.dataplane.plugins.module_utils.ndu_openstack import describe_error, installed_sdk_version, sdk_version_problem
from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import CloudTooOld, NovaApi
from ansible_collections.ndu.dataplane.plugins.module_utils.reason_marker import is_ours

display = Display()


def group_name(prefix: str, *parts: str) -> str:
    return prefix + "_".join(re.sub(r"[^a-z0-9_]", "_", part.lower()) for part in parts)


def inventory_name(nova_host: str, host_map: dict[str, str], strip_domain: bool) -> str:
    if nova_host in host_map:
        return host_map[nova_host]
    return nova_host.split(".", 1)[0] if strip_domain else nova_host


def host_records(services: list[dict], aggregates: list[dict], hypervisors: list[dict] | None,
                 counts: bool = True) -> list[dict[str, Any]]:
    """One record of host variables per nova-compute service, sorted by host.

    ``hypervisors`` is None when os-hypervisors could not be read: then neither an address nor a count is known.
    """
    member_of: dict[str, list[str]] = {}
    for aggregate in aggregates:
        for host in aggregate.get("hosts") or []:
            member_of.setdefault(host, []).append(aggregate["name"])
    address: dict[str, str] = {}
    instances: dict[str, int] = {}
    for hyp in hypervisors or []:
        host = hyp.get("host")
        if not host:
            continue
        if hyp.get("host_ip"):
            address.setdefault(host, hyp["host_ip"])
        instances[host] = instances.get(host, 0) + len(hyp.get("servers") or [])
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
            "nova_host_ip": address.get(svc["host"]),
        }
        if counts and hypervisors is not None:
            record["nova_instance_count"] = instances.get(svc["host"], 0)
        records.append(record)
    return records


class CloudUnreadable(Exception):
    """The cloud could not be reached or read; the message is a sentence."""


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "ndu.dataplane.nova"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("nova.yml", "nova.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = bool(self.get_option("cache"))
        records = None
        if use_cache and cache:
            try:
                records = self._cache[cache_key]
            except KeyError:
                records = None
        if records is None:
            try:
                records = self.fetch()
            except CloudUnreadable as err:
                if self.get_option("fail_on_errors"):
                    raise AnsibleParserError(f"Failed to list compute hosts from {self.cloud_label}: {err}") from err
                display.warning(f"Failed to list compute hosts from {self.cloud_label}: {err}; this inventory source adds no hosts "
                                "(set fail_on_errors: true to stop instead)")
                return
            if use_cache:
                self._cache[cache_key] = records
        self.populate(records)

    @property
    def cloud_label(self) -> str:
        cloud = self.get_option("cloud")
        return f"cloud '{cloud}'" if cloud else "the cloud of the OS_* environment"

    # ---- reading the cloud --------------------------------------------------
    def fetch(self) -> list[dict[str, Any]]:
        api = NovaApi(self.connect())
        try:
            api.check_versions()
            services = api.services()
        except CloudTooOld as err:
            raise CloudUnreadable(str(err)) from err
        except Exception as err:  # pylint: disable=broad-except  # any SDK error is the cloud's answer
            raise CloudUnreadable(f"could not read os-services: {describe_error(err, self.cloud_label)}") from err
        aggregates = self._optional("os-aggregates (nova_aggregates stay empty)", api.aggregates, [])
        counts = bool(self.get_option("instance_counts"))
        hypervisors = self._optional("os-hypervisors (no nova_host_ip, ansible_host or nova_instance_count)",
                                     lambda: api.hypervisors(with_servers=counts), None)
        return host_records(services, aggregates, hypervisors, counts=counts)

    def _optional(self, what: str, read: Any, default: Any) -> Any:
        try:
            return read()
        except Exception as err:  # pylint: disable=broad-except
            sentence = f"could not read {what}: {describe_error(err, self.cloud_label)}"
            if self.get_option("fail_on_errors"):
                raise CloudUnreadable(sentence) from err
            display.warning(f"{self.cloud_label}: {sentence}")
            return default

    def connect(self) -> Any:
        """An authenticated openstacksdk Connection for the configured cloud."""
        problem = sdk_version_problem(installed_sdk_version())
        if problem:
            raise AnsibleParserError(f"Failed to load openstacksdk for the {self.NAME} inventory: {problem}")
        import openstack.connection  # pylint: disable=import-outside-toplevel
        from openstack.config import loader  # pylint: disable=import-outside-toplevel

        extra = [os.path.expanduser(p) for p in self.get_option("clouds_yaml_path") or []]
        config = loader.OpenStackConfig(config_files=extra + [f for f in loader.CONFIG_FILES if f not in extra])
        cloud = self.get_option("cloud")
        if not cloud and not os.environ.get("OS_AUTH_URL"):
            names = config.get_cloud_names()
            known = [n for n in names if n != "envvars"]
            where = config.config_filename or "no clouds.yaml found (looked in " + ", ".join(extra + list(loader.CONFIG_FILES)) + ")"
            raise AnsibleParserError(
                f"Failed to choose a cloud for the {self.NAME} inventory: no cloud is named. Set 'cloud:' in the inventory file "
                f"or OS_CLOUD to one of: {', '.join(known) or 'none'} ({where}), or give the OS_AUTH_URL / OS_* environment")
        try:
            region = config.get_one(cloud=cloud, region_name=self.get_option("region_name") or None)
            conn = openstack.connection.Connection(config=region)
            conn.authorize()
        except Exception as err:  # pylint: disable=broad-except  # any SDK/keystoneauth error ends here
            raise CloudUnreadable(f"could not connect: {describe_error(err, self.cloud_label)}") from err
        return conn

    # ---- building the inventory ---------------------------------------------
    def populate(self, records: list[dict[str, Any]]) -> None:
        prefix = self.get_option("group_prefix")
        host_map = self.get_option("host_map") or {}
        strict = self.get_option("strict")
        everyone = self.inventory.add_group(self.get_option("group"))
        for record in records:
            name = inventory_name(record["ndu_nova_host"], host_map, self.get_option("strip_domain"))
            self.inventory.add_host(name, group=everyone)
            for key, value in record.items():
                self.inventory.set_variable(name, key, value)
            if self.get_option("set_ansible_host") and record.get("nova_host_ip"):
                self.inventory.set_variable(name, "ansible_host", record["nova_host_ip"])
            groups = [record["nova_service_status"], record["nova_service_state"]]
            if record["nova_availability_zone"]:
                groups.append(f"az_{record['nova_availability_zone']}")
            groups += [f"aggregate_{agg}" for agg in record["nova_aggregates"]]
            for group in groups:
                self.inventory.add_child(self.inventory.add_group(group_name(prefix, group)), name)
            hostvars = self.inventory.get_host(name).get_vars()
            self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
            hostvars = self.inventory.get_host(name).get_vars()
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
