# SPDX-License-Identifier: Apache-2.0
"""The on-host state files of the rolling upgrade, and their schema.

Two files in ``/var/lib/ndu-dataplane`` (the directory 0700, the files 0600, root):

* ``rolling-state.json``: a roll in progress. Written before the packages change: the versions from before, the
  target, when and with which strategy it started. A re-run finds it (resume, and a rollback that still knows where
  to go back to); it is removed once the host is back in a known state.
* ``rolling-last.json``: the last finished roll that changed the packages: the versions before and after, the target
  and when it finished. ``ndu.dataplane.rollback`` goes back to its ``versions_before``.

Both carry ``schema`` (``SCHEMAS``). Files written before the schema existed (no ``schema`` key, same fields) read as
version 1. The module ``ndu.dataplane.rolling_state`` is their only reader and writer. Plain functions, no Ansible
imports, so unit tests call them directly.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any

DIRECTORY = "/var/lib/ndu-dataplane"
STATE_FILE = "rolling-state.json"
LAST_FILE = "rolling-last.json"
SCHEMAS = {"state": "ndu.dataplane/rolling-state/v1", "last": "ndu.dataplane/rolling-last/v1"}
REQUIRED = {"state": ("target_version", "versions_before"), "last": ("versions_before",)}


class StateError(ValueError):
    """A state file that cannot be read or written; the message names the file and the cause."""


def parse(kind: str, path: str, text: str) -> dict[str, Any]:
    """The content of a state file of ``kind`` ('state' or 'last'), checked and brought to the current schema."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise StateError(f"Failed to read the roll record '{path}': it is not JSON ({err}); remove it if no roll runs") from err
    if not isinstance(data, dict):
        raise StateError(f"Failed to read the roll record '{path}': expected a JSON object, got {type(data).__name__}")
    schema = data.get("schema", SCHEMAS[kind])
    if schema != SCHEMAS[kind]:
        raise StateError(f"Failed to read the roll record '{path}': schema '{schema}' is not '{SCHEMAS[kind]}' "
                         "(written by another version of ndu.dataplane?)")
    missing = [key for key in REQUIRED[kind] if key not in data]
    if missing:
        raise StateError(f"Failed to read the roll record '{path}': it lacks {', '.join(missing)}")
    if not isinstance(data["versions_before"], dict):
        raise StateError(f"Failed to read the roll record '{path}': versions_before must be an object of package versions")
    return {**data, "schema": SCHEMAS[kind]}


def read(directory: str, kind: str) -> dict[str, Any] | None:
    path = os.path.join(directory, STATE_FILE if kind == "state" else LAST_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StateError(f"Failed to read the roll record '{path}': {err.strerror}") from err
    return parse(kind, path, text)


def state_document(target_version: str, versions_before: dict[str, str], started: int, strategy: str) -> dict[str, Any]:
    return {"schema": SCHEMAS["state"], "target_version": target_version, "versions_before": dict(versions_before),
            "started": int(started), "strategy": strategy}


def last_document(versions_before: dict[str, str], versions_after: dict[str, str], target_version: str, finished: int) -> dict[str, Any]:
    return {"schema": SCHEMAS["last"], "versions_before": dict(versions_before), "versions_after": dict(versions_after),
            "target_version": target_version, "finished": int(finished)}


def begin_needed(current: dict[str, Any] | None, target_version: str) -> bool:
    """A roll to ``target_version`` writes its record unless one for the same target is there (a resume keeps the
    versions from before the first attempt)."""
    return not current or current.get("target_version") != target_version


def finish_plan(versions_before: dict[str, str], versions_after: dict[str, str] | None) -> bool:
    """Whether a finished roll leaves a ``rolling-last.json``: only when the packages really changed."""
    return bool(versions_after) and dict(versions_after) != dict(versions_before)


def write(directory: str, kind: str, document: dict[str, Any]) -> str:
    """Write atomically (temporary file, rename), directory 0700 and file 0600."""
    path = os.path.join(directory, STATE_FILE if kind == "state" else LAST_FILE)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
        fd, tmp = tempfile.mkstemp(prefix=".ndu-", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as err:
        raise StateError(f"Failed to write the roll record '{path}': {err.strerror}") from err
    return path


def remove(directory: str, kind: str) -> bool:
    path = os.path.join(directory, STATE_FILE if kind == "state" else LAST_FILE)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as err:
        raise StateError(f"Failed to remove the roll record '{path}': {err.strerror}") from err
    return True
