# SPDX-License-Identifier: Apache-2.0
"""The ndu lab's virt driver: Nova's fake live-migrate driver, made steerable.

labctl copies this module into the lab venv's ``nova/virt/`` (Nova loads
``compute_driver`` only as ``nova.virt.<value>``); nova.conf says
``compute_driver = labfake.LabFakeDriver``.

What it adds to ``nova.virt.fake.FakeLiveMigrateDriver``:

* a node identity that survives restarts: the node UUID is the one Nova keeps
  in ``$state_path/compute_id`` (as real drivers do), so a rebooted test host's
  nova-compute finds its compute node again;
* per-instance live-migration behaviour read from
  ``/etc/ndu-lab/driver/behaviour.json`` each time a migration starts (tests
  rewrite the file atomically; nothing restarts). Keys are server names
  (display names), instance UUIDs or ``"default"``; values::

      {"duration": 3.0, "mode": "ok"}     # completes after 3 s
      {"duration": 2.0, "mode": "fail"}   # fails after 2 s, rolls back (server stays ACTIVE on source)
      {"duration": 1.0, "mode": "error"}  # raises after 1 s (server goes to ERROR)
      {"mode": "hang"}                    # runs until aborted or forced

* abort and force-complete for one instance: the flags are kept per instance
  UUID, not per host as upstream does;
* a boot delay: a container boots in a second, a real compute host in
  minutes. After a reboot of its test host, ``init_host`` waits
  ``boot_delay`` seconds (``/etc/ndu-lab/driver/host.json``, default 20) before
  the service heartbeats again, so Nova sees the host go down and come back
  as it would in production. The first start of a new container is not delayed.
"""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import nova.conf
from nova import exception
from nova.compute import power_state
from nova.virt import fake
from nova.virt import node as virt_node
from oslo_log import log as logging

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF

BEHAVIOUR_FILE = os.environ.get("NDU_LAB_BEHAVIOUR_FILE", "/etc/ndu-lab/driver/behaviour.json")
DEFAULT_BEHAVIOUR: dict[str, Any] = {"duration": 2.0, "mode": "ok"}
MODES = ("ok", "fail", "error", "hang")
HANG_LIMIT = 3600.0  # a forgotten hang still ends, as a failure, after an hour


HOST_FILE = os.path.join(os.path.dirname(BEHAVIOUR_FILE), "host.json")
DEFAULT_BOOT_DELAY = 20.0
RECENT_BOOT = 120.0  # seconds since PID 1 started that count as "just booted"
BOOTED_MARKER = "ndu-lab-booted"


def boot_delay(path: str = HOST_FILE) -> float:
    try:
        with open(path) as fh:
            return max(0.0, float(json.load(fh).get("boot_delay", DEFAULT_BOOT_DELAY)))
    except FileNotFoundError:
        return DEFAULT_BOOT_DELAY
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        LOG.warning("Lab driver: cannot read %s (%s); boot delay %.0fs", path, exc, DEFAULT_BOOT_DELAY)
        return DEFAULT_BOOT_DELAY


def seconds_since_boot() -> float:
    """Age of PID 1 (the container's systemd), not of the machine's kernel."""
    with open("/proc/uptime") as fh:
        uptime = float(fh.read().split()[0])
    with open("/proc/1/stat") as fh:
        start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


class LabMigrationError(exception.NovaException):
    msg_fmt = "Lab driver: live migration of %(name)s failed on purpose (mode=error)"


def read_behaviour(instance: Any, path: str = BEHAVIOUR_FILE) -> dict[str, Any]:
    """The behaviour for `instance`: by display name, then UUID, then "default"."""
    try:
        with open(path) as fh:
            table = json.load(fh)
    except FileNotFoundError:
        table = {}
    except (OSError, ValueError) as exc:
        LOG.warning("Lab driver: cannot read %s (%s); using the default behaviour", path, exc)
        table = {}
    chosen = dict(DEFAULT_BEHAVIOUR)
    for key in ("default", instance.uuid, instance.display_name):
        entry = table.get(key) if key else None
        if isinstance(entry, dict):
            chosen.update(entry)
    if chosen.get("mode") not in MODES:
        LOG.warning("Lab driver: unknown mode %r for %s; using 'ok'", chosen.get("mode"),
                    instance.display_name)
        chosen["mode"] = "ok"
    try:
        chosen["duration"] = max(0.0, float(chosen.get("duration", 0)))
    except (TypeError, ValueError):
        chosen["duration"] = DEFAULT_BEHAVIOUR["duration"]
    return chosen


class LabFakeDriver(fake.FakeLiveMigrateDriver):
    """Fake live-migrate driver with a persistent node identity and a behaviour file."""

    def __init__(self, virtapi: Any, read_only: bool = False) -> None:
        super().__init__(virtapi, read_only)
        self._lab_lock = threading.Lock()
        # instance uuid -> "abort" | "force"
        self._lab_requests: dict[str, str] = {}

    # -- host start ---------------------------------------------------------

    def init_host(self, host: str) -> None:
        marker = os.path.join(CONF.state_path, BOOTED_MARKER)
        delay = boot_delay()
        if os.path.exists(marker) and delay and seconds_since_boot() < RECENT_BOOT:
            LOG.info("Lab driver: %s has just rebooted; the hypervisor comes up in %.0fs", host, delay)
            time.sleep(delay)
        with open(marker, "w") as fh:
            fh.write("nova-compute has started on this host before\n")
        super().init_host(host)

    # -- node identity ------------------------------------------------------

    def _node_uuid(self) -> str:
        return virt_node.get_local_node_uuid()

    def get_available_resource(self, nodename: str) -> dict[str, Any]:
        resources = super().get_available_resource(nodename)
        if resources:
            resources["uuid"] = self._node_uuid()
        return resources

    def get_nodenames_by_uuid(self, refresh: bool = False) -> dict[str, str]:
        return {self._node_uuid(): node for node in self.get_available_nodes()}

    # -- instances survive a test-host reboot ---------------------------------

    def get_info(self, instance: Any, use_cache: bool = True) -> Any:
        # A restarted nova-compute has an empty table; the lab's "VMs" are
        # persistent guests, so an instance Nova places here is running here.
        if instance.uuid not in self.instances and instance.host == self._host:
            self.instances[instance.uuid] = fake.FakeInstance(
                instance.name, power_state.RUNNING, instance.uuid)
        return super().get_info(instance, use_cache)

    # -- live migration -----------------------------------------------------

    def live_migration(self, context: Any, instance: Any, dest: str, post_method: Any,
                       recover_method: Any, block_migration: bool = False,
                       migrate_data: Any = None) -> None:
        behaviour = read_behaviour(instance)
        mode = behaviour["mode"]
        duration = behaviour["duration"]
        LOG.info("Lab driver: live migration of %s to %s: mode=%s duration=%.1fs",
                 instance.display_name, dest, mode, duration, instance=instance)
        with self._lab_lock:
            self._lab_requests.pop(instance.uuid, None)
        limit = HANG_LIMIT if mode == "hang" else duration
        started = time.monotonic()
        request = None
        while time.monotonic() - started < limit:
            with self._lab_lock:
                request = self._lab_requests.pop(instance.uuid, None)
            if request:
                break
            time.sleep(0.1)
        if request == "abort":
            LOG.info("Lab driver: live migration of %s aborted", instance.display_name,
                     instance=instance)
            recover_method(context, instance, dest, migrate_data, migration_status="cancelled")
            return
        if request == "force":
            LOG.info("Lab driver: live migration of %s forced to complete",
                     instance.display_name, instance=instance)
            post_method(context, instance, dest, block_migration, migrate_data)
            return
        if mode == "error":
            raise LabMigrationError(name=instance.display_name)
        if mode in ("fail", "hang"):
            LOG.info("Lab driver: live migration of %s failed on purpose; rolling back",
                     instance.display_name, instance=instance)
            recover_method(context, instance, dest, migrate_data, migration_status="failed")
            return
        post_method(context, instance, dest, block_migration, migrate_data)

    def live_migration_abort(self, instance: Any) -> None:
        with self._lab_lock:
            self._lab_requests[instance.uuid] = "abort"

    def live_migration_force_complete(self, instance: Any) -> None:
        with self._lab_lock:
            self._lab_requests[instance.uuid] = "force"
