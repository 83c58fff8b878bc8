# SPDX-License-Identifier: Apache-2.0
"""The scoped policy-rc.d of roles/ovs_upgrade, rendered and run with /bin/sh.

Arguments are the forms the Debian tools really use: deb-systemd-invoke calls
``policy-rc.d <unit>.service <action>``, invoke-rc.d calls
``policy-rc.d [--quiet] <name> <action> [<runlevel>]`` and wraps out-of-runlevel
starts as ``(start)``. Exit 101 denies, 0 allows.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "ovs_upgrade"
DENY, ALLOW = 101, 0


def render(tmp_path: Path, original: str | None = None) -> Path:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    private = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    text = env.from_string((ROLE / "templates" / "policy-rc.d.j2").read_text()).render(
        ovs_upgrade_policy_services=defaults["ovs_upgrade_policy_services"],
        inventory_hostname="compute1",
        __ovs_upgrade_policy_marker=private["__ovs_upgrade_policy_marker"],
        __ovs_upgrade_policy_saved=str(tmp_path / "policy-rc.d.saved"),
        __ovs_upgrade_policy_log=str(tmp_path / "policy-rc.d.log"),
    )
    script = tmp_path / "policy-rc.d"
    script.write_text(text)
    script.chmod(0o755)
    if original is not None:
        saved = tmp_path / "policy-rc.d.saved"
        saved.write_text(original)
        saved.chmod(0o755)
    return script


def call(script: Path, *args: str) -> int:
    return subprocess.run(["/bin/sh", str(script), *args], capture_output=True, check=False, timeout=10).returncode


@pytest.mark.parametrize("args", [
    ("ovs-vswitchd.service", "stop"),
    ("ovsdb-server.service", "stop"),
    ("openvswitch-switch.service", "restart"),
    ("openvswitch-switch.service", "start"),
    ("ovs-vswitchd.service", "try-restart"),
    ("openvswitch-switch", "restart"),
    ("--quiet", "openvswitch-switch", "restart"),
    ("--quiet", "openvswitch-switch", "(restart)", "2"),
    ("openvswitch-switch", "(start)"),
    ("ovsdb-server", "start"),
    ("ovs-vswitchd", "force-reload"),
    ("ovs-record-hostname.service", "stop"),
    ("openvswitch-switch", "stop start"),
    ("/etc/init.d/openvswitch-switch", "restart"),
], ids=lambda a: " ".join(a))
def test_every_form_of_an_ovs_action_is_denied(tmp_path, args):
    assert call(render(tmp_path), *args) == DENY


def test_a_denial_is_logged_for_the_operator(tmp_path):
    call(render(tmp_path), "ovs-vswitchd.service", "stop")
    assert "deny ovs-vswitchd.service stop" in (tmp_path / "policy-rc.d.log").read_text()


@pytest.mark.parametrize("args", [("ovs-vswitchd.service", "status"), ("--quiet", "openvswitch-switch", "status")], ids=" ".join)
def test_status_of_ovs_is_allowed(tmp_path, args):
    assert call(render(tmp_path), *args) == ALLOW


@pytest.mark.parametrize("args", [("cron.service", "restart"), ("--quiet", "ssh", "(start)"), ("openvswitch-ipsec.service", "restart"),
                                  ("ovs-vswitchd-extra.service", "stop")], ids=" ".join)
def test_other_services_are_allowed_without_an_operator_policy(tmp_path, args):
    assert call(render(tmp_path), *args) == ALLOW


def test_other_services_go_to_the_operators_policy_with_the_original_arguments(tmp_path):
    seen = tmp_path / "seen"
    script = render(tmp_path, original=f'#!/bin/sh\necho "$@" >"{seen}"\nexit 101\n')
    assert call(script, "--quiet", "cron", "(restart)", "2") == DENY
    assert seen.read_text().strip() == "--quiet cron (restart) 2"


def test_the_operators_policy_is_not_asked_about_ovs(tmp_path):
    seen = tmp_path / "seen"
    script = render(tmp_path, original=f'#!/bin/sh\necho asked >"{seen}"\nexit 0\n')
    assert call(script, "ovs-vswitchd.service", "stop") == DENY
    assert not seen.exists()


def test_the_script_carries_the_marker_the_role_looks_for(tmp_path):
    marker = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__ovs_upgrade_policy_marker"]
    assert marker in render(tmp_path).read_text().splitlines()[1]
