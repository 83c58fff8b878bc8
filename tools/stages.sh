#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run the named make stages in order. Each prints its name, what it runs and
# how it ended; the first failure stops the run with a non-zero exit.
# A stage may exit 3 to say "nothing to run yet": reported, never a pass.
set -uo pipefail

declare -a summary=()
started=$(date +%s)
skipped=0

for stage in "$@"; do
    printf '\n==> stage %s: make %s\n' "$stage" "$stage"
    t0=$(date +%s)
    make --no-print-directory "$stage"
    rc=$?
    dt=$(( $(date +%s) - t0 ))
    case $rc in
        0) summary+=("  $stage: passed (${dt}s)") ;;
        3) summary+=("  $stage: nothing to run yet (${dt}s)"); skipped=$((skipped + 1)) ;;
        *)
            summary+=("  $stage: FAILED with exit $rc (${dt}s)")
            printf '\n==> stage %s failed (exit %d); later stages were not run.\n' "$stage" "$rc"
            printf '%s\n' "${summary[@]}"
            printf 'Re-run just this stage with: make %s\n' "$stage"
            exit 1
            ;;
    esac
done

printf '\n==> all stages done in %ss\n' "$(( $(date +%s) - started ))"
printf '%s\n' "${summary[@]}"
if [ "$skipped" -gt 0 ]; then
    printf '%d stage(s) had nothing to run yet (see above).\n' "$skipped"
fi
