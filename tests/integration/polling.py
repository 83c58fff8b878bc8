# SPDX-License-Identifier: Apache-2.0
"""Polling shared by the integration helpers (lab, cloud, rolling).

tests/integration/ is on sys.path because its conftest.py lives there, so the
helper modules import this as ``from polling import wait_for``.
"""
from __future__ import annotations

import time
from typing import Any, Callable


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Call ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
