# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the fault-injection suite (issue 8), run by tools/faults.sh, not by the integration stage.

The rolling tests' fixtures are reused as they are (``conn``, ``lab_lock``, ``clean_lab``, ``report`` from
tests/integration/rolling/conftest.py): every fault test holds the shared lab lock and leaves the lab clean.
Each test is marked ``@pytest.mark.fault(N, "what")`` and fills one row of the table printed at the end
(fault, outcome, instances lost, hosts left disabled, policies left behind, re-run converged).
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

HERE = Path(__file__).resolve().parent
ROLLING = HERE.parent / "rolling"
CLOUD = HERE.parent / "cloud"
for path in (HERE, ROLLING, CLOUD):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_rolling = _load("ndu_rolling_fixtures", ROLLING / "conftest.py")
conn = _rolling.conn
clean_lab = _rolling.clean_lab
report = _rolling.report
# The shared lab lock (/run/ndu-lab.lock) for the whole test: a blocking flock that waits in the kernel's queue, so
# a suite that re-takes the lock between its tests still lets a fault test in. ``clean_lab`` takes it.
lab_lock = _rolling.lab_lock


from faulthelpers import ROWS, Row, render_table  # noqa: E402
from cloudhelpers import set_behaviour  # noqa: E402

TABLE_JSON = Path(os.environ.get("NDU_FAULTS_TABLE", HERE.parents[2] / "build" / "faults" / "table.json"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fault(number, title): the fault of issue 8 this test injects")


@pytest.fixture
def row(request: pytest.FixtureRequest) -> Row:
    """The table row of this test, from its ``fault`` marker."""
    marker = request.node.get_closest_marker("fault")
    assert marker, f"{request.node.nodeid} has no @pytest.mark.fault(number, title)"
    number, title = marker.args
    suffix = f" [{request.node.callspec.id}]" if hasattr(request.node, "callspec") else ""
    entry = Row(number=number, fault=title + suffix, nodeid=request.node.nodeid)
    ROWS[request.node.nodeid] = entry
    return entry


@pytest.fixture
def behaviour(lab: Any) -> Iterator[Any]:
    """Set the lab driver's behaviour for named servers; the file is put back as it was afterwards."""
    path = lab.lab_dir / "driver" / "behaviour.json"
    saved = json.loads(path.read_text()) if path.exists() else {}

    def set_for(table: dict[str, Any]) -> None:
        set_behaviour(lab.lab_dir, {**saved, **table})
    yield set_for
    set_behaviour(lab.lab_dir, saved)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    result = outcome.get_result()
    entry = ROWS.get(item.nodeid)
    if entry is None or (result.when != "call" and result.passed):
        return
    if result.failed:
        # Written at once: a long suite shows its failures only at the end.
        TABLE_JSON.parent.mkdir(parents=True, exist_ok=True)
        (TABLE_JSON.parent / f"{item.name}.failure.txt").write_text(str(result.longrepr) + "\n")
    if hasattr(result, "wasxfail"):
        entry.outcome = "xfail (known bug)" if result.skipped else "XPASS"
    elif result.when == "call":
        entry.outcome = result.outcome
    elif entry.outcome in ("passed", "not run"):
        entry.outcome = f"{result.outcome} in {result.when}"
    entry.seconds += result.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS:
        return
    table = render_table(sorted(ROWS.values(), key=lambda r: (r.number, r.fault)))
    terminalreporter.write_sep("=", "fault-injection table (issue 8)")
    terminalreporter.write_line(table)
    TABLE_JSON.parent.mkdir(parents=True, exist_ok=True)
    TABLE_JSON.write_text(json.dumps([vars(r) for r in ROWS.values()], indent=2) + "\n")
    TABLE_JSON.with_suffix(".md").write_text(table + "\n")
    terminalreporter.write_line(f"(also in {TABLE_JSON} and {TABLE_JSON.with_suffix('.md')})")
