# SPDX-License-Identifier: Apache-2.0
"""Attributes shared by the modules that only read the host (ovs_*_info, ovs_flow_snapshot, ovs_package_plan)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    description: The module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  idempotent:
    support: full
    description: It never changes anything.
"""
