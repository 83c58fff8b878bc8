#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Integration tests against the lab (tests/integration/**/test_*.py), on both network backends:
#   1. every test on the ovn lab (the default backend); the teardown tests (last) take the lab down;
#   2. the full roll with instances again on an ML2/OVS lab (brought up here, taken down at the end), so a roll
#      with per-instance loss measured runs on both backends.
# The session fixture in tests/integration/conftest.py brings the lab up with the backend NDU_LAB_NETWORK_WANTED
# names (a running lab with the other one is taken down first). Exit 3 ("nothing to run yet") when there is no test.
# The fault-injection suite (tests/integration/faults) runs from tools/faults.sh.
#
#   tools/integration.sh [pytest args]     both passes
#   NDU_INTEGRATION_BACKENDS=ovn tools/integration.sh    only the first pass (ovs: only the second)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ -z "$(find tests/integration -name 'test_*.py' 2>/dev/null | head -1)" ]; then
    echo "integration: no tests under tests/integration yet"
    exit 3
fi
backends=${NDU_INTEGRATION_BACKENDS:-ovn ovs}
py="$top/.venv/bin/python"
for backend in $backends; do
    case $backend in
        ovn)
            echo "integration: every test on the ovn lab"
            NDU_LAB_NETWORK_WANTED=ovn "$py" -m pytest tests/integration --ignore tests/integration/faults "$@"
            ;;
        ovs)
            echo "integration: the full roll with instances on the ML2/OVS lab"
            rc=0
            NDU_LAB_NETWORK_WANTED=ovs "$py" -m pytest \
                "tests/integration/rolling/test_rolling_roll.py::test_full_roll_with_instances" "$@" || rc=$?
            echo "integration: taking the ML2/OVS lab down"
            "$py" tests/lab/labctl.py down || { [ "$rc" -ne 0 ] || rc=1; }  # labctl takes the lab lock itself
            [ "$rc" -eq 0 ] || exit "$rc"
            ;;
        *) echo "integration: unknown backend '$backend' (ovn or ovs)" >&2; exit 2 ;;
    esac
done
