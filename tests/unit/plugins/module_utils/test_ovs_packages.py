# SPDX-License-Identifier: Apache-2.0
"""Planning an OVS package upgrade (plugins/module_utils/ovs_packages.py)."""
from __future__ import annotations

import pytest

from ansible_collections.ndu.dataplane.plugins.module_utils import ovs_packages as pk

# What apt-cache policy prints on the lab's test host before an upgrade.
APT_POLICY = """\
openvswitch-common:
  Installed: 3.1.0-2+deb12u1
  Candidate: 3.1.0-2+deb12u1+lab1
  Version table:
     3.1.0-2+deb12u1+lab2broken 100
        100 file:/srv/ndu-lab-repo ./ Packages
     3.1.0-2+deb12u1+lab1 500
        500 file:/srv/ndu-lab-repo ./ Packages
 *** 3.1.0-2+deb12u1 500
        500 file:/srv/ndu-lab-repo ./ Packages
        100 /var/lib/dpkg/status
openvswitch-switch:
  Installed: 3.1.0-2+deb12u1
  Candidate: 3.1.0-2+deb12u1+lab1
  Version table:
     3.1.0-2+deb12u1+lab2broken 100
        100 file:/srv/ndu-lab-repo ./ Packages
     3.1.0-2+deb12u1+lab1 500
        500 file:/srv/ndu-lab-repo ./ Packages
 *** 3.1.0-2+deb12u1 500
        500 file:/srv/ndu-lab-repo ./ Packages
        100 /var/lib/dpkg/status
"""
PKGS = ["openvswitch-common", "openvswitch-switch"]


def test_parse_apt_policy_reads_installed_candidate_and_versions():
    state = pk.parse_apt_policy(APT_POLICY)
    assert state["openvswitch-switch"] == {
        "installed": "3.1.0-2+deb12u1",
        "candidate": "3.1.0-2+deb12u1+lab1",
        "versions": ["3.1.0-2+deb12u1+lab2broken", "3.1.0-2+deb12u1+lab1", "3.1.0-2+deb12u1"],
    }


def test_parse_apt_policy_not_installed_is_none():
    state = pk.parse_apt_policy("foo:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n")
    assert state["foo"] == {"installed": None, "candidate": None, "versions": []}


def test_latest_plans_the_candidate_for_every_package():
    result = pk.plan(PKGS, "latest", pk.parse_apt_policy(APT_POLICY))
    assert result["upgrade_needed"] is True
    assert result["target"] == {p: "3.1.0-2+deb12u1+lab1" for p in PKGS}
    assert result["changes"]["openvswitch-switch"] == {"from": "3.1.0-2+deb12u1", "to": "3.1.0-2+deb12u1+lab1"}


def test_nothing_changes_when_the_target_is_installed():
    result = pk.plan(PKGS, "3.1.0-2+deb12u1", pk.parse_apt_policy(APT_POLICY))
    assert result["upgrade_needed"] is False and result["changes"] == {}


def test_latest_when_up_to_date_changes_nothing():
    text = APT_POLICY.replace("Installed: 3.1.0-2+deb12u1\n", "Installed: 3.1.0-2+deb12u1+lab1\n")
    assert pk.plan(PKGS, "latest", pk.parse_apt_policy(text))["upgrade_needed"] is False


def test_an_exact_older_version_is_a_change_too():
    text = APT_POLICY.replace("Installed: 3.1.0-2+deb12u1\n", "Installed: 3.1.0-2+deb12u1+lab2broken\n")
    result = pk.plan(PKGS, "3.1.0-2+deb12u1", pk.parse_apt_policy(text))
    assert result["changes"]["openvswitch-common"]["to"] == "3.1.0-2+deb12u1"


def test_unknown_version_names_package_and_offered_versions():
    offered = r"the repositories offer 3\.1\.0-2\+deb12u1\+lab2broken"
    with pytest.raises(pk.PlanError, match=r"Failed to find version '9\.9' of package 'openvswitch-common': " + offered):
        pk.plan(PKGS, "9.9", pk.parse_apt_policy(APT_POLICY))


def test_a_package_that_is_not_installed_cannot_be_upgraded():
    with pytest.raises(pk.PlanError, match="'openvswitch-ipsec': it is not installed"):
        pk.plan(["openvswitch-ipsec"], "latest", {})


def test_rpm_and_dnf_parsers():
    assert pk.parse_rpm_installed("openvswitch3.1 3.1.0-65.el9fdp\npackage foo is not installed\n") == {"openvswitch3.1": "3.1.0-65.el9fdp"}
    dnf = ("Available Packages\n"
           "openvswitch3.1.x86_64    3.1.0-60.el9fdp    fdp\n"
           "openvswitch3.1.x86_64    1:3.1.0-65.el9fdp  fdp\n")
    assert pk.parse_dnf_available(dnf) == {"openvswitch3.1": ["3.1.0-60.el9fdp", "3.1.0-65.el9fdp"]}


def test_lock_holders_reads_proc_locks_for_one_inode():
    proc_locks = ("1: POSIX  ADVISORY  WRITE 4242 00:2d:131081 0 EOF\n"
                  "1: -> POSIX  ADVISORY  WRITE 4343 00:2d:131081 0 EOF\n"
                  "2: FLOCK  ADVISORY  WRITE 77 00:2d:999 0 EOF\n"
                  "3: OFDLCK ADVISORY  WRITE -1 00:2d:131081 0 EOF\n")
    assert pk.lock_holders(proc_locks, 131081) == [4242]
    assert pk.lock_holders(proc_locks, 5) == []
