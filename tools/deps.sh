#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install the Debian packages listed in every apt-packages.txt of the project
# (tools/, tests/lab/, ...) that are not installed yet. Needs root only when
# something is missing; services are never started by the install.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

mapfile -t wanted < <(find "$top/tools" "$top/tests" -name apt-packages.txt -print0 2>/dev/null \
    | xargs -0 -r cat | sed 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#wanted[@]} Debian packages present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages: ${missing[*]}" >&2
    echo "deps: run 'make deps' as root to install them." >&2
    exit 1
fi
echo "deps: installing ${missing[*]}"
# Do not let package scripts start services (mariadb, rabbitmq) system-wide:
# the lab runs its own private instances.
export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1
apt-get update -qq
policy=/usr/sbin/policy-rc.d
if [ -e "$policy" ]; then
    apt-get install -y -qq "${missing[@]}"
else
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
    apt-get install -y -qq "${missing[@]}"
fi
