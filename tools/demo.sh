#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make demo: the rolling upgrade on the lab, end to end.
#
#   tools/demo.sh            lab up if needed, boot servers on every compute, roll every host to the +lab1
#                            Open vSwitch packages with a traffic probe running, print the summary and write
#                            build/demo/report.json. A second run finds nothing to do and says so.
#   tools/demo.sh --reset    delete the demo's servers and roll the hosts back to the original packages
#                            (the same playbook, with no instance to move), so the demo can run again.
#
# Environment: NDU_DEMO_SERVERS (servers per compute, default 2), NDU_DEMO_VERSION (target, default the lab's
# +lab1 build), NDU_LAB_DIR (default /var/lib/ndu-lab). Lab-changing steps hold /run/ndu-lab.lock, which the
# integration tests hold too, so the demo never runs a roll on top of a test.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export PATH="$top/.venv/bin:$PATH" ANSIBLE_CONFIG="$top/ansible.cfg"
export NDU_LAB_DIR=${NDU_LAB_DIR:-/var/lib/ndu-lab}
original=3.1.0-2+deb12u1
version=${NDU_DEMO_VERSION:-$original+lab1}
per_host=${NDU_DEMO_SERVERS:-2}
out=$top/build/demo
lock=/run/ndu-lab.lock
mode=${1:-run}

say() { printf '\n=== %s\n' "$*"; }

case $mode in
    run | --reset) ;;
    *) echo "usage: tools/demo.sh [--reset]" >&2; exit 2 ;;
esac

mkdir -p "$out" "$top/build/collections/ansible_collections/ndu"
ln -sfn "$top" "$top/build/collections/ansible_collections/ndu/dataplane"

say "Lab"
touch "$lock"
# Under the lab lock, in one go: never judge or start the lab while a test or another roll holds it.
flock "$lock" bash -c "
    if python tests/lab/labctl.py status >'$out/lab-status.txt' 2>&1; then
        echo 'The lab is up and healthy.'
    else
        echo 'The lab is not up (or not healthy): starting it (a few minutes the first time).'
        python tests/lab/labctl.py up
    fi"
# shellcheck disable=SC1091
. "$NDU_LAB_DIR/lab.env"

# Servers on every compute: boot what is missing (pinned with microversion 2.74), or delete them all (--reset).
servers() {
    python - "$1" "$per_host" <<'PY'
import sys, time
import openstack
action, per_host = sys.argv[1], int(sys.argv[2])
conn = openstack.connect()
mv = "2.74"
hosts = sorted(s.host for s in conn.compute.services(binary="nova-compute"))
mine = {s.name: s for s in conn.compute.servers(all_projects=True) if s.name.startswith("ndu-demo-")}
if action == "delete":
    for s in mine.values():
        conn.compute.delete_server(s.id)
    deadline = time.monotonic() + 180
    while any(True for s in conn.compute.servers(all_projects=True) if s.name.startswith("ndu-demo-")):
        if time.monotonic() > deadline:
            sys.exit("the demo servers were not deleted within 180 s")
        time.sleep(2)
    print(f"deleted {len(mine)} demo server(s)")
    sys.exit(0)
image, flavor = conn.image.find_image("ndu-lab-image"), conn.compute.find_flavor("ndu-lab-tiny")
wanted = [f"ndu-demo-{h}-{n}" for h in hosts for n in range(1, per_host + 1)]
for name in wanted:
    if name in mine:
        continue
    host = name[len("ndu-demo-"):].rsplit("-", 1)[0]
    body = {"server": {"name": name, "imageRef": image.id, "flavorRef": flavor.id, "networks": "none", "host": host}}
    resp = conn.compute.post("/servers", json=body, microversion=mv)
    if resp.status_code >= 400:
        sys.exit(f"Failed to boot {name} on {host}: {resp.status_code} {resp.text[:300]}")
deadline = time.monotonic() + 300
while True:
    found = {s.name: s for s in conn.compute.servers(all_projects=True) if s.name in wanted}
    broken = [n for n, s in found.items() if s.status == "ERROR"]
    if broken:
        sys.exit(f"demo servers went to ERROR: {', '.join(broken)}")
    if len(found) == len(wanted) and all(s.status == "ACTIVE" for s in found.values()):
        break
    if time.monotonic() > deadline:
        sys.exit("the demo servers did not become ACTIVE within 300 s")
    time.sleep(2)
for host in hosts:
    names = sorted(s.name for s in conn.compute.servers(all_projects=True, compute_host=host) if s.name.startswith("ndu-demo-"))
    print(f"{host}: {', '.join(names) or 'none'}")
PY
}

roll() {
    local target=$1 report=$2
    cat >"$out/vars.yml" <<VARS
---
ndu_target_version: "$target"
ndu_report_path: "$report"
# The lab's hosts are containers: a reboot shows in PID 1's start time, not in the kernel's boot id.
ndu_reboot_boot_time_command: "cut -d' ' -f22 /proc/1/stat"
ndu_probe: $([ "$mode" = run ] && echo true || echo false)
ndu_probe_dest: "{{ ndu_lab_workloads[1].ip }}"
VARS
    flock "$lock" ansible-playbook -i "$NDU_LAB_INVENTORY" ndu.dataplane.rolling_upgrade -e "@$out/vars.yml"
}

if [ "$mode" = --reset ]; then
    say "Deleting the demo servers"
    flock "$lock" bash -c "$(declare -f servers); per_host=$per_host servers delete"
    say "Rolling the hosts back to $original (no instance to move)"
    roll "$original" "$out/reset-report.json"
    exit 0
fi

say "Servers: $per_host on every compute"
flock "$lock" bash -c "$(declare -f servers); per_host=$per_host servers boot"

say "Rolling every compute to Open vSwitch $version (probe: UDP 1000 pkt/s between the host's workloads)"
start=$(date +%s)
roll "$version" "$out/report.json"

say "Done in $(( $(date +%s) - start )) s"
python - "$out/report.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
t = report["totals"]
print(f"result: {report['result']}; hosts rolled {t['rolled']}, skipped {t['skipped']}; instances moved {t['instances_moved']}"
      + (f"; probe lost {t['probe_lost']} of {t['probe_sent']} packets (longest gap {t['probe_longest_gap_ms']} ms)" if t.get('probe_sent') else ""))
print(f"report: {sys.argv[1]}  (schema: docs/report-schema.md)")
PY
echo "Run 'make demo' again: nothing is left to do. 'tools/demo.sh --reset' puts the lab back to $original."
