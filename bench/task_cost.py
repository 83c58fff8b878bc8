# SPDX-License-Identifier: Apache-2.0
"""What one Ansible task costs on a lab host, per connection setting (the unit P3's overhead is made of).

    .venv/bin/python bench/task_cost.py [--rounds 5] [--tasks 10] [--host compute1]

Per round, one playbook per variant, in an order that rotates round by round, runs --tasks module tasks
(`ansible.builtin.command: true`) against one lab host; the cost of one task is the time from the first task's start
to the last one's end (ansible.posix.profile_tasks) divided by --tasks. Variants:

- podman, remote_tmp ~/.ansible/tmp: the lab's connection (containers.podman.podman, no pipelining) with Ansible's
  default remote_tmp: 6 podman calls per task (mount, `echo ~`, mkdir, chmod, python, rm);
- podman, remote_tmp $HOME/.ansible/tmp: the same with the checkout's ansible.cfg (no `echo ~`: 5 calls);
- docker CLI + pipelining: community.docker.docker pointed at podman through a `docker` shim in a temporary
  directory, with ANSIBLE_PIPELINING (1 call per task, the module on stdin). Not the lab's connection: it shows
  what a pipelining connection to the same containers would cost.

Read-only (nothing on the host changes), so it runs without the lab lock.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from common import LAB_DIR, VENV, fmt, header, loadavg, log, machine, md_table, now, playbook, stats, write_results

NAME = "task_cost"
VARIANTS = {
    "podman_default_tmp": "podman connection, remote_tmp `~/.ansible/tmp` (Ansible's default)",
    "podman_home_tmp": "podman connection, remote_tmp `$HOME/.ansible/tmp` (the checkout's ansible.cfg)",
    "docker_cli_pipelining": "docker CLI connection to the same container (podman behind a shim) with pipelining",
}
TIMESTAMP = re.compile(r"\((\d+):(\d+):(\d+\.\d+)\)\s+(\d+):(\d+):(\d+\.\d+)")


def seconds(out: str) -> float:
    """Elapsed time from the end of the first task to the end of the last (profile_tasks' running totals)."""
    totals = [int(h) * 3600 + int(m) * 60 + float(s) for *_, h, m, s in TIMESTAMP.findall(out)]
    if len(totals) < 3:
        raise RuntimeError(f"no profile_tasks timestamps in the output:\n{out[-2000:]}")
    return totals[-1] - totals[1]


def run(variant: str, host: str, tasks: int, tmp: Path) -> float:
    book = tmp / "tasks.yml"
    book.write_text("- hosts: " + host + "\n  gather_facts: false\n  tasks:\n" + "".join(
        f"    - {{name: task {n}, ansible.builtin.command: 'true', changed_when: false}}\n" for n in range(tasks + 1)))
    env = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}
    inventory = None
    if variant == "podman_default_tmp":
        env["ANSIBLE_REMOTE_TMP"] = "~/.ansible/tmp"
    elif variant == "docker_cli_pipelining":
        inventory = tmp / "inventory.yml"
        inventory.write_text(f"all:\n  hosts:\n    {host}:\n      ansible_connection: community.docker.docker\n"
                             "      ansible_python_interpreter: /usr/bin/python3\n")
        env.update(ANSIBLE_PIPELINING="true", PATH=f"{tmp / 'shim'}:{VENV / 'bin'}:{os.environ.get('PATH', '')}")
    rc, _, out = playbook(str(book), {}, env_extra=env, inventory=str(inventory) if inventory else None)
    if rc != 0:
        raise RuntimeError(f"{variant}: the playbook failed (rc {rc}):\n{out[-2000:]}")
    # tasks + 1 tasks run; the first one's time (start-up) is left out.
    return seconds(out) / tasks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--host", default="compute1")
    args = ap.parse_args()
    doc: dict[str, Any] = {"benchmark": NAME, "machine": machine(), "started": now(), "load_start": loadavg(),
                           "rounds": args.rounds, "tasks": args.tasks, "host": args.host, "round_results": []}
    names = list(VARIANTS)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        (tmp / "shim").mkdir()
        (tmp / "shim" / "docker").symlink_to(shutil.which("podman") or "/usr/bin/podman")
        for n in range(args.rounds):
            order = names[n % len(names):] + names[:n % len(names)]
            result = {v: round(run(v, args.host, args.tasks, tmp), 3) for v in order}
            log(f"task cost round {n + 1}/{args.rounds}: " + ", ".join(f"{v} {s:.2f} s" for v, s in result.items()))
            doc["round_results"].append(result)
    doc["summary"] = {v: stats([r[v] for r in doc["round_results"]]) for v in names}
    doc.update(finished=now(), load_end=loadavg(), lab_dir=str(LAB_DIR))
    rows = [[label, fmt(doc["summary"][v], 2)] for v, label in VARIANTS.items()]
    markdown = (header("Task cost: one Ansible module task on a lab host, per connection setting", doc) +
                f"\nHost `{args.host}`; {args.tasks} `ansible.builtin.command: true` tasks per playbook, the cost is the time "
                "between the first and the last task's end divided by their number.\n\n" +
                md_table(["connection", "seconds per task"], rows) + "\n")
    path = write_results(NAME, doc, markdown)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
