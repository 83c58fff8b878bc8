# SPDX-License-Identifier: Apache-2.0
"""The ``ovs_daemon_info`` module, against real processes of this test run."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ovs_module_harness import run_module

from ansible_collections.ndu.dataplane.plugins.modules import ovs_daemon_info


def test_a_live_process_is_running_with_its_binary(tmp_path):
    comm = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    (tmp_path / f"{comm}.pid").write_text(f"{os.getpid()}\n")
    info = ovs_daemon_info.daemon_info(comm, str(tmp_path))
    assert info == {"pid": os.getpid(), "running": True, "exe": os.path.realpath(sys.executable), "exe_deleted": False}


def test_a_replaced_binary_reads_deleted(tmp_path):
    binary = tmp_path / "sleeper"
    shutil.copy("/bin/sleep", binary)
    proc = subprocess.Popen([str(binary), "30"])
    try:
        comm = Path(f"/proc/{proc.pid}/comm")
        deadline = time.monotonic() + 5
        while comm.read_text().strip() != "sleeper" and time.monotonic() < deadline:  # until the child has exec'd
            time.sleep(0.01)
        binary.unlink()  # what dpkg does to the old file when it unpacks a new version
        (tmp_path / "sleeper.pid").write_text(str(proc.pid))
        info = ovs_daemon_info.daemon_info("sleeper", str(tmp_path))
    finally:
        proc.kill()
        proc.wait()
    assert info["running"] is True and info["exe_deleted"] is True and info["exe"] == str(binary)


def test_a_stale_pid_file_is_not_running(tmp_path):
    proc = subprocess.Popen(["/bin/true"])
    proc.wait()
    (tmp_path / "ovs-vswitchd.pid").write_text(str(proc.pid))
    assert ovs_daemon_info.daemon_info("ovs-vswitchd", str(tmp_path))["running"] is False
    assert ovs_daemon_info.daemon_info("ovsdb-server", str(tmp_path)) == {"pid": None, "running": False, "exe": None, "exe_deleted": False}


def test_module_reports_switchover_needed_from_vswitchd_only(tmp_path):
    out = run_module(ovs_daemon_info.main, {"rundir": str(tmp_path)}, lambda argv: (0, "", ""))
    assert out.result["switchover_needed"] is False
    assert set(out.result["daemons"]) == {"ovs-vswitchd", "ovsdb-server"}
