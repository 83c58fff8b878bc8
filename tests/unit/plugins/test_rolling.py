# SPDX-License-Identifier: Apache-2.0
"""Pure logic of the rolling upgrade (plugins/module_utils/rolling.py)."""
from __future__ import annotations

import pytest

from ansible_collections.ndu.dataplane.plugins.module_utils import rolling

GOOD = {"strategy": "evacuate", "serial": [1, 2, "25%"], "max_fail_percentage": 0, "target_version": "latest",
        "hosts_pattern": "computes", "hosts": ["c1", "c2"], "nova_hosts": {"c1": "compute1", "c2": ""},
        "known_nova_hosts": ["compute1", "c2"]}


def facts(host: str, **over) -> dict:
    base = {"host": host, "nova_host": host,
            "packages": {"installed": {"ovs": "1"}, "target": {"ovs": "2"}, "changes": {"ovs": {"from": "1", "to": "2"}},
                         "upgrade_needed": True},
            "switchover_needed": False, "datapath_types": ["netdev"], "vhostuser_ports": [], "reboot_reasons": [],
            "policy_left": False, "state": None, "service": {"status": "enabled", "state": "up", "ours": False},
            "instances": [{"id": f"{host}-i1", "name": "web", "method": "live"}], "origin_elsewhere": []}
    base.update(over)
    return base


DONE = {"packages": {"installed": {"ovs": "2"}, "target": {"ovs": "2"}, "changes": {}, "upgrade_needed": False}}


def test_good_input_has_no_error():
    assert rolling.validate(GOOD) == []


@pytest.mark.parametrize("change,needle", [
    ({"strategy": "yolo"}, "ndu_strategy 'yolo' is unknown"),
    ({"serial": 0}, "must be at least 1"),
    ({"serial": "0"}, "must be at least 1"),
    ({"serial": ""}, "ndu_serial is empty"),
    ({"serial": []}, "ndu_serial is empty"),
    ({"serial": [1, "150%"]}, "neither a positive number"),
    ({"serial": True}, "is a boolean"),
    ({"max_fail_percentage": 101}, "from 0 to 100"),
    ({"max_fail_percentage": "x"}, "from 0 to 100"),
    ({"target_version": " "}, "ndu_target_version is empty"),
    ({"hosts": []}, "matches no host"),
    ({"known_nova_hosts": ["compute1"]}, "Nova has no nova-compute service for c2 (Nova host 'c2')"),
])
def test_bad_input_is_named(change, needle):
    errors = rolling.validate({**GOOD, **change})
    assert any(needle in e for e in errors), errors


def test_unread_nova_skips_the_host_check():
    assert rolling.validate({**GOOD, "known_nova_hosts": None}) == []


@pytest.mark.parametrize("total,serial,sizes", [
    (3, [1, 2, "25%"], [1, 2]),
    (10, [1, 2, "25%"], [1, 2, 2, 2, 2, 1]),
    (5, 2, [2, 2, 1]),
    (4, "50%", [2, 2]),
    (3, ["10%"], [1, 1, 1]),
    (2, [5], [2]),
    (0, 1, []),
])
def test_batch_sizes_follow_ansible(total, serial, sizes):
    assert rolling.batch_sizes(total, serial) == sizes


def test_batches_keep_order():
    assert rolling.batches(["a", "b", "c"], [1, 2]) == [["a"], ["b", "c"]]


def test_auto_picks_in_place_when_seamless():
    strategy, why = rolling.choose_strategy("auto", facts("c1"), "flow_preserving", False)
    assert strategy == "in_place" and "no reboot needed" in why


@pytest.mark.parametrize("over,mode,force,needle", [
    ({"reboot_reasons": ["/var/run/reboot-required exists"]}, "flow_preserving", False, "reboot is pending"),
    ({}, "restart", False, "drops flows"),
    ({"vhostuser_ports": ["vhu1"]}, "flow_preserving", False, "vhost-user"),
    ({}, "flow_preserving", True, "forced"),
])
def test_auto_falls_back_to_evacuate_and_says_why(over, mode, force, needle):
    strategy, why = rolling.choose_strategy("auto", facts("c1", **over), mode, force)
    assert strategy == "evacuate" and needle in why


def test_in_place_refused_when_unsafe():
    with pytest.raises(ValueError, match="in_place is not safe on c1: a reboot is pending"):
        rolling.choose_strategy("in_place", facts("c1", reboot_reasons=["x"]), "flow_preserving", False)


def test_switchover_mode():
    assert rolling.switchover_mode(facts("c1"), "auto", False) == "flow_preserving"
    assert rolling.switchover_mode(facts("c1", datapath_types=["doca"]), "auto", True) == "ndu"
    assert rolling.switchover_mode(facts("c1", **DONE), "auto", False) == "none"
    assert rolling.switchover_mode(facts("c1", **DONE, switchover_needed=True), "restart", False) == "restart"


def test_done_host_is_skipped():
    action, reasons = rolling.host_action(facts("c1", **DONE), migrate_back=False)
    assert action == "skip" and "already at 2 and nova-compute is enabled" in reasons[0]


@pytest.mark.parametrize("over,needle", [
    ({"service": {"status": "disabled", "ours": True, "disabled_reason": "[ndu.dataplane] x"}}, "disabled by us"),
    ({"policy_left": True}, "policy-rc.d"),
    ({"switchover_needed": True}, "replaced binary"),
])
def test_half_done_host_resumes(over, needle):
    action, reasons = rolling.host_action(facts("c1", **{**DONE, **over}), migrate_back=False)
    assert action == "resume" and needle in " ".join(reasons)


def test_instances_not_back_resume_only_with_migrate_back():
    f = facts("c1", **DONE, origin_elsewhere=["i1"])
    assert rolling.host_action(f, migrate_back=False)[0] == "skip"
    assert rolling.host_action(f, migrate_back=True)[0] == "resume"


def test_host_disabled_by_someone_else_is_skipped_when_done():
    f = facts("c1", **DONE, service={"status": "disabled", "ours": False, "disabled_reason": "hw repair"})
    action, reasons = rolling.host_action(f, migrate_back=False)
    assert action == "skip" and "someone else (hw repair)" in reasons[0]


SERVICES = [{"host": h, "status": "enabled", "state": "up"} for h in ("c1", "c2", "c3")]
PARAMS = {"strategy": "evacuate", "serial": [1, 2], "services": SERVICES}


def test_plan_batches_skips_and_destinations():
    the_plan = rolling.plan([facts("c1"), facts("c2", **DONE), facts("c3")], PARAMS)
    assert the_plan["batches"] == [["c1"], ["c3"]]
    assert the_plan["hosts"]["c2"]["action"] == "skip"
    assert the_plan["hosts"]["c1"]["instances"][0]["to"] == "scheduler: c2, c3"
    assert the_plan["hosts"]["c3"]["receivers"] == ["c1", "c2"]
    assert the_plan["totals"] == {"hosts": 3, "to_roll": 2, "skipped": 1, "instances_to_move": 2}


def test_plan_in_place_moves_nothing_and_target_host_wins():
    the_plan = rolling.plan([facts("c1")], {**PARAMS, "strategy": "in_place"})
    assert the_plan["hosts"]["c1"]["instances"][0]["to"] is None
    assert the_plan["totals"]["instances_to_move"] == 0
    the_plan = rolling.plan([facts("c1")], {**PARAMS, "target_host": "c9"})
    assert the_plan["hosts"]["c1"]["instances"][0]["to"] == "c9"


def test_plan_names_every_host_in_place_cannot_serve():
    with pytest.raises(ValueError, match="c1.*; .*c2"):
        rolling.plan([facts("c1", reboot_reasons=["r"]), facts("c2", vhostuser_ports=["v"])], {**PARAMS, "strategy": "in_place"})


def test_plan_lines_name_batches_hosts_instances_and_packages():
    text = "\n".join(rolling.plan_lines(rolling.plan([facts("c1"), facts("c2", **DONE)], PARAMS), check_mode=True))
    assert "check mode: nothing will change" in text
    assert "Batch 1/1: c1" in text
    assert "ovs 1 -> 2" in text and "switch-over flow_preserving" in text
    assert "instance web (c1-i1) -> scheduler: c2, c3" in text
    assert "Skip c2: already at 2" in text


def test_plan_refuses_a_host_that_cannot_be_evacuated():
    with pytest.raises(ValueError, match="c1 cannot be evacuated: no host"):
        rolling.plan([facts("c1", evacuate_error="no host")], PARAMS)
    the_plan = rolling.plan([facts("c1", evacuate_error="no host", **DONE)], PARAMS)
    assert the_plan["hosts"]["c1"]["action"] == "skip"


def test_finished_host_with_a_left_record_is_skipped_and_the_record_named():
    action, reasons = rolling.host_action(facts("c1", **DONE, state={"target_version": "2", "started": 1}), migrate_back=False)
    assert action == "skip" and "record an interrupted run left on it is removed" in reasons[0]
    action, _ = rolling.host_action(facts("c1", state={"target_version": "2", "started": 1}), migrate_back=False)
    assert action == "resume"


@pytest.mark.parametrize("serial", ["12.5%", [1, "12.5%"], " .5%"])
def test_serial_ansible_would_refuse_is_refused(serial):
    # Ansible's serial reads percentages with int(): "12.5%" would stop the play after the plan was printed.
    errors = rolling.validate({**GOOD, "serial": serial})
    assert any("not a whole percentage" in e for e in errors), errors


@pytest.mark.parametrize("total,serial", [(3, [1, "34%"]), (8, ["13%", "50%"]), (7, [2, "30%", 1])])
def test_batch_sizes_match_ansible_serial(total, serial):
    from ansible.playbook.play import Play
    from ansible.executor.playbook_executor import PlaybookExecutor
    hosts = [f"h{n}" for n in range(total)]
    play = Play.load({"hosts": "all", "serial": serial, "tasks": []})
    executor = PlaybookExecutor.__new__(PlaybookExecutor)
    executor._inventory = type("Inv", (), {"get_hosts": lambda self, *a, **k: hosts})()
    assert [len(b) for b in executor._get_serialized_batches(play)] == rolling.batch_sizes(total, serial)


def test_plan_refusal_is_one_sentence_not_an_exception():
    refused = rolling.plan_or_refusal([facts("c1", reboot_reasons=["r"])], {**PARAMS, "strategy": "in_place"})
    assert refused["refused"].startswith("The rolling upgrade did not start, nothing was changed: ndu_strategy=in_place is not safe on c1")
    assert refused["batches"] == [] and "\n" not in refused["refused"]
    assert rolling.plan_or_refusal([facts("c1")], PARAMS)["refused"] is None
