# SPDX-License-Identifier: Apache-2.0
"""What runs for a daemon according to its PID file and /proc (shared by ovs_daemon_info and ovs_controller_info)."""
from __future__ import annotations

import os
from typing import Any

DELETED = " (deleted)"


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def daemon_info(name: str, rundir: str) -> dict[str, Any]:
    """What runs for one daemon: ``{pid, running, exe, exe_deleted}``.

    After a package upgrade with restarts suppressed, the old daemon keeps running a binary that was
    deleted from disk; ``/proc/<pid>/exe`` then ends in `` (deleted)``.
    """
    text = _read(os.path.join(rundir, f"{name}.pid"))
    pid = int(text) if text and text.isdigit() else None
    info: dict[str, Any] = {"pid": pid, "running": False, "exe": None, "exe_deleted": False}
    if pid is None:
        return info
    comm = _read(f"/proc/{pid}/comm")
    # /proc/<pid>/comm is cut at 15 characters ("ovs-vswitchd" and "ovn-controller" fit).
    info["running"] = comm is not None and comm == name[:15]
    if not info["running"]:
        return info
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return info
    info["exe_deleted"] = exe.endswith(DELETED)
    info["exe"] = exe[: -len(DELETED)] if info["exe_deleted"] else exe
    return info
