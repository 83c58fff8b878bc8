#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run every molecule scenario (molecule/<name>/molecule.yml) on the lab's
# test-host images: Debian 13 (trixie, the lab's hosts) and Debian 12
# (bookworm, host_upgrade_bookworm). Exit 3 ("nothing to run yet") when there
# is no scenario.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

mapfile -t scenarios < <(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' 2>/dev/null | xargs -r -n1 basename | sort)
if [ ${#scenarios[@]} -eq 0 ]; then
    echo "molecule: no scenarios under molecule/ yet"
    exit 3
fi
echo "molecule: building or reusing the test-host images (trixie, bookworm)"
tests/lab/hosts/hostsctl image --suite trixie
tests/lab/hosts/hostsctl image --suite bookworm
# The lab's podman settings for this machine's quirks (only when detected).
while read -r setting; do [ -n "$setting" ] && export "${setting?}"; done < <(tests/lab/hosts/hostsctl env)
for scenario in "${scenarios[@]}"; do
    echo "molecule: molecule test -s $scenario"
    molecule test -s "$scenario"
done
echo "molecule: ${#scenarios[@]} scenario(s) passed: ${scenarios[*]}"
