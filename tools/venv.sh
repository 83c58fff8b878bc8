#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Create (once) the pinned development virtualenv and point .venv at it.
#
# The venv lives outside the clone, keyed by the hash of requirements-dev.txt,
# so a fresh clone (CI) reuses it instead of reinstalling ~400 MB of wheels.
# Re-running is cheap: a matching venv is only re-linked.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
req="$top/requirements-dev.txt"
python=${NDU_PYTHON:-python3}

hash=$("$python" -c 'import hashlib,sys,platform; d=open(sys.argv[1],"rb").read(); print(hashlib.sha256(d+platform.python_version().encode()).hexdigest()[:16])' "$req")
# The shared cache by default; a user who cannot write there (no root needed for `make build`) gets one of
# their own, unless the shared one already holds this venv.
cache=${NDU_CACHE:-/var/cache/ndu-dataplane}
if [ -z "${NDU_CACHE:-}" ] && [ ! -f "$cache/dev-venv-$hash/.complete" ] \
        && ! { mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; }; then
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/ndu-dataplane
    echo "venv: /var/cache/ndu-dataplane is not writable for $(id -un); using $cache"
fi
venv="$cache/dev-venv-$hash"

if [ ! -x "$venv/bin/ansible-playbook" ] || [ ! -f "$venv/.complete" ]; then
    echo "venv: creating $venv from requirements-dev.txt (a few minutes, once)"
    rm -rf "$venv"
    mkdir -p "$cache"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    touch "$venv/.complete"
else
    echo "venv: $venv is up to date"
fi

if [ -L "$top/.venv" ] || [ ! -e "$top/.venv" ]; then
    ln -sfn "$venv" "$top/.venv"
elif [ "$(readlink -f "$top/.venv")" != "$(readlink -f "$venv")" ]; then
    echo "venv: $top/.venv is a real directory, not a link to $venv;" >&2
    echo "      remove it (rm -rf .venv) and run 'make venv' again." >&2
    exit 1
fi
