# SPDX-License-Identifier: Apache-2.0
"""How the ndu lab plugs an instance into br-int, as os-vif would (no Nova imports).

The lab virt driver (labfake.py) calls these; labctl copies this module next
to it into the venvs' ``nova/virt/``. Pure functions build names, OVS
external_ids and the command lists; ``plug``/``unplug`` run them.

An instance is a network namespace ``vm-<instance uuid>`` with one veth per
port: the inner end ``eth0`` carries the port's MAC, fixed IP and MTU, the
outer end ``tap<port id[:11]>`` (os-vif's name) is a port of br-int with the
external_ids a controller looks for (``iface-id`` = Neutron port id,
``attached-mac``, ``vm-uuid``, ``iface-status``). ovn-controller claims the
port by its iface-id; neutron-openvswitch-agent finds it the same way. A UDP
responder (``ndu-lab-responder serve``) runs in the namespace as the transient
unit ``ndu-lab-vm-<uuid>.service``.
"""
from __future__ import annotations

import ipaddress
import os
import subprocess
from typing import Any, Callable, Sequence

BRIDGE = "br-int"
NIC = "eth0"
RESPONDER = "/usr/local/sbin/ndu-lab-responder"
RESPONDER_PORT = 40001
Runner = Callable[[Sequence[str], bool], subprocess.CompletedProcess]


class PlugError(RuntimeError):
    """A plug or unplug step failed; the message names the command."""


def tap_name(port_id: str) -> str:
    """os-vif's device name for a port: ``tap`` + the first 11 characters of its id."""
    return ("tap" + port_id)[:14]


def netns_name(instance_uuid: str) -> str:
    return f"vm-{instance_uuid}"


def responder_unit(instance_uuid: str) -> str:
    return f"ndu-lab-vm-{instance_uuid}.service"


def external_ids(port_id: str, mac: str, instance_uuid: str) -> dict[str, str]:
    return {
        "iface-id": port_id,
        "attached-mac": mac,
        "vm-uuid": instance_uuid,
        "iface-status": "active",
    }


def vif_facts(vif: Any) -> dict[str, Any]:
    """What a plug needs out of one Nova VIF (network_info entry, dict-like)."""
    network = vif.get("network") or {}
    subnets = network.get("subnets") or []
    ip = prefixlen = gateway = None
    for subnet in subnets:
        ips = subnet.get("ips") or []
        if ips and ipaddress.ip_network(subnet["cidr"]).version == 4:
            ip = ips[0]["address"]
            prefixlen = ipaddress.ip_network(subnet["cidr"]).prefixlen
            gw = subnet.get("gateway") or {}
            gateway = gw.get("address") if isinstance(gw, dict) else None
            break
    meta = network.get("meta") or {}
    return {
        "port_id": vif["id"],
        "mac": vif["address"],
        "ip": ip,
        "prefixlen": prefixlen,
        "gateway": gateway,
        "mtu": meta.get("mtu"),
        "bridge": network.get("bridge") or BRIDGE,
    }


def plug_commands(instance_uuid: str, facts: dict[str, Any]) -> list[list[str]]:
    """Idempotent once the namespace and the veth exist: the caller skips the
    creating commands when they do (see ``plug``)."""
    ns = netns_name(instance_uuid)
    tap = tap_name(facts["port_id"])
    inner = ["ip", "netns", "exec", ns]
    cmds = [[*inner, "ip", "link", "set", NIC, "address", facts["mac"]]]
    if facts.get("mtu"):
        cmds.append([*inner, "ip", "link", "set", NIC, "mtu", str(facts["mtu"])])
        cmds.append(["ip", "link", "set", tap, "mtu", str(facts["mtu"])])
    if facts.get("ip"):
        cmds.append([*inner, "ip", "addr", "replace", f"{facts['ip']}/{facts['prefixlen']}", "dev", NIC])
    cmds += [
        [*inner, "ip", "link", "set", "lo", "up"],
        [*inner, "ip", "link", "set", NIC, "up"],
        # The userspace datapath leaves checksums to the NIC: without this
        # ping passes but UDP is dropped.
        [*inner, "ethtool", "-K", NIC, "tx", "off"],
        ["ip", "link", "set", tap, "up"],
        ovs_add_port_command(facts["bridge"], tap, external_ids(facts["port_id"], facts["mac"], instance_uuid)),
    ]
    return cmds


def ovs_add_port_command(bridge: str, tap: str, ids: dict[str, str]) -> list[str]:
    cmd = ["ovs-vsctl", "--timeout=30", "--may-exist", "add-port", bridge, tap,
           "--", "set", "Interface", tap]
    cmd += [f'external_ids:{key}="{value}"' for key, value in ids.items()]
    return cmd


def responder_command(instance_uuid: str, port: int = RESPONDER_PORT) -> list[str]:
    return ["systemd-run", "--unit", responder_unit(instance_uuid), "--collect",
            "--property=Restart=always", "--property=RestartSec=1",
            "ip", "netns", "exec", netns_name(instance_uuid), "/usr/bin/python3", RESPONDER,
            "serve", "--port", str(port)]


def find_taps_command(instance_uuid: str) -> list[str]:
    return ["ovs-vsctl", "--timeout=30", "--bare", "--columns=name", "find", "Interface",
            f'external_ids:vm-uuid="{instance_uuid}"']


def _default_run(cmd: Sequence[str], check: bool) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, check=False)
    if check and proc.returncode != 0:
        raise PlugError(f"'{' '.join(cmd)}' exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()}")
    return proc


def netns_exists(instance_uuid: str) -> bool:
    return os.path.exists(f"/run/netns/{netns_name(instance_uuid)}")


def plug(instance_uuid: str, vifs: list[Any], run: Runner = _default_run) -> list[str]:
    """Plug every VIF of an instance (idempotent); return the taps."""
    ns = netns_name(instance_uuid)
    taps = []
    if not netns_exists(instance_uuid):
        run(["ip", "netns", "add", ns], True)
    for vif in vifs:
        facts = vif_facts(vif)
        tap = tap_name(facts["port_id"])
        if run(["ip", "link", "show", tap], False).returncode != 0:
            # One veth per port; a leftover inner eth0 (an earlier port) goes first.
            run(["ip", "netns", "exec", ns, "ip", "link", "del", NIC], False)
            run(["ip", "link", "add", tap, "type", "veth", "peer", "name", NIC, "netns", ns], True)
        for cmd in plug_commands(instance_uuid, facts):
            run(cmd, True)
        taps.append(tap)
        break  # the lab's instances have one port: eth0
    if taps and run(["systemctl", "is-active", "--quiet", responder_unit(instance_uuid)], False).returncode != 0:
        run(["systemctl", "reset-failed", responder_unit(instance_uuid)], False)
        run(responder_command(instance_uuid), True)
    return taps


def announce(instance_uuid: str, run: Runner = _default_run) -> None:
    """Gratuitous ARP from the guest, as a hypervisor sends after a live migration."""
    if netns_exists(instance_uuid):
        run(["ip", "netns", "exec", netns_name(instance_uuid), "/usr/bin/python3", RESPONDER,
             "garp", "--dev", NIC], False)


def unplug(instance_uuid: str, vifs: list[Any] | None = None, run: Runner = _default_run) -> list[str]:
    """Remove the instance's responder, br-int ports and namespace (idempotent)."""
    taps = {tap_name(vif_facts(v)["port_id"]) for v in (vifs or []) if v.get("id")}
    found = run(find_taps_command(instance_uuid), False)
    if found.returncode == 0:
        taps |= {line.strip() for line in found.stdout.split() if line.strip()}
    run(["systemctl", "stop", responder_unit(instance_uuid)], False)
    for tap in sorted(taps):
        run(["ovs-vsctl", "--timeout=30", "--if-exists", "del-port", BRIDGE, tap], True)
        run(["ip", "link", "del", tap], False)
    if netns_exists(instance_uuid):
        run(["ip", "netns", "del", netns_name(instance_uuid)], True)
    return sorted(taps)


def main(argv: list[str] | None = None) -> int:
    """``labvif.py plug|unplug NAME ...``: the same plug for an endpoint Nova does not
    know (the lab's probe namespace ``vm-probe`` on the probe-only chassis)."""
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="labvif", description=main.__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_plug = sub.add_parser("plug")
    p_plug.add_argument("name", help="the endpoint's name (namespace vm-NAME)")
    p_plug.add_argument("--port-id", required=True)
    p_plug.add_argument("--mac", required=True)
    p_plug.add_argument("--ip", required=True)
    p_plug.add_argument("--cidr", required=True)
    p_plug.add_argument("--mtu", type=int)
    sub.add_parser("unplug").add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "plug":
            vif = {"id": args.port_id, "address": args.mac,
                   "network": {"bridge": BRIDGE, "meta": {"mtu": args.mtu} if args.mtu else {},
                               "subnets": [{"cidr": args.cidr, "ips": [{"address": args.ip}]}]}}
            print(json.dumps({"taps": plug(args.name, [vif]), "namespace": netns_name(args.name)}))
        else:
            print(json.dumps({"taps": unplug(args.name)}))
    except PlugError as exc:
        print(f"labvif {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
