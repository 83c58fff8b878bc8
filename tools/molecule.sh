#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run every molecule scenario (molecule/<name>/molecule.yml) on the lab's
# test-host images: Debian 13 (trixie, the lab's hosts) and Debian 12
# (bookworm, host_upgrade_bookworm). Exit 3 ("nothing to run yet") when there
# is no scenario.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# Scenarios not yet proven on this lab's images: left out of `make test`
# (tools/molecule.sh --all runs them too). docs/lab.md says why.
unproven=(host_upgrade_bookworm)
all=false
[ "${1:-}" = --all ] && all=true
mapfile -t scenarios < <(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' 2>/dev/null | xargs -r -n1 basename | sort)
if ! $all; then
    for skip in "${unproven[@]}"; do
        for i in "${!scenarios[@]}"; do
            if [ "${scenarios[$i]}" = "$skip" ]; then
                echo "molecule: skipping $skip (not yet proven; tools/molecule.sh --all runs it)"
                unset 'scenarios[i]'
            fi
        done
    done
    scenarios=("${scenarios[@]}")
fi
if [ ${#scenarios[@]} -eq 0 ]; then
    echo "molecule: no scenarios under molecule/ yet"
    exit 3
fi
echo "molecule: building or reusing the test-host image(s)"
tests/lab/hosts/hostsctl image --suite trixie
if printf '%s\n' "${scenarios[@]}" | grep -qx host_upgrade_bookworm; then
    tests/lab/hosts/hostsctl image --suite bookworm
fi
# The lab's podman settings for this machine's quirks (only when detected).
while read -r setting; do [ -n "$setting" ] && export "${setting?}"; done < <(tests/lab/hosts/hostsctl env)
for scenario in "${scenarios[@]}"; do
    echo "molecule: molecule test -s $scenario"
    molecule test -s "$scenario"
done
echo "molecule: ${#scenarios[@]} scenario(s) passed: ${scenarios[*]}"
