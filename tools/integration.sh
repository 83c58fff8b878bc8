#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Integration tests against the lab (tests/integration/**/test_*.py), on both network backends.
#
#   tools/integration.sh            what `make integration` (and so `make test`) runs: the tests PROVEN on the
#                                   Neutron-dataplane lab (issue 13), on ovn, then on an ML2/OVS lab
#   tools/integration.sh --all      every test on ovn (the teardown tests last), then the full roll again on ovs
#   NDU_INTEGRATION_BACKENDS=ovn tools/integration.sh [--all]      one backend only
#
# The session fixture in tests/integration/conftest.py brings the lab up with the backend NDU_LAB_NETWORK_WANTED
# names (a running lab with the other one is taken down first); this script takes the lab down at the end of each
# backend's pass. Exit 3 ("nothing to run yet") when there is no test. The fault-injection suite
# (tests/integration/faults) runs from tools/faults.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ -z "$(find tests/integration -name 'test_*.py' 2>/dev/null | head -1)" ]; then
    echo "integration: no tests under tests/integration yet"
    exit 3
fi

# Proven on the new lab (trixie hosts, OVN / ML2-OVS controllers, instances with ports, per-instance probe), per
# backend. Keep in step with README "Testing" and the list below of what is not run yet.
PROVEN_OVN=(
    tests/integration/lab/test_lab_network.py
)
PROVEN_OVS=(
    tests/integration/lab/test_lab_network.py
)
# Not run by `make integration` yet, and why (run them with --all):
NOT_YET=(
    "tests/integration/rolling/ (full roll with the per-instance probe, broken canary, SIGKILL and resume, --check,"
    "  bad input, ansible-runner): not yet seen passing on the new lab. 2026-12-01: the first full roll was killed by its"
    "  15 min limit; the second succeeded (996 s at load 20, per-instance loss measured) but the test then failed on"
    "  comparing br-int flows before/after, which a controller's moving ports change (assertion changed, not re-run)"
    "tests/integration/cloud/ (modules and roles against Nova, instances with ports): not yet run to the end on the new lab"
    "tests/integration/lab/test_lab_cloud.py, test_lab_hosts.py, test_zz_teardown.py: not yet run on the new lab"
)

mode=proven
if [ "${1:-}" = --all ]; then
    mode=all
    shift
fi
backends=${NDU_INTEGRATION_BACKENDS:-ovn ovs}
py="$top/.venv/bin/python"
if [ "$mode" = proven ]; then
    echo "integration: the tests proven on the new lab; not run here (tools/integration.sh --all runs them):"
    printf '  %s\n' "${NOT_YET[@]}"
fi
for backend in $backends; do
    case $backend in
        ovn) if [ "$mode" = all ]; then targets=(tests/integration --ignore tests/integration/faults); else targets=("${PROVEN_OVN[@]}"); fi ;;
        ovs) if [ "$mode" = all ]; then targets=("tests/integration/rolling/test_rolling_roll.py::test_full_roll_with_instances");
             else targets=("${PROVEN_OVS[@]}"); fi ;;
        *) echo "integration: unknown backend '$backend' (ovn or ovs)" >&2; exit 2 ;;
    esac
    echo "integration: on the $backend lab: ${targets[*]}"
    rc=0
    NDU_LAB_NETWORK_WANTED=$backend "$py" -m pytest "${targets[@]}" "$@" || rc=$?
    if [ -e /var/lib/ndu-lab/lab.json ]; then
        echo "integration: taking the $backend lab down"
        "$py" tests/lab/labctl.py down || { [ "$rc" -ne 0 ] || rc=1; }  # labctl takes the lab lock itself
    fi
    [ "$rc" -eq 0 ] || exit "$rc"
done
