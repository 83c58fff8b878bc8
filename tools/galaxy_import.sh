#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Galaxy's own import checks (galaxy-importer, pinned in requirements-dev.txt) on the artifact that
# `make build` produces, offline and with ansible-test disabled (the sanity stage runs ansible-test).
# galaxy-importer exits 0 on warnings and on most lint findings; this script fails on any ERROR or
# WARNING line it logs, so the import would be clean on Galaxy / Automation Hub. The log is kept in
# build/galaxy-importer.log.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
version=$(sed -n 's/^version: *//p' galaxy.yml)
work=$(mktemp -d "${TMPDIR:-/tmp}/ndu-galaxy-import.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=build/galaxy-importer.log
mkdir -p build

ansible-galaxy collection build --force --output-path "$work" . >/dev/null
cat >"$work/galaxy-importer.cfg" <<CFG
[galaxy-importer]
run_ansible_test = false
run_ansible_lint = true
offline_ansible_lint = true
run_flake8 = false
check_changelog = true
tmp_root_dir = $work
ansible_local_tmp = $work/.ansible-tmp
CFG
echo "galaxy-importer: importing ndu-dataplane-$version.tar.gz (offline, ansible-test off)"
set +e
# HOME is a scratch one: a copy of this collection installed in ~/.ansible/collections (an older one, left by an
# EE or demo test) would be found before the artifact and fail its syntax check on modules it does not have yet.
mkdir -p "$work/home"
(cd "$work" && env -u ANSIBLE_CONFIG HOME="$work/home" GALAXY_IMPORTER_CONFIG="$work/galaxy-importer.cfg" \
    python -m galaxy_importer.main "ndu-dataplane-$version.tar.gz") >"$log" 2>&1
rc=$?
set -e
problems=$(grep -E '^(ERROR|WARNING)' "$log" || true)
if [ "$rc" -ne 0 ] || [ -n "$problems" ] || ! grep -q '^Importer processing completed successfully' "$log"; then
    cat "$log" >&2
    echo "galaxy-importer: the import is not clean (exit $rc; the ERROR/WARNING lines above, full log in $log)" >&2
    exit 1
fi
echo "galaxy-importer: no error, no warning ($(grep -c '^Loading' "$log") content items; log in $log)"
