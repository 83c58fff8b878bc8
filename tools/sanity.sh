#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ansible-test sanity on what we ship: build the collection artifact, install
# it into build/sanity/ansible_collections/ndu/dataplane (with our sanity
# ignore file, if any) and run every sanity test there for Python 3.11.
# ansible-test's own tool venvs are cached under ~/.ansible/test (outside the
# clone), so only the first run on a machine downloads them.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
version=$(sed -n 's/^version: *//p' galaxy.yml)
python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')

rm -rf build/sanity
ansible-galaxy collection build --force --output-path build/ . >/dev/null
ansible-galaxy collection install --no-deps --force -p build/sanity "build/ndu-dataplane-$version.tar.gz" >/dev/null
dest=build/sanity/ansible_collections/ndu/dataplane
if [ -d tests/sanity ]; then
    mkdir -p "$dest/tests" && cp -r tests/sanity "$dest/tests/"
fi
cd "$dest"
echo "sanity: ansible-test sanity --venv --python $python on $(pwd)"
exec ansible-test sanity --venv --python "$python" --color no
