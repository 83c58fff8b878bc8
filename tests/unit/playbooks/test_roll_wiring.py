# SPDX-License-Identifier: Apache-2.0
"""The per-host roll wiring (playbooks/tasks: roll_host, step, rollback, restore) run by ansible-playbook on stubs.

The collection is assembled in a temporary directory from this checkout's playbooks, filters, module_utils and the
rolling_state module, with every step role and the OVS/Nova modules replaced by small stubs that act on a JSON file
standing for the host (installed versions, ovs-vswitchd) and the cloud (the compute service). A stub role fails
when the test says so. What the real roles do is proven by molecule and the lab; this proves the wiring: every
transition of the roll record reaches the report, the rollback re-runs the roles with the recorded versions, the
always part runs, and a host that does not answer is recorded unsafe with its step.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
STEPS = ["preflight", "drain", "live_migrate", "flow_snapshot", "ovs_upgrade", "ovs_reload", "flow_verify", "reboot", "undrain"]

MODULE_HEAD = """#!/usr/bin/python
import json
from ansible.module_utils.basic import AnsibleModule
m = AnsibleModule(argument_spec={k: {'type': 'raw'} for k in ('packages', 'package_manager', 'target_version', 'daemons', 'cloud', 'host')},
                  supports_check_mode=True)
world = __import__('os').environ.get('NDU_STUB_WORLD')
"""
MODULES = {
    "compute_service_info": MODULE_HEAD + """
m.exit_json(changed=False, services=[], migrations_in_progress=[])
""",
    "ovs_package_plan": MODULE_HEAD + """
w = json.load(open(world))
if w.get('unreadable'):
    m.fail_json(msg='Failed to read the packages: dpkg is broken')
m.exit_json(changed=False, installed=w['installed'], target=w['installed'], upgrade_needed=False, changes={})
""",
    "ovs_daemon_info": MODULE_HEAD + """
w = json.load(open(world))
m.exit_json(changed=False, switchover_needed=w['replaced'], daemons={'ovs-vswitchd': {'pid': w['pid'], 'running': w['running'],
            'exe': '/usr/sbin/ovs-vswitchd', 'exe_deleted': w['replaced']}})
""",
}
# Each stub role: act on the world file, publish <role>_result in an always, fail when the test says so.
ROLE = """---
- name: Stub of {role} ({entry})
  block:
    - name: Act on the world
      ansible.builtin.command:
        argv: [python3, "{helper}", "{role}", "{entry}", "{{{{ ndu_stub_world }}}}", "{{{{ {args} | to_json }}}}"]
      register: __{role}_stub
      changed_when: false
      failed_when: false
      {delegate}

    # A role can end without failing when its host stopped answering (ignore_unreachable): the stub does too.
    - name: Fail as the role would
      ansible.builtin.fail:
        msg: "{{{{ __{role}_stub.stderr }}}}"
      when: __{role}_stub.rc | default(0) != 0
  always:
    - name: Publish {role}_result
      ansible.builtin.set_fact:
        {role}_result: "{{{{ __{role}_stub.stdout | default('{{}}', true) | from_json }}}}"
      when: {publishes}
"""
HELPER = r'''
import json, sys
role, entry, world, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
w = json.load(open(world))
w.setdefault("calls", []).append(f"{role}:{entry}")
res = {}
nth = w["calls"].count(f"{role}:{entry}")
fail = w.get("fail", {}).get(f"{role}:{entry}#{nth}")
if role == "ovs_upgrade" and entry == "main":
    before = dict(w["installed"])
    w["installed"] = {p: args["target"] for p in before}
    w["replaced"] = before != w["installed"] or w["replaced"]
    res = {"ok": not fail, "changed": before != w["installed"], "versions_before": before, "versions_after": w["installed"]}
elif role == "ovs_reload":
    mode = "start" if not w["running"] and args["start_stopped"] else ("flow_preserving" if w["replaced"] else "none")
    res = {"mode": mode, "pid_before": w["pid"] if w["running"] else None, "ok": not fail}
    if mode != "none":
        w["pid"] += 1
    w["running"], w["replaced"] = True, False
    res["pid_after"] = w["pid"]
    if fail == "dies":
        w["running"] = False
elif role == "flow_verify":
    res = {"phase": entry, "ok": not fail, "summary": [], "snapshot": {"bridges": {}}, "probe": None, "probe_running": False}
elif role in ("drain", "undrain"):
    w["service"] = {"status": "disabled" if role == "drain" else "enabled", "state": "up",
                    "disabled_reason": args.get("reason") if role == "drain" else None, "ours": role == "drain"}
    res = {"ok": not fail, "service": w["service"], "migrated_back": []}
elif role == "live_migrate":
    res = {"instances": [{"id": "i1", "name": "web", "from": "c1", "to": "c2", "seconds": 1.0, "status": "moved"}]}
elif role == "reboot":
    res = {"rebooted": False, "reasons": [], "elapsed": 0}
if fail == "lost":  # the host stops answering right after this step's work (the inventory's connection follows "gone")
    w["gone"], fail = True, None
json.dump(w, open(world, "w"))
print(json.dumps(res))
if fail:
    sys.exit(f"{role} {entry} failed: {fail}")
'''
ROLE_ARGS = {
    "ovs_upgrade": "{'target': ovs_upgrade_target_version}",
    "ovs_reload": "{'start_stopped': ovs_reload_start_stopped | bool}",
    "drain": "{'reason': drain_reason}",
}
ENTRIES = {"flow_verify": ["snapshot", "compare", "restore", "probe_stop"], "ovs_upgrade": ["main", "policy_restore"]}
DELEGATED = ("preflight", "drain", "live_migrate", "undrain")
# Entry points that publish no <role>_result, as the real roles: the record folds nothing for them, even before the
# role's main entry ever ran (a roll that failed at drain still removes the restart policy).
SILENT = {("ovs_upgrade", "policy_restore")}


def build(tmp: Path) -> Path:
    root = tmp / "collections" / "ansible_collections" / "ndu" / "dataplane"
    (root / "plugins" / "modules").mkdir(parents=True)
    for part in ("galaxy.yml", "meta", "playbooks"):
        os.symlink(REPO / part, root / part)
    for part in ("filter", "module_utils"):
        os.symlink(REPO / "plugins" / part, root / "plugins" / part)
    os.symlink(REPO / "plugins" / "modules" / "rolling_state.py", root / "plugins" / "modules" / "rolling_state.py")
    for name, code in MODULES.items():
        (root / "plugins" / "modules" / f"{name}.py").write_text(code)
    (tmp / "helper.py").write_text(HELPER)
    for role in ("preflight", "drain", "live_migrate", "ovs_upgrade", "ovs_reload", "flow_verify", "reboot", "undrain"):
        tasks = root / "roles" / role / "tasks"
        tasks.mkdir(parents=True)
        for entry in ENTRIES.get(role, ["main"]):
            delegate = "delegate_to: localhost" if role in DELEGATED else ""
            text = ROLE.format(role=role, entry=entry, helper=tmp / "helper.py", args=ROLE_ARGS.get(role, "{}"), delegate=delegate,
                               publishes=(role, entry) not in SILENT)
            (tasks / f"{entry}.yml").write_text(text)
    return tmp / "collections"


PLAY = """
- name: Plan (as the plan play leaves it)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Keep the plan
      ansible.builtin.set_fact:
        ndu_plan: {plan}
        ndu_roll_started: 1
        __ndu_services: {{services: []}}

- name: Roll
  hosts: computes
  gather_facts: false
  vars_files: ["{vars}/rolling_upgrade.yml", "{vars}/steps.yml"]
  module_defaults:
    ndu.dataplane.rolling_state: {{directory: "{{{{ ndu_stub_state }}}}"}}
  vars:
    __ndu_plan: "{{{{ hostvars['localhost'].ndu_plan }}}}"
    __ndu_me: "{{{{ __ndu_plan.hosts[inventory_hostname] }}}}"
    __ndu_migrations_done: 0
    ansible_facts: {{pkg_mgr: apt, os_family: Debian}}
  tasks:
    - name: Roll each host
      ansible.builtin.import_tasks: "{tasks}/roll_host.yml"
    - name: Keep the record
      ansible.builtin.copy:
        content: "{{{{ ndu_roll_record | to_nice_json }}}}"
        dest: "{out}/{{{{ inventory_hostname }}}}.json"
        mode: "0600"
      delegate_to: localhost
"""

# host -> (world, on-host record of an unfinished roll, host vars). All run in one play, in parallel.
SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]] = {
    "ok": ({}, None, {}),
    "early": ({"fail": {"drain:main#1": "Nova said no"}}, None, {}),
    "reload": ({"fail": {"ovs_reload:main#1": "unit failed"}}, None, {}),
    "died": ({"fail": {"ovs_reload:main#1": "dies"}}, None, {}),
    "rbfail": ({"fail": {"flow_verify:compare#1": "flows differ", "ovs_upgrade:main#2": "dpkg broke"}}, None, {}),
    "norb": ({"fail": {"ovs_reload:main#1": "x"}}, None, {"ndu_rollback": False}),
    "restore": ({"fail": {"undrain:main#2": "Nova down"}}, None, {}),
    "resume": ({"installed": {"ovs": "2"}, "replaced": True}, {"target_version": "2", "versions_before": {"ovs": "1"}}, {}),
    "gone": ({}, None, {"ansible_host": "192.0.2.1", "ansible_connection": "ssh", "ansible_ssh_common_args": "-o ConnectTimeout=1"}),
    "lost": ({"fail": {"ovs_upgrade:main#1": "lost"}}, None, {}),
}
# A host whose connection goes to a black hole once its world file says "gone" (each task templates these).
GONE = "(lookup('ansible.builtin.file', ndu_stub_world) | from_json).gone | default(false)"
LOSABLE = {"ansible_connection": "{{ 'ssh' if " + GONE + " else 'local' }}",
           "ansible_host": "{{ '192.0.2.1' if " + GONE + " else 'localhost' }}", "ansible_ssh_common_args": "-o ConnectTimeout=1"}


@pytest.fixture(scope="module")
def rolled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("roll")
    collections = build(tmp)
    hosts: dict[str, Any] = {}
    plan: dict[str, Any] = {"batches": [list(SCENARIOS)], "totals": {"instances_to_move": 1}, "hosts": {}}
    for host, (world, state, hostvars) in SCENARIOS.items():
        world_file = tmp / f"world-{host}.json"
        world_file.write_text(json.dumps({"installed": {"ovs": "1"}, "running": True, "replaced": False, "pid": 100, **world}))
        wrapper = tmp / f"python-{host}"
        wrapper.write_text(f"#!/bin/sh\nNDU_STUB_WORLD={world_file} exec {sys.executable} \"$@\"\n")
        wrapper.chmod(0o755)
        hosts[host] = {"ansible_connection": "local", "ansible_python_interpreter": str(wrapper), "ndu_stub_world": str(world_file),
                       "ndu_stub_state": str(tmp / f"state-{host}"),
                       "ndu_host_facts": {"packages": {"installed": {"ovs": "1"}}, "state": state, "policy_left": False},
                       **(LOSABLE if host == "lost" else {}), **hostvars}
        plan["hosts"][host] = {"nova_host": host, "batch": 1, "action": "resume" if state else "roll", "reasons": ["ovs 1 -> 2"],
                               "strategy": "evacuate", "strategy_reason": "requested", "instances": [{"id": "i1", "to": "c2"}]}
    inventory = {"all": {"children": {"computes": {"hosts": hosts}, "others": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}
    (tmp / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp / "out").mkdir()
    (tmp / "ansible.cfg").write_text("[defaults]\nstdout_callback = ansible.builtin.default\nforks = 12\n")
    (tmp / "play.yml").write_text(PLAY.format(plan=json.dumps(plan), out=tmp / "out", vars=REPO / "playbooks" / "vars",
                                              tasks=REPO / "playbooks" / "tasks"))
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CONFIG": str(tmp / "ansible.cfg"),
           "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_LOCALHOST_WARNING": "False"}
    argv = [str(PLAYBOOK), "-i", str(tmp / "inventory.yml"), str(tmp / "play.yml"), "-e",
            json.dumps({"ndu_target_version": "2", "ndu_answer_timeout": 2})]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    (tmp / "out.txt").write_text(out)
    result: dict[str, Any] = {"out": out, "tmp": tmp}
    for host in SCENARIOS:
        record = tmp / "out" / f"{host}.json"
        assert record.exists(), f"{host} has no record:\n{out[-6000:]}"
        result[host] = (json.loads(record.read_text()), json.loads((tmp / f"world-{host}.json").read_text()))
    return result


pytestmark = pytest.mark.skipif(not PLAYBOOK.exists() or not shutil.which("python3"), reason="needs ansible-playbook")


def test_success_rolls_every_step_and_keeps_the_last_record(rolled: dict[str, Any]):
    rec, world = rolled["ok"]
    assert rec["status"] == "rolled", rolled["out"][-4000:]
    assert [m["step"] for m in rec["marks"]] == STEPS
    assert world["installed"] == {"ovs": "2"} and world["service"]["status"] == "enabled"
    assert rec["report"]["status"] == "rolled" and rec["report"]["compute_service"]["status"] == "enabled"
    assert rec["switchover"]["mode"] == "flow_preserving" and rec["instances"][0]["status"] == "moved"
    state = rolled["tmp"] / "state-ok"
    assert json.loads((state / "rolling-last.json").read_text())["versions_before"] == {"ovs": "1"}
    assert not (state / "rolling-state.json").exists()
    assert world["calls"][-2:] == ["ovs_upgrade:policy_restore", "undrain:main"]
    assert "host ok (evacuate), step 9/9: undrain" in rolled["out"]


def test_failure_before_any_change_needs_no_rollback(rolled: dict[str, Any]):
    rec, world = rolled["early"]
    assert rec["status"] == "failed" and rec["failure"]["step"] == "drain" and "Nova said no" in rec["failure"]["msg"], rec
    assert rec["rollback"] is None and "ovs_upgrade:main" not in world["calls"]
    assert world["service"]["status"] == "enabled"  # the always part re-enabled it
    assert not (rolled["tmp"] / "state-early" / "rolling-state.json").exists()


def test_failed_switch_over_is_rolled_back_with_the_same_roles(rolled: dict[str, Any]):
    rec, world = rolled["reload"]
    assert rec["status"] == "rolled_back", rec
    assert rec["failure"]["step"] == "ovs_reload" and rec["rollback"]["ok"] and rec["rollback"]["versions"] == {"ovs": "1"}
    assert world["installed"] == {"ovs": "1"}
    assert world["calls"].count("ovs_upgrade:main") == 2 and world["calls"].count("ovs_reload:main") == 2
    assert rec["marks"][-1]["step"] == "rollback" and "host reload (evacuate), step -/9: rollback" in rolled["out"]
    assert world["service"]["status"] == "enabled" and rec["report"]["status"] == "rolled_back"


def test_daemon_that_died_is_started_and_its_flows_restored(rolled: dict[str, Any]):
    rec, world = rolled["died"]
    assert rec["status"] == "rolled_back", rec
    assert "flow_verify:restore" in world["calls"] and world["running"]
    assert "was not running and was started again" in rec["rollback"]["summary"]


def test_failed_rollback_is_unsafe_and_stays_disabled(rolled: dict[str, Any]):
    rec, world = rolled["rbfail"]
    assert rec["status"] == "unsafe", rec
    assert "dpkg broke" in rec["unsafe_reason"] and world["service"]["status"] == "disabled"
    assert world["service"]["disabled_reason"].startswith("UNSAFE: the dataplane upgrade failed at flow_verify")
    assert (rolled["tmp"] / "state-rbfail" / "rolling-state.json").exists()  # the re-run still knows where to go back to
    assert rec["report"]["compute_service"]["left_disabled_because"]


def test_rollback_switched_off_leaves_the_host_unsafe(rolled: dict[str, Any]):
    rec, world = rolled["norb"]
    assert rec["status"] == "unsafe" and "ndu_rollback=false" in rec["unsafe_reason"], rec
    assert world["calls"].count("ovs_upgrade:main") == 1


def test_restore_that_fails_still_reports_the_host(rolled: dict[str, Any]):
    rec = rolled["restore"][0]
    assert rec["status"] == "failed" and rec["failure"]["step"] == "restore" and "Nova down" in rec["failure"]["msg"], rec
    assert rec["report"]["host"] == "restore" and rec["finished_at"]


def test_resume_keeps_the_versions_of_the_first_attempt(rolled: dict[str, Any]):
    rec = rolled["resume"][0]
    assert rec["packages_before"] == {"ovs": "1"} and rec["status"] == "rolled", rec


def test_host_that_does_not_answer_is_unsafe_with_its_step(rolled: dict[str, Any]):
    rec, world = rolled["gone"]
    assert rec["status"] == "unsafe" and not rec["answers"], rec
    assert rec["failure"]["step"] == "start"
    assert world["service"]["status"] == "disabled"
    assert world["service"]["disabled_reason"].startswith("UNSAFE: the host stopped answering during the dataplane upgrade (step start)")
    assert "preflight:main" not in world["calls"]  # nothing ran for it after it stopped answering


def test_host_lost_in_a_step_that_does_not_fail_is_unsafe_with_that_step(rolled: dict[str, Any]):
    # Issue 15: with ignore_unreachable a role can end "ok" after its host stopped answering; the runner then ran the
    # next steps (undrain re-enabled the lost host in Nova) and the record named the last step, not the one it was lost in.
    rec, world = rolled["lost"]
    assert rec["status"] == "unsafe" and not rec["answers"], rec
    assert rec["failure"]["step"] == "ovs_upgrade", rec["failure"]
    assert not {"ovs_reload:main", "undrain:main"} & set(world["calls"]), world["calls"]
    assert world["service"]["status"] == "disabled"
    assert world["service"]["disabled_reason"].startswith("UNSAFE: the host stopped answering during the dataplane upgrade (step ovs_upgrade)")
