# SPDX-License-Identifier: Apache-2.0
"""`make changelog`: fold the fragments into the release named by galaxy.yml's version.

antsibull-changelog lists the modules and plugins that are new in a release by itself ("New Modules", "New Plugins",
from their ``version_added``). A fragment entry that only describes such a new module or plugin would list it a
second time, so it is moved to ``trivial`` first (kept in changelog.yaml, not printed). The lab's own entries move
there too: the lab is test tooling, not part of the artifact. Everything else (roles, playbooks, behaviour, fixes)
stays as written. Then ``antsibull-changelog release`` (with ``--update-existing``, so fragments landed after the
release was cut are folded into the same version).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
FRAGMENTS = REPO / "changelogs" / "fragments"
NEW_PLUGIN = re.compile(r"^\s*(a )?new (module|filter|inventory plugin|stdout callback|callback)\b")


def plugin_names() -> set[str]:
    names = {p.stem for d in ("modules", "inventory", "callback", "lookup") for p in (REPO / "plugins" / d).glob("*.py")}
    names |= {p.stem for p in (REPO / "plugins" / "filter").glob("*.yml")}  # one sidecar doc per filter
    return names - {"__init__"}


def only_a_new_plugin(entry: str, names: set[str]) -> bool:
    head, sep, text = entry.partition(" - ")
    if not sep:
        return False
    head = re.sub(r"\s+(module|modules|filter|filters|inventory plugin|callback)$", "", head.strip())
    subjects = [s.strip() for s in re.split(r",\s*|\s+and\s+", head) if s.strip()]
    if head == "Lab":
        return True  # test tooling, not in the artifact
    if head == "ndu.dataplane" and "initial collection layout" in text:
        return True  # the repository's layout, nothing a user of the artifact gets
    if "building blocks" in head and "module" in text:
        return True  # describes new modules only
    return bool(subjects) and all(s in names for s in subjects) and (
        bool(NEW_PLUGIN.match(text)) or entry.split(" - ")[0].strip().endswith((" module", " filters", " filter")))


def fold() -> list[str]:
    names, moved = plugin_names(), []
    for path in sorted(FRAGMENTS.glob("*.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        changed = False
        for section in ("major_changes", "minor_changes"):
            keep = []
            for entry in data.get(section) or []:
                if only_a_new_plugin(str(entry), names):
                    data.setdefault("trivial", []).append(entry)
                    moved.append(f"{path.name}: {' '.join(str(entry).split())[:100]}")
                    changed = True
                else:
                    keep.append(entry)
            if section in data and not keep:
                del data[section]
            elif section in data:
                data[section] = keep
        if changed:
            path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False, width=120))
    return moved


def main() -> int:
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    for line in fold():
        print(f"changelog: to trivial (antsibull lists it, or not in the artifact): {line}")
    proc = subprocess.run(["antsibull-changelog", "release", "--version", str(version), "--update-existing"], cwd=REPO,
                          check=False)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
