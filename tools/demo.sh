#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make demo: the rolling upgrade on the lab, end to end.
#
#   tools/demo.sh            lab up if needed, boot servers on every compute (each with a port on the lab's tenant
#                            network), roll every host to the +lab1 Open vSwitch packages with the per-instance
#                            probe running from the lab's probe host (UDP, 200 pkt/s to each instance), print the
#                            summary and each instance's loss, and write build/demo/report.json. A second run finds
#                            nothing to do and says so.
#   tools/demo.sh --reset    delete the demo's servers and roll the hosts back to the original packages
#                            (the same playbook, with no instance to move), so the demo can run again.
#
# Environment: NDU_DEMO_SERVERS (servers per compute, default 2), NDU_DEMO_VERSION (target, default the lab's
# +lab1 build), NDU_LAB_DIR (default /var/lib/ndu-lab), NETWORK (ovn or ovs: the backend of a lab the demo has to
# start; a running lab keeps its own). Lab-changing steps hold /run/ndu-lab.lock, which the integration tests hold
# too, so the demo never runs a roll on top of a test.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export PATH="$top/.venv/bin:$PATH" ANSIBLE_CONFIG="$top/ansible.cfg"
export NDU_LAB_DIR=${NDU_LAB_DIR:-/var/lib/ndu-lab}
network=${NETWORK:-ovn}
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
        echo 'The lab is not up (or not healthy): starting it with the $network backend (a few minutes the first time).'
        python tests/lab/labctl.py up --network '$network'
    fi"
# shellcheck disable=SC1091
. "$NDU_LAB_DIR/lab.env"
# What the lab says about its dataplane: backend, tenant network, probe host and namespace, OVS versions.
eval "$(python - <<'PY'
import shlex, sys
sys.path.insert(0, "tests/integration")
import dataplane
dp = dataplane.read()
for key, value in {"backend": dp.backend, "tenant_network": dp.network, "probe_host": dp.probe_host,
                   "probe_ns": dp.probe_ns, "original": dp.original, "lab1": dp.lab1}.items():
    print(f"{key}={shlex.quote(value)}")
PY
)"
version=${NDU_DEMO_VERSION:-$lab1}
echo "Network backend: $backend; tenant network $tenant_network; probe from $probe_host (namespace $probe_ns)."

# Servers on every compute: boot what is missing (pinned with microversion 2.74), or delete them all (--reset).
servers() {
    python - "$1" "$per_host" "$tenant_network" <<'PY'
import sys, time
import openstack
action, per_host, network = sys.argv[1], int(sys.argv[2]), sys.argv[3]
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
net = conn.network.find_network(network)
if net is None:
    sys.exit(f"the lab's tenant network {network} does not exist: run 'make lab-down' then 'make lab-up'")
wanted = [f"ndu-demo-{h}-{n}" for h in hosts for n in range(1, per_host + 1)]
for name in wanted:
    if name in mine:
        continue
    host = name[len("ndu-demo-"):].rsplit("-", 1)[0]
    body = {"server": {"name": name, "imageRef": image.id, "flavorRef": flavor.id, "networks": [{"uuid": net.id}], "host": host}}
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
    found = sorted((s.name, ", ".join(a["addr"] for a in (s.addresses or {}).get(network, [])))
                   for s in conn.compute.servers(all_projects=True, compute_host=host) if s.name.startswith("ndu-demo-"))
    print(f"{host}: {'; '.join(f'{n} ({ip})' for n, ip in found) or 'none'}")
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
# The per-instance probe, from the lab's probe host (outside every host being rolled), to every instance.
ndu_probe: $([ "$mode" = run ] && echo true || echo false)
ndu_probe_host: "$probe_host"
ndu_probe_namespace: "$probe_ns"
ndu_probe_network: "$tenant_network"
ndu_probe_rate: 200
VARS
    flock "$lock" ansible-playbook -i "$NDU_LAB_INVENTORY" ndu.dataplane.rolling_upgrade -e "@$out/vars.yml"
}

if [ "$mode" = --reset ]; then
    say "Deleting the demo servers"
    flock "$lock" bash -c "$(declare -f servers); per_host=$per_host tenant_network=$tenant_network servers delete"
    say "Rolling the hosts back to $original (no instance to move)"
    roll "$original" "$out/reset-report.json"
    exit 0
fi

say "Servers: $per_host on every compute"
flock "$lock" bash -c "$(declare -f servers); per_host=$per_host tenant_network=$tenant_network servers boot"

say "Rolling every compute to Open vSwitch $version ($backend; probe: UDP 200 pkt/s to each instance from $probe_host)"
start=$(date +%s)
roll "$version" "$out/report.json"

say "Done in $(( $(date +%s) - start )) s"
python - "$out/report.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
t = report["totals"]
print(f"result: {report['result']}; hosts rolled {t['rolled']}, skipped {t['skipped']}; instances moved {t['instances_moved']}"
      + (f"; probe lost {t['probe_lost']} of {t['probe_sent']} packets (longest gap {t['probe_longest_gap_ms']} ms)" if t.get('probe_sent') else ""))
probe = report.get("probe")
if probe and not probe.get("failed"):
    print(f"\nPer-instance loss, UDP {probe['rate']} pkt/s to each instance for {probe['duration_s']} s:")
    print(f"  {'instance':<28} {'host at start':<14} {'sent':>7} {'lost':>6} {'longest gap':>12}  gaps (offset s: ms)")
    for key, i in sorted(probe["instances"].items(), key=lambda kv: kv[1]["name"]):
        gaps = ", ".join(f"+{g['offset_s']:.1f}: {g['ms']:.0f}" for g in i["gaps"][:6]) + (" ..." if len(i["gaps"]) > 6 else "")
        print(f"  {i['name']:<28} {str(i.get('host_at_start')):<14} {i['sent']:>7} {i['lost']:>6} {i['longest_gap_ms']:>9.1f} ms  {gaps or '-'}")
    w = probe["worst"]
    print(f"worst instance: {w['name']} ({w['address']}), lost {w['lost']} of {w['sent']}, longest gap {w['longest_gap_ms']} ms")
elif probe:
    print(f"probe: FAILED, no per-instance loss: {probe.get('msg')}")
elif report["result"] != "nothing_to_do":
    print("probe: no figures (no instance on the hosts rolled)")
print(f"report: {sys.argv[1]}  (schema: docs/report-schema.md)")
PY
echo "Run 'make demo' again: nothing is left to do. 'tools/demo.sh --reset' puts the lab back to $original."
