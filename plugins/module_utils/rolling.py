# SPDX-License-Identifier: Apache-2.0
"""Pure logic of the rolling upgrade: input checks, batches, per-host plan.

The playbook ``ndu.dataplane.rolling_upgrade`` reads the cloud and every host,
then asks these functions (through the ``rolling_*`` filters) what to do:
which input is wrong, how the hosts split into batches, whether a host is
already done, must resume or roll, and which strategy it gets and why.
The report and its summary live in ``rolling_report.py``. Plain functions,
no Ansible imports, so unit tests call them directly.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

STRATEGIES = ("evacuate", "in_place", "auto")
SEAMLESS_MODES = ("ndu", "flow_preserving")
# Ansible's ``serial`` reads a percentage with int(): "12.5%" stops the play, so the planner refuses it too.
_PERCENT = re.compile(r"^\s*(\d+)\s*%\s*$")
_DECIMAL_PERCENT = re.compile(r"^\s*\d*\.\d+\s*%\s*$")


def _serial_items(serial: Any) -> list[Any]:
    if isinstance(serial, (list, tuple)):
        return list(serial)
    return [serial]


def serial_error(serial: Any) -> str | None:
    """Return why ``serial`` is not a usable batch size, or None when it is."""
    items = _serial_items(serial)
    if serial is None or serial == "" or not items:
        return "ndu_serial is empty: give a batch size (e.g. 1), a percentage ('25%') or a list ([1, 2, '25%'])"
    for item in items:
        if isinstance(item, bool):
            return f"ndu_serial item {item!r} is a boolean, not a batch size"
        if isinstance(item, int):
            if item < 1:
                return f"ndu_serial item {item} must be at least 1 (0 would mean every host at once)"
            continue
        if isinstance(item, str):
            text = item.strip()
            if text.isdigit():
                if int(text) < 1:
                    return f"ndu_serial item '{item}' must be at least 1 (0 would mean every host at once)"
                continue
            match = _PERCENT.match(text)
            if match and 0 < int(match.group(1)) <= 100:
                continue
            if _DECIMAL_PERCENT.match(text):
                return f"ndu_serial item {item!r} is not a whole percentage: Ansible's serial takes whole numbers ('12%', not '12.5%')"
        return f"ndu_serial item {item!r} is neither a positive number of hosts nor a percentage between 0 and 100"
    return None


def batch_sizes(total: int, serial: Any) -> list[int]:
    """Sizes of the batches Ansible makes of ``total`` hosts with ``serial`` (the last item repeats)."""
    sizes: list[int] = []
    items = _serial_items(serial)
    left, index = total, 0
    while left > 0:
        item = items[min(index, len(items) - 1)]
        text = str(item).strip()
        match = _PERCENT.match(text)
        size = int(int(match.group(1)) / 100.0 * total) if match else int(text)
        size = max(1, min(size, left))
        sizes.append(size)
        left -= size
        index += 1
    return sizes


def batches(hosts: Iterable[str], serial: Any) -> list[list[str]]:
    """Split ``hosts`` (in order) into the batches a play with ``serial`` runs."""
    ordered = list(hosts)
    out: list[list[str]] = []
    start = 0
    for size in batch_sizes(len(ordered), serial):
        out.append(ordered[start:start + size])
        start += size
    return out


def validate(params: dict[str, Any]) -> list[str]:
    """Every problem with the roll's input, as sentences; empty when it is fine.

    ``params``: strategy, serial, max_fail_percentage, hosts_pattern, hosts
    (inventory names matched), nova_hosts (inventory name -> Nova host),
    known_nova_hosts (from os-services, None when not read), target_version.
    """
    errors: list[str] = []
    strategy = params.get("strategy")
    if strategy not in STRATEGIES:
        errors.append(f"ndu_strategy '{strategy}' is unknown: use one of {', '.join(STRATEGIES)}")
    problem = serial_error(params.get("serial"))
    if problem:
        errors.append(problem)
    budget = params.get("max_fail_percentage")
    try:
        if isinstance(budget, bool) or not 0 <= float(budget) <= 100:
            raise ValueError
    except (TypeError, ValueError):
        errors.append(f"ndu_max_fail_percentage {budget!r} must be a number from 0 to 100")
    if not str(params.get("target_version") or "").strip():
        errors.append("ndu_target_version is empty: use 'latest' or one exact package version")
    hosts = list(params.get("hosts") or [])
    if not hosts:
        errors.append(f"ndu_hosts '{params.get('hosts_pattern')}' matches no host in the inventory")
    known = params.get("known_nova_hosts")
    if known is not None and hosts:
        nova_hosts = params.get("nova_hosts") or {}
        missing = [f"{host} (Nova host '{nova_hosts.get(host) or host}')" for host in hosts if (nova_hosts.get(host) or host) not in known]
        if missing:
            errors.append(f"Nova has no nova-compute service for {', '.join(missing)}; "
                          f"Nova knows {', '.join(sorted(known)) or 'no compute host'}")
    return errors


def switchover_mode(facts: dict[str, Any], requested: str, ndu_supported: bool) -> str:
    """The switch-over the ovs_reload role will do on this host (what its ``auto`` picks)."""
    if not (facts.get("packages", {}).get("upgrade_needed") or facts.get("switchover_needed")):
        return "none"
    if requested != "auto":
        return requested
    return "ndu" if "doca" in (facts.get("datapath_types") or []) and ndu_supported else "flow_preserving"


def choose_strategy(requested: str, facts: dict[str, Any], mode: str, reboot_force: bool) -> tuple[str, str]:
    """Return (strategy, why) for one host. Raises ValueError when in_place is asked for but unsafe."""
    blockers = []
    if reboot_force:
        blockers.append("a reboot is forced (ndu_reboot_force)")
    for reason in facts.get("reboot_reasons") or []:
        blockers.append(f"a reboot is pending ({reason})")
    if mode not in SEAMLESS_MODES + ("none",):
        blockers.append(f"the switch-over would be '{mode}', which drops flows")
    if facts.get("vhostuser_ports"):
        blockers.append(f"vhost-user server-mode ports ({', '.join(facts['vhostuser_ports'])}) do not survive a switch-over")
    if requested == "evacuate":
        return "evacuate", "requested (ndu_strategy=evacuate)"
    if requested == "in_place":
        if blockers:
            raise ValueError(f"ndu_strategy=in_place is not safe on {facts.get('host')}: {'; '.join(blockers)}; use evacuate or auto")
        return "in_place", f"requested (ndu_strategy=in_place); switch-over '{mode}' keeps the flows"
    if blockers:
        return "evacuate", "auto: " + "; ".join(blockers)
    return "in_place", f"auto: no reboot needed and the switch-over '{mode}' keeps the flows, so instances stay"


def host_action(facts: dict[str, Any], migrate_back: bool) -> tuple[str, list[str]]:
    """Return ('skip' | 'roll' | 'resume', reasons) for one host from what the cloud and the host say."""
    service = facts.get("service") or {}
    packages = facts.get("packages") or {}
    resume: list[str] = []
    if service.get("status") == "disabled" and service.get("ours"):
        resume.append(f"nova-compute is disabled by us ({service.get('disabled_reason')})")
    if facts.get("state"):
        resume.append(f"a roll to {facts['state'].get('target_version')} started at {facts['state'].get('started')} did not finish")
    if facts.get("policy_left"):
        resume.append("our policy-rc.d is still installed")
    if facts.get("switchover_needed"):
        resume.append("ovs-vswitchd still runs a replaced binary")
    if migrate_back and facts.get("origin_elsewhere"):
        resume.append(f"{len(facts['origin_elsewhere'])} instance(s) moved off it are not back")
    only_record = resume and len(resume) == 1 and facts.get("state") and not packages.get("upgrade_needed")
    if resume and not only_record:
        return "resume", resume
    if packages.get("upgrade_needed"):
        target = sorted({c["to"] for c in (packages.get("changes") or {}).values()})
        return "roll", [f"Open vSwitch changes to {', '.join(target)}"]
    target = sorted(set((packages.get("target") or {}).values()))
    state = "enabled" if service.get("status") == "enabled" else f"disabled by someone else ({service.get('disabled_reason')})"
    left = "; the record an interrupted run left on it is removed" if only_record else ""
    return "skip", [f"already at {', '.join(target) or 'the target'} and nova-compute is {state}: nothing to do{left}"]


def plan(facts_list: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """The roll: per host action, strategy, switch-over and instances; batches of the hosts to roll.

    ``params``: strategy, serial, reload_mode, ndu_supported, reboot_force, migrate_back, target_host,
    services (os-services list: host, status, state). Raises ValueError for a host in_place cannot serve.
    """
    hosts: dict[str, Any] = {}
    errors: list[str] = []
    for facts in facts_list:
        name = facts["host"]
        action, reasons = host_action(facts, params.get("migrate_back", False))
        mode = switchover_mode(facts, params.get("reload_mode", "auto"), params.get("ndu_supported", False))
        try:
            strategy, why = choose_strategy(params["strategy"], facts, mode, params.get("reboot_force", False))
        except ValueError as err:
            errors.append(str(err))
            continue
        if strategy == "evacuate" and action != "skip" and facts.get("evacuate_error"):
            errors.append(f"{name} cannot be evacuated: {facts['evacuate_error']}")
            continue
        hosts[name] = {
            "nova_host": facts.get("nova_host", name), "action": action, "reasons": reasons,
            "strategy": strategy, "strategy_reason": why, "switchover": mode,
            "packages": (facts.get("packages") or {}).get("changes") or {},
            "instances": [] if action == "skip" else [dict(i) for i in facts.get("instances") or []],
        }
    if errors:
        raise ValueError("; ".join(errors))
    todo = [f["host"] for f in facts_list if hosts[f["host"]]["action"] != "skip"]
    split = batches(todo, params["serial"]) if todo else []
    services = params.get("services") or []
    for number, batch in enumerate(split, start=1):
        nova_batch = {hosts[h]["nova_host"] for h in batch}
        receivers = sorted(s["host"] for s in services
                           if s.get("status") == "enabled" and s.get("state") == "up" and s["host"] not in nova_batch)
        for name in batch:
            entry = hosts[name]
            entry["batch"] = number
            entry["receivers"] = [params["target_host"]] if params.get("target_host") else receivers
            for inst in entry["instances"]:
                moving = entry["strategy"] == "evacuate" and inst.get("method", "live") != "leave"
                inst["to"] = (params.get("target_host") or "scheduler: " + (", ".join(receivers) or "NO HOST FREE")) if moving else None
    moving = sum(1 for h in hosts.values() if h["strategy"] == "evacuate" for i in h["instances"] if i.get("to"))
    return {
        "batches": split, "hosts": hosts,
        "totals": {"hosts": len(hosts), "to_roll": len(todo), "skipped": len(hosts) - len(todo), "instances_to_move": moving},
    }


def plan_or_refusal(facts_list: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """:func:`plan` with ``refused``: None for a plan that can run, else the one sentence that says why not (the
    playbook prints it from a ``fail`` task, so the operator reads it without Ansible's wrapping)."""
    try:
        the_plan = plan(facts_list, params)
    except (KeyError, ValueError) as err:
        return {"refused": f"The rolling upgrade did not start, nothing was changed: {str(err).strip('.')}. "
                           "Next: correct that (ndu_strategy, the host, or the instances on it) and run again.",
                "batches": [], "hosts": {}, "totals": {"hosts": 0, "to_roll": 0, "skipped": 0, "instances_to_move": 0}}
    the_plan["refused"] = None
    return the_plan


def plan_lines(the_plan: dict[str, Any], check_mode: bool) -> list[str]:
    """The plan as lines a person reads (what --check prints)."""
    lines = [f"{'Plan (check mode: nothing will change)' if check_mode else 'Plan'}: "
             f"{the_plan['totals']['to_roll']} of {the_plan['totals']['hosts']} host(s) to roll in {len(the_plan['batches'])} batch(es), "
             f"{the_plan['totals']['instances_to_move']} instance(s) to move."]
    for number, batch in enumerate(the_plan["batches"], start=1):
        lines.append(f"Batch {number}/{len(the_plan['batches'])}: {', '.join(batch)}")
        for name in batch:
            h = the_plan["hosts"][name]
            pkgs = "; ".join(f"{p} {c['from']} -> {c['to']}" for p, c in sorted(h["packages"].items())) or "no package change"
            lines.append(f"  {name} ({h['action']}: {'; '.join(h['reasons'])})")
            lines.append(f"    strategy {h['strategy']} ({h['strategy_reason']}); switch-over {h['switchover']}; {pkgs}")
            for inst in h["instances"]:
                where = f"-> {inst['to']}" if inst.get("to") else "stays"
                lines.append(f"    instance {inst.get('name')} ({inst.get('id')}) {where}")
    for name, h in the_plan["hosts"].items():
        if h["action"] == "skip":
            lines.append(f"Skip {name}: {'; '.join(h['reasons'])}")
    return lines
