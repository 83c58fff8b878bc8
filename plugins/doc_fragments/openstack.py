# SPDX-License-Identifier: Apache-2.0
"""Connection options and the action-group attribute shared by the collection's OpenStack modules."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  cloud:
    description:
      - Name of the cloud in C(clouds.yaml) to use.
      - Without it (and without O(auth)) the C(OS_CLOUD) / C(OS_*) environment applies, as for the openstack CLI.
    type: str
  auth:
    description:
      - Authentication dictionary (C(auth_url), C(username), C(password), C(project_name), domains, ...)
        used instead of or on top of O(cloud). Never printed.
    type: dict
  auth_type:
    description:
      - Keystone authentication plugin, for example C(password) or C(v3applicationcredential).
    type: str
  region_name:
    description:
      - Region to use when the cloud has several.
    type: str
  interface:
    description:
      - Which endpoint of the service catalog to call.
    type: str
    choices: [admin, internal, public]
    default: public
    aliases: [endpoint_type]
  validate_certs:
    description:
      - Verify TLS certificates of the API endpoints. Defaults to what C(clouds.yaml) says, else true.
    type: bool
    aliases: [verify]
  ca_cert:
    description:
      - CA bundle to verify the API endpoints with.
    type: path
    aliases: [cacert]
  api_timeout:
    description:
      - Seconds to wait for any single API call.
    type: int
attributes:
  action_group:
    description: Use C(group/ndu.dataplane.openstack) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - ndu.dataplane.openstack
requirements:
  - python >= 3.9
  - openstacksdk >= 4.16.0
notes:
  - The modules need an admin (or compute-admin) role, because they read os-services, all projects' servers and migrations.
  - The cloud's Compute API must offer microversion 2.80 (Nova 21, Ussuri, or newer); a C(compute_api_version) pinned
    below that in C(clouds.yaml) is refused with a message before anything changes.
"""
