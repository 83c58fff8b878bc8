#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ansible-test sanity twice, each for this Python:
# 1. on what we ship: build the collection artifact, install it into a scratch
#    ansible_collections/ndu/dataplane tree outside this git checkout (inside it,
#    ansible-test would only see git-tracked files and skip everything under the
#    ignored build/), with the ignore entries for the files it holds;
# 2. on the repository tree (tests/, bench/, tools/, the lab: what a clone holds),
#    copied to a second scratch ansible_collections/ndu/dataplane, with every entry.
# tests/sanity/ignore-<core>.txt is the one ignore file; each entry says why.
# ansible-test's own tool venvs are cached under ~/.ansible/test (outside the
# clone), so only the first run on a machine downloads them.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
version=$(sed -n 's/^version: *//p' galaxy.yml)
python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# ansible-test's --venv fetches a pip bootstrap script from a host CI cannot
# reach; give it our offline equivalent under every name it may ask for.
ansible_test_pip=$(python3 -c 'import ansible_test._internal.python_requirements as r, types; print(r.get_venv_packages(types.SimpleNamespace(version="")).get("pip"))' 2>/dev/null || echo 24.2)
mkdir -p ~/.ansible/test/cache
cp tools/ansible_test_get_pip.py ~/.ansible/test/cache/"get_pip_${ansible_test_pip//./_}.py"

# One scratch tree per checkout, so two worktrees' sanity runs do not delete each other's tree.
scratch=${NDU_SANITY_DIR:-${TMPDIR:-/tmp}/ndu-dataplane-sanity-$(printf '%s' "$top" | sha256sum | cut -c1-8)}
rm -rf "$scratch"
ansible-galaxy collection build --force --output-path build/ . >/dev/null
ANSIBLE_COLLECTIONS_PATH="$scratch" ansible-galaxy collection install --no-deps --force -p "$scratch" \
    "build/ndu-dataplane-$version.tar.gz" >/dev/null
dest="$scratch/ansible_collections/ndu/dataplane"
# Every ignore entry must say why (an inline "# reason"): no silent skips.
for ignore in tests/sanity/ignore-*.txt; do
    [ -e "$ignore" ] || continue
    if grep -n -v -E '^[^#]+ +# +[^ ]' "$ignore"; then
        echo "sanity: the lines above in $ignore have no '# reason' comment" >&2
        exit 1
    fi
done
# The artifact's run gets the entries for the files it holds (the rest are the tree's, e.g. tests/ and bench/).
copy_ignores() {  # $1: the collection root of a scratch tree
    local ignore
    mkdir -p "$1/tests/sanity"
    for ignore in tests/sanity/ignore-*.txt; do
        [ -e "$ignore" ] || continue
        while IFS= read -r line; do
            if [ -e "$1/${line%% *}" ]; then printf '%s\n' "$line"; fi
        done <"$ignore" >"$1/$ignore"
    done
}
copy_ignores "$dest"
# What users get: the installed artifact must list its plugins in ansible-doc.
listed=$(cd "$scratch" && env -u ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH="$scratch" ansible-doc -l ndu.dataplane 2>&1 | grep -c '^ndu\.dataplane\.' || true)
shipped=$(find plugins/modules -name '*.py' ! -name '__init__.py' | wc -l)
if [ "$listed" -ne "$shipped" ]; then
    echo "sanity: ansible-doc -l ndu.dataplane lists $listed modules of the installed artifact, the tree has $shipped" >&2
    exit 1
fi
echo "sanity: the installed artifact lists all $listed modules in ansible-doc -l ndu.dataplane"
echo "sanity: 1/2 the artifact: ansible-test sanity --venv --python $python in $dest"
(cd "$dest" && ansible-test sanity --venv --python "$python" --color no)

# The repository tree: what git tracks or would track (not .venv/, build/, tests/output/), outside git so that
# ansible-test lists the files as they are; each one is checked, tests and lab tooling included.
tree="$scratch-tree/ansible_collections/ndu/dataplane"
rm -rf "$scratch-tree"
mkdir -p "$tree"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' path; do
    if [ -e "$path" ]; then printf '%s\0' "$path"; fi
done | tar --null -T - -cf - | tar -xf - -C "$tree"
echo "sanity: 2/2 the repository tree: ansible-test sanity --venv --python $python in $tree"
cd "$tree"
exec ansible-test sanity --venv --python "$python" --color no
