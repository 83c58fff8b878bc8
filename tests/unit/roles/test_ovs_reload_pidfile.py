# SPDX-License-Identifier: Apache-2.0
"""roles/ovs_reload: the PIDFile= detection that decides whether the drop-in is written.

The probe (vars/main.yml ``__ovs_reload_pidfile_probe``) runs with /bin/sh
against unit files in a temporary directory and a stand-in ``systemctl`` that
answers ``show -P FragmentPath|DropInPaths`` as systemd does. Debian 12's unit
has no PIDFile= (drop-in needed), Debian 13's has one (no drop-in); our own
drop-in from an earlier run does not count.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "ovs_reload"
VARS = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
BOOKWORM_UNIT = """[Unit]
Description=Open vSwitch Forwarding Unit
[Service]
Type=forking
ExecStart=/usr/share/openvswitch/scripts/ovs-ctl --no-ovsdb-server --no-monitor --system-id=random start $OPTIONS
ExecReload=/usr/share/openvswitch/scripts/ovs-ctl --no-ovsdb-server --no-monitor restart $OPTIONS
"""
TRIXIE_UNIT = BOOKWORM_UNIT.replace("Type=forking\n", "Type=forking\nPIDFile=/run/openvswitch/ovs-vswitchd.pid\n")


def probe(tmp_path: Path, unit: str, dropins: dict[str, str]) -> str:
    unit_path = tmp_path / "ovs-vswitchd.service"
    unit_path.write_text(unit)
    paths = []
    for name, text in dropins.items():
        path = tmp_path / "ovs-vswitchd.service.d" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        paths.append(str(path))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "systemctl"
    fake.write_text(
        "#!/bin/sh\n"
        f'case "$3" in FragmentPath) echo "{unit_path}" ;; DropInPaths) echo "{" ".join(paths)}" ;; esac\n'
    )
    fake.chmod(0o755)
    ours = str(tmp_path / "ovs-vswitchd.service.d" / "50-ndu-pidfile.conf")
    proc = subprocess.run(["/bin/sh", "-c", VARS["__ovs_reload_pidfile_probe"], "ndu-pidfile", ours],
                          capture_output=True, text=True, check=True, timeout=10,
                          env=dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}"))
    return proc.stdout.strip()


def needs_dropin(stdout: str | None, os_family: str = "Debian", install: bool = True) -> bool:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    registered = {"skipped": True} if stdout is None else {"stdout": stdout}
    text = env.from_string(VARS["__ovs_reload_needs_dropin"]).render(
        ansible_facts={"os_family": os_family}, ovs_reload_install_dropin=install,
        __ovs_reload_unit_pidfile=registered)
    return text.strip() == "True"


def test_bookworm_unit_without_pidfile_needs_the_dropin(tmp_path: Path) -> None:
    assert probe(tmp_path, BOOKWORM_UNIT, {}) == "none"
    assert needs_dropin("none")


def test_trixie_unit_with_pidfile_skips_the_dropin(tmp_path: Path) -> None:
    out = probe(tmp_path, TRIXIE_UNIT, {})
    assert out.endswith("ovs-vswitchd.service")
    assert not needs_dropin(out)


def test_our_own_dropin_does_not_count(tmp_path: Path) -> None:
    ours = {"50-ndu-pidfile.conf": "[Service]\nPIDFile=/run/openvswitch/ovs-vswitchd.pid\n"}
    assert probe(tmp_path, BOOKWORM_UNIT, ours) == "none"


def test_an_operator_dropin_with_pidfile_counts(tmp_path: Path) -> None:
    out = probe(tmp_path, BOOKWORM_UNIT, {"10-site.conf": "[Service]\nPIDFile=/run/openvswitch/ovs-vswitchd.pid\n"})
    assert out.endswith("10-site.conf")
    assert not needs_dropin(out)


@pytest.mark.parametrize("line", ["#PIDFile=/run/x.pid", "PIDFile=", "  # PIDFile=/x"])
def test_commented_or_empty_pidfile_is_no_pidfile(tmp_path: Path, line: str) -> None:
    assert probe(tmp_path, BOOKWORM_UNIT.replace("Type=forking\n", f"Type=forking\n{line}\n"), {}) == "none"


def test_not_debian_or_opted_out_never_writes_it() -> None:
    assert not needs_dropin(None, os_family="RedHat")
    assert not needs_dropin(None, install=False)
    assert needs_dropin(None) is True  # skipped probe on Debian cannot happen, but defaults to the drop-in
