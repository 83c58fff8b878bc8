# SPDX-License-Identifier: Apache-2.0
"""The ``ovn_wait_before_clear`` module against a fake ovsdb key and a real state file."""
from __future__ import annotations

import json

from ovs_module_harness import run_module

from ansible_collections.ndu.dataplane.plugins.modules import ovn_wait_before_clear as mod

STOPWATCH = "Statistics for 'flow-generation'\n\t Total samples: 12\n\t Maximum: 2100 msec\n\t Minimum: 3 msec\n"


class FakeOvsdb:
    def __init__(self, value=None):
        self.value = value
        self.writes = 0

    def __call__(self, argv):
        if "get" in argv:
            return 0, (f'"{self.value}"\n' if self.value is not None else "\n"), ""
        if "set" in argv:
            self.value = argv[-1].split("=", 1)[1]
            self.writes += 1
            return 0, "", ""
        if "remove" in argv:
            self.value = None
            self.writes += 1
            return 0, "", ""
        if "stopwatch/show" in argv:
            return 0, STOPWATCH, ""
        raise AssertionError(f"unexpected command {argv}")


def test_set_sizes_remembers_and_restore_puts_the_operator_value_back(tmp_path):
    state = tmp_path / "state" / "wbc.json"
    db = FakeOvsdb("500")
    args = {"state": "set", "state_file": str(state)}
    first = run_module(mod.main, args, db).result
    assert first["changed"] is True and first["value"] == "4200" and first["previous"] == "500" and first["source"] == "measured"
    assert json.loads(state.read_text()) == {"operator": "500", "ours": 4200, "schema": 1}
    second = run_module(mod.main, args, db).result
    assert second["changed"] is False and db.writes == 1
    back = run_module(mod.main, {"state": "restore", "state_file": str(state)}, db).result
    assert back["changed"] is True and back["value"] == "500" and db.value == "500" and not state.exists()
    again = run_module(mod.main, {"state": "restore", "state_file": str(state)}, db).result
    assert again["changed"] is False and again["reason"] == "nothing remembered"


def test_an_unset_key_is_removed_again_and_the_variable_wins(tmp_path):
    state = tmp_path / "wbc.json"
    db = FakeOvsdb(None)
    out = run_module(mod.main, {"state": "set", "value": 3000, "state_file": str(state)}, db).result
    assert out["value"] == "3000" and out["source"] == "variable" and db.value == "3000"
    run_module(mod.main, {"state": "restore", "state_file": str(state)}, db)
    assert db.value is None


def test_check_mode_changes_nothing(tmp_path):
    state = tmp_path / "wbc.json"
    db = FakeOvsdb(None)
    out = run_module(mod.main, {"state": "set", "state_file": str(state), "_ansible_check_mode": True}, db).result
    assert out["changed"] is True and db.writes == 0 and not state.exists()
