#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Integration tests against the lab (tests/integration/**/test_*.py); the
# session fixture in tests/integration/conftest.py brings the lab up when it
# is not healthy, and the teardown tests (last) take it down again.
# Exit 3 ("nothing to run yet") when there is no test.
# The fault-injection suite (tests/integration/faults) runs from tools/faults.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ -z "$(find tests/integration -name 'test_*.py' 2>/dev/null | head -1)" ]; then
    echo "integration: no tests under tests/integration yet"
    exit 3
fi

exec "$top/.venv/bin/python" -m pytest tests/integration --ignore tests/integration/faults "$@"
