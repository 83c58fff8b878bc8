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
* instances are network endpoints (``labvif``): each instance's port is
  plugged into br-int as os-vif would (a namespace ``vm-<uuid>`` holding the
  port's MAC and IP, ``tap<port id[:11]>`` on br-int with iface-id,
  attached-mac, vm-uuid, iface-status) with a UDP responder inside. ``spawn``
  waits for Neutron's ``network-vif-plugged`` (the controller made the port
  ACTIVE) as the libvirt driver does; live migration plugs on the destination
  in ``pre_live_migration``, unplugs on the source once it completes and on the
  destination when it is rolled back or aborted; ``destroy`` unplugs; Nova's
  ``plug_vifs`` at nova-compute start re-plugs what runs here (restart, reboot).
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

try:  # copied next to this module into nova/virt/ by labctl
    from nova.virt import labvif
except ImportError:  # pragma: no cover - running from the source tree
    import labvif  # type: ignore[no-redef]

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

    # -- instances as network endpoints --------------------------------------

    def _plug(self, instance: Any, network_info: Any) -> None:
        vifs = list(network_info or [])
        if not vifs:
            return
        try:
            taps = labvif.plug(instance.uuid, vifs)
        except labvif.PlugError as exc:
            raise exception.VirtualInterfacePlugException(str(exc)) from exc
        LOG.info("Lab driver: plugged %s into br-int (%s)", instance.display_name, ", ".join(taps),
                 instance=instance)

    def _unplug(self, instance: Any, network_info: Any = None) -> None:
        try:
            taps = labvif.unplug(instance.uuid, list(network_info or []))
        except labvif.PlugError as exc:
            LOG.warning("Lab driver: unplugging %s failed: %s", instance.display_name, exc,
                        instance=instance)
            return
        if taps:
            LOG.info("Lab driver: unplugged %s (%s)", instance.display_name, ", ".join(taps),
                     instance=instance)

    def plug_vifs(self, instance: Any, network_info: Any) -> None:
        # nova-compute start (restart, host reboot): what Nova says runs here.
        self._plug(instance, network_info)

    def unplug_vifs(self, instance: Any, network_info: Any) -> None:
        self._unplug(instance, network_info)

    def spawn(self, context: Any, instance: Any, image_meta: Any, injected_files: Any,
              admin_password: Any, allocations: Any, network_info: Any = None,
              block_device_info: Any = None, power_on: bool = True, accel_info: Any = None) -> None:
        if network_info:
            # As the libvirt driver: wait for the ports Neutron reports as not
            # active yet to become ACTIVE (network-vif-plugged) once plugged.
            events = [("network-vif-plugged", vif["id"]) for vif in network_info
                      if vif.get("active", True) is False]
            timeout = CONF.vif_plugging_timeout if events else 0

            def failed(event_name: str, inst: Any) -> None:
                msg = (f"Lab driver: Neutron reported {event_name} for {inst.display_name}; "
                       "the port did not become ACTIVE")
                if CONF.vif_plugging_is_fatal:
                    raise exception.VirtualInterfaceCreateException(msg)
                LOG.warning(msg, instance=inst)

            try:
                with self.virtapi.wait_for_instance_event(instance, events, timeout=timeout,
                                                          error_callback=failed):
                    self._plug(instance, network_info)
            except exception.InstanceEventTimeout:
                LOG.warning("Lab driver: %s: no network-vif-plugged within %ss (the controller "
                            "never made the port ACTIVE)", instance.display_name, timeout,
                            instance=instance)
                if CONF.vif_plugging_is_fatal:
                    self._unplug(instance, network_info)
                    raise exception.VirtualInterfaceCreateException()
            except Exception:
                self._unplug(instance, network_info)
                raise
        super().spawn(context, instance, image_meta, injected_files, admin_password, allocations,
                      network_info=network_info, block_device_info=block_device_info,
                      power_on=power_on, accel_info=accel_info)

    def destroy(self, context: Any, instance: Any, network_info: Any, block_device_info: Any = None,
                destroy_disks: bool = True, destroy_secrets: bool = True) -> None:
        # Also the source's post_live_migration (network_info None): unplug by vm-uuid.
        self._unplug(instance, network_info)
        super().destroy(context, instance, network_info, block_device_info=block_device_info,
                        destroy_disks=destroy_disks, destroy_secrets=destroy_secrets)

    def check_can_live_migrate_destination(self, context: Any, instance: Any, src_compute_info: Any,
                                           dst_compute_info: Any, block_migration: bool = False,
                                           disk_over_commit: bool = False) -> Any:
        data = super().check_can_live_migrate_destination(
            context, instance, src_compute_info, dst_compute_info, block_migration=block_migration,
            disk_over_commit=disk_over_commit)
        # Not a shared instance path (shared block storage stays): Nova then calls
        # rollback_live_migration_at_destination after a failed or aborted
        # migration, where the destination's plug is undone (upstream's fake
        # says shared, and Nova skips the destination's clean-up).
        data.is_shared_instance_path = False
        return data

    def pre_live_migration(self, context: Any, instance: Any, block_device_info: Any,
                           network_info: Any, disk_info: Any, migrate_data: Any) -> Any:
        # Destination: the guest's port exists here before the move, as with libvirt.
        self._plug(instance, network_info)
        return super().pre_live_migration(context, instance, block_device_info, network_info,
                                          disk_info, migrate_data)

    def rollback_live_migration_at_destination(self, context: Any, instance: Any, network_info: Any,
                                               block_device_info: Any, destroy_disks: bool = True,
                                               migrate_data: Any = None) -> None:
        # Destination, after a failed or aborted migration: the guest stays on the source.
        self._unplug(instance, network_info)
        return super().rollback_live_migration_at_destination(
            context, instance, network_info, block_device_info, destroy_disks=destroy_disks,
            migrate_data=migrate_data)

    def post_live_migration_at_source(self, context: Any, instance: Any, network_info: Any) -> None:
        # Source, once the migration completed: the guest left.
        self._unplug(instance, network_info)

    def post_live_migration_at_destination(self, context: Any, instance: Any, network_info: Any,
                                           block_migration: bool = False,
                                           block_device_info: Any = None) -> None:
        # Destination, once the migration completed: already plugged in
        # pre_live_migration (re-plug is a no-op); the guest announces itself.
        self._plug(instance, network_info)
        labvif.announce(instance.uuid)
        super().post_live_migration_at_destination(context, instance, network_info,
                                                   block_migration=block_migration,
                                                   block_device_info=block_device_info)

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
