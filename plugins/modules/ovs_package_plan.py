#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
"""Decide whether an Open vSwitch package upgrade changes anything, and to which versions."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ovs_package_plan
short_description: Decide which Open vSwitch packages an upgrade would change
version_added: 0.1.0
description:
  - Reads the installed and available versions of the given packages from apt or dnf and decides, for a target
    version or the package manager's candidate (C(latest)), which packages would change and to which version.
  - Fails with a sentence naming the package when a package is not installed or the target version does not exist.
  - With O(lock_timeout), first waits up to that many seconds for the dpkg lock to be free and fails naming the
    process that holds it when it stays taken. The lock is only tested, never kept.
  - Read-only; it never installs anything.
options:
  packages:
    description: Names of the packages to plan for. All must be installed.
    type: list
    elements: str
    required: true
  target_version:
    description:
      - C(latest) for the package manager's candidate, or one exact version (Debian C(version-revision), RPM
        C(version-release)) that every package must be upgraded (or downgraded) to.
    type: str
    default: latest
  package_manager:
    description: The package manager to ask.
    type: str
    choices: [apt, dnf]
    required: true
  lock_timeout:
    description:
      - Seconds to wait for the dpkg frontend lock (apt only) before failing. C(0) does not test the lock.
    type: int
    default: 0
extends_documentation_fragment:
  - ndu.dataplane.read_only
requirements:
  - C(apt-cache) (apt) or C(dnf) and C(rpm) (dnf) on the target host.
notes:
  - The dnf path parses C(dnf list --showduplicates); it is unit-tested but has not run against a real EL host.
author:
  - ndu.dataplane maintainers (@ndu-dataplane)
"""

EXAMPLES = r"""
- name: Decide whether Open vSwitch changes
  ndu.dataplane.ovs_package_plan:
    packages: [openvswitch-common, openvswitch-switch]
    target_version: latest
    package_manager: apt
    lock_timeout: 120
  register: ovs_upgrade_plan

- name: Plan a pinned version
  ndu.dataplane.ovs_package_plan:
    packages: [openvswitch-common, openvswitch-switch]
    target_version: 3.1.0-2+deb12u1+lab1
    package_manager: apt
"""

RETURN = r"""
installed:
  description: Installed version per package.
  returned: success
  type: dict
  sample: {openvswitch-common: 3.1.0-2+deb12u1, openvswitch-switch: 3.1.0-2+deb12u1}
target:
  description: Version per package after the upgrade.
  returned: success
  type: dict
  sample: {openvswitch-common: 3.1.0-2+deb12u1+lab1, openvswitch-switch: 3.1.0-2+deb12u1+lab1}
changes:
  description: Packages whose version changes, with C(from) and C(to).
  returned: success
  type: dict
  sample: {openvswitch-switch: {from: 3.1.0-2+deb12u1, to: 3.1.0-2+deb12u1+lab1}}
upgrade_needed:
  description: Whether any package changes.
  returned: success
  type: bool
  sample: true
lock_wait:
  description: Seconds spent waiting for the dpkg lock.
  returned: success
  type: float
  sample: 0.0
"""

import fcntl
import os
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ndu.dataplane.plugins.module_utils.ovs_packages import (
    PlanError,
    lock_holders,
    parse_apt_policy,
    parse_dnf_available,
    parse_rpm_installed,
    plan,
)

DPKG_LOCK = "/var/lib/dpkg/lock-frontend"


def describe_holders(path: str) -> str:
    """Name the processes holding a lock on ``path``, e.g. "process 1234 (apt-get)"."""
    try:
        with open("/proc/locks", encoding="ascii") as handle:
            pids = lock_holders(handle.read(), os.stat(path).st_ino)
    except OSError:
        return "an unknown process"
    names = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm", encoding="utf-8") as handle:
                names.append(f"process {pid} ({handle.read().strip()})")
        except OSError:
            names.append(f"process {pid}")
    return ", ".join(names) or "an unknown process"


def wait_for_dpkg_lock(module: AnsibleModule, timeout: int) -> float:
    """Wait until the dpkg frontend lock can be taken; release it at once."""
    started = time.monotonic()
    while True:
        try:
            with open(DPKG_LOCK, "a", encoding="ascii") as handle:
                fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.lockf(handle, fcntl.LOCK_UN)
            return round(time.monotonic() - started, 1)
        except FileNotFoundError:
            return 0.0
        except OSError:
            if time.monotonic() - started >= timeout:
                module.fail_json(msg=f"Failed to acquire the dpkg lock '{DPKG_LOCK}' within {timeout} s: it is held by {describe_holders(DPKG_LOCK)}. "
                                     "Nothing was changed; let that package operation finish (or stop it) and run again.")
            time.sleep(1)


def read_state(module: AnsibleModule, packages: list[str]) -> dict[str, dict[str, Any]]:
    """Installed, candidate and available versions per package."""
    if module.params["package_manager"] == "apt":
        args = [module.get_bin_path("apt-cache", required=True), "policy"] + packages
        rc, out, err = module.run_command(args, environ_update={"LC_ALL": "C"})
        if rc != 0:
            module.fail_json(msg=f"Failed to read package versions '{' '.join(packages)}': {err.strip() or out.strip()}", cmd=args)
        return parse_apt_policy(out)
    rpm = [module.get_bin_path("rpm", required=True), "-q", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\\n"] + packages
    _rc, out, _err = module.run_command(rpm, environ_update={"LC_ALL": "C"})  # rc 1 when one is missing: plan() names it
    installed = parse_rpm_installed(out)
    dnf = [module.get_bin_path("dnf", required=True), "list", "--quiet", "--showduplicates", "--available"] + packages
    rc, out, err = module.run_command(dnf, environ_update={"LC_ALL": "C"})
    available = parse_dnf_available(out) if rc == 0 else {}
    state = {}
    for name in packages:
        versions = available.get(name, [])
        state[name] = {"installed": installed.get(name), "candidate": versions[-1] if versions else installed.get(name),
                       "versions": versions + ([installed[name]] if name in installed and installed[name] not in versions else [])}
    return state


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "packages": {"type": "list", "elements": "str", "required": True},
            "target_version": {"type": "str", "default": "latest"},
            "package_manager": {"type": "str", "choices": ["apt", "dnf"], "required": True},
            "lock_timeout": {"type": "int", "default": 0},
        },
        supports_check_mode=True,
    )
    waited = 0.0
    if module.params["package_manager"] == "apt" and module.params["lock_timeout"] > 0:
        waited = wait_for_dpkg_lock(module, module.params["lock_timeout"])
    packages = module.params["packages"]
    try:
        result = plan(packages, module.params["target_version"], read_state(module, packages))
    except PlanError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, lock_wait=waited, **result)


if __name__ == "__main__":
    main()
