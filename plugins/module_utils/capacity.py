# SPDX-License-Identifier: Apache-2.0
"""Capacity arithmetic: can the remaining hosts absorb a batch's instances?

Inputs are Placement inventories and usages per compute host plus the Nova
service state; outputs a per-resource-class table. No Ansible imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

DEFAULT_RESOURCE_CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB")


@dataclass(frozen=True)
class HostCapacity:
    """One compute host as Placement and os-services describe it."""

    name: str
    enabled: bool
    up: bool
    inventories: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    usages: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceRow:
    resource_class: str
    demand: int
    free: int
    headroom: int
    largest_free: int
    fits: bool


@dataclass(frozen=True)
class Assessment:
    rows: list[ResourceRow]
    receivers: list[str]
    fits: bool


def capacity_of(inventory: Mapping[str, float]) -> int:
    """Schedulable amount of one inventory: (total - reserved) * allocation_ratio."""
    total = float(inventory.get("total", 0))
    reserved = float(inventory.get("reserved", 0))
    ratio = float(inventory.get("allocation_ratio", 1.0))
    return int((total - reserved) * ratio)


def free_on(host: HostCapacity, resource_class: str) -> int:
    inventory = host.inventories.get(resource_class)
    if inventory is None:
        return 0
    return max(0, capacity_of(inventory) - int(host.usages.get(resource_class, 0)))


def assess(
    hosts: Iterable[HostCapacity],
    batch: Iterable[str],
    resource_classes: Iterable[str] = DEFAULT_RESOURCE_CLASSES,
    margin_percent: float = 0.0,
) -> Assessment:
    """Compare what the batch uses with what enabled, up hosts outside it have free.

    ``margin_percent`` keeps that share of the receivers' capacity in reserve.
    Raises ValueError for a batch host that is not in ``hosts``.
    """
    if margin_percent < 0 or margin_percent >= 100:
        raise ValueError(f"margin_percent must be in [0, 100), got {margin_percent}")
    by_name = {host.name: host for host in hosts}
    batch_names = list(dict.fromkeys(batch))
    unknown = [name for name in batch_names if name not in by_name]
    if unknown:
        raise ValueError(f"unknown compute host(s): {', '.join(sorted(unknown))}")
    receivers = [h for h in by_name.values() if h.enabled and h.up and h.name not in batch_names]
    rows = []
    for rc in resource_classes:
        demand = sum(int(by_name[name].usages.get(rc, 0)) for name in batch_names)
        frees = [free_on(h, rc) for h in receivers]
        reserve = sum(int(capacity_of(h.inventories[rc]) * margin_percent / 100) for h in receivers if rc in h.inventories)
        free = sum(frees) - reserve
        headroom = free - demand
        rows.append(ResourceRow(rc, demand, free, headroom, max(frees, default=0), headroom >= 0))
    return Assessment(rows=rows, receivers=sorted(h.name for h in receivers), fits=all(r.fits for r in rows))


def format_table(rows: Iterable[ResourceRow]) -> str:
    """Render rows as an aligned text table for an error message."""
    header = ("resource", "batch uses", "free elsewhere", "headroom", "fits")
    lines = [header] + [(r.resource_class, str(r.demand), str(r.free), str(r.headroom), "yes" if r.fits else "NO") for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in lines)
