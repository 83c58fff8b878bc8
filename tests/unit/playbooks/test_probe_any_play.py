# SPDX-License-Identifier: Apache-2.0
"""The roll-wide probe, started in one play and stopped from another (playbooks/tasks/probe_stop.yml).

The rolling upgrade starts its per-instance probe on ndu_probe_host in a play of its own and stops it from the
batch play that stops the roll, or from the last play: flow_verify's probe_stop entry point, delegated to the probe
host, reads the probe's report file. Here the real role and the real probe run on this machine, on loopback, with
an echo responder standing for the instance; the role's run paths point into a temporary directory (extra vars), so
nothing under /run/ndu-dataplane or /var/lib/ndu-dataplane is touched.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
PROBE = REPO / "roles" / "flow_verify" / "files" / "ndu_udp_probe.py"

PLAY = """
- name: Start the probe on the probe host (as the rolling upgrade's probe play)
  hosts: prober
  gather_facts: false
  tasks:
    - name: Start the probe
      ansible.builtin.include_role:
        name: ndu.dataplane.flow_verify
        tasks_from: probe_start
      vars:
        flow_verify_probe_targets: [{{id: i1, name: web, address: 127.0.0.1}}]
        flow_verify_probe_sender_ns: ""
        flow_verify_probe_rate: 50
        flow_verify_probe_port: {port}
        flow_verify_probe_max_duration: 120
        flow_verify_probe_label: "{{{{ __ndu_probe_label }}}}"

    - name: Remember that the probe runs
      ansible.builtin.set_fact:
        ndu_probe_running: true
      delegate_to: localhost
      delegate_facts: true

- name: Stop it from a play on other hosts (as the batch play that stops the roll)
  hosts: batch
  gather_facts: false
  tasks:
    - name: Stop the probe
      ansible.builtin.import_tasks: {tasks}/probe_stop.yml

- name: Keep what the report would read
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the probe's figures
      ansible.builtin.copy:
        content: "{{{{ {{'result': ndu_probe_result, 'running': ndu_probe_running}} | to_json }}}}"
        dest: {out}
        mode: "0600"
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not PLAYBOOK.exists(), reason="needs ansible-playbook")
def test_probe_started_in_one_play_is_stopped_and_read_from_another(tmp_path: Path):
    run = tmp_path / "run"
    paths = {"__flow_verify_run_dir": str(run), "__flow_verify_probe_script": str(run / "ndu_udp_probe.py"),
             "__flow_verify_probe_stop": str(run / "probe.stop"), "__flow_verify_probe_started": str(run / "probe.started"),
             "__flow_verify_probe_targets": str(run / "probe-targets.json"),
             "__flow_verify_probe_report": str(tmp_path / "probe-report.json")}
    collections = tmp_path / "collections" / "ansible_collections" / "ndu"
    collections.mkdir(parents=True)
    os.symlink(REPO, collections / "dataplane")
    port = free_port()
    out = tmp_path / "out.json"
    local = f"ansible_connection=local ansible_python_interpreter={sys.executable}"
    (tmp_path / "inventory.ini").write_text(f"localhost {local}\n[prober]\nprobehost {local}\n[batch]\ncompute1 {local}\ncompute2 {local}\n")
    (tmp_path / "play.yml").write_text(PLAY.format(port=port, tasks=REPO / "playbooks" / "tasks", out=out))
    extra = {**paths, "__ndu_probe_host": "probehost", "__ndu_probe_label": "test"}
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}
    env.pop("ANSIBLE_CONFIG", None)
    responder = subprocess.Popen([sys.executable, str(PROBE), "respond", "--bind", "127.0.0.1", "--port", str(port),
                                  "--stop-file", str(tmp_path / "respond.stop")], stdout=subprocess.PIPE, text=True)
    try:
        assert responder.stdout is not None and responder.stdout.readline().strip() == "ready"
        proc = subprocess.run([str(PLAYBOOK), "-i", str(tmp_path / "inventory.ini"), str(tmp_path / "play.yml"),
                               "-e", json.dumps(extra)], capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=420, check=False)
    finally:
        (tmp_path / "respond.stop").write_text("stop\n")
        responder.wait(timeout=30)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    kept = json.loads(out.read_text())
    result = kept["result"]
    assert not kept["running"] and not result.get("failed"), result
    assert result["sent"] > 0 and result["received"] > 0, result
    assert list(result["instances"]) == ["i1"] and result["instances"]["i1"]["name"] == "web", result
    assert log.count("TASK [ndu.dataplane.flow_verify : Tell the probe to stop]") == 1, log[-4000:]  # run_once
