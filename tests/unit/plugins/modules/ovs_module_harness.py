# SPDX-License-Identifier: Apache-2.0
"""Run one of the host-side modules' ``main()`` with given args and canned command output."""
from __future__ import annotations

from typing import Any, Callable
from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    """Raised instead of exiting; ``result`` holds what the module returned."""

    def __init__(self, result: dict[str, Any], failed: bool) -> None:
        super().__init__(result.get("msg", ""))
        self.result = result
        self.failed = failed


def run_module(main: Callable[[], None], args: dict[str, Any], commands: Callable[[list[str]], tuple[int, str, str]]) -> ModuleExit:
    """Call ``main`` with ``args``; ``commands(argv)`` answers every run_command."""
    calls: list[list[str]] = []

    def fake_run(self: basic.AnsibleModule, argv: list[str], **_kw: Any) -> tuple[int, str, str]:
        calls.append(list(argv))
        return commands(list(argv))

    def fake_exit(self: basic.AnsibleModule, **result: Any) -> None:
        raise ModuleExit(result, failed=False)

    def fake_fail(self: basic.AnsibleModule, msg: str, **result: Any) -> None:
        raise ModuleExit(dict(result, msg=msg), failed=True)

    with patch_module_args(args), \
            mock.patch.object(basic.AnsibleModule, "run_command", fake_run), \
            mock.patch.object(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: f"/usr/bin/{name}"), \
            mock.patch.object(basic.AnsibleModule, "exit_json", fake_exit), \
            mock.patch.object(basic.AnsibleModule, "fail_json", fake_fail):
        with pytest.raises(ModuleExit) as caught:
            main()
    caught.value.result["_calls"] = calls
    return caught.value
