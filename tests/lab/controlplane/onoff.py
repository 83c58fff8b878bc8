# SPDX-License-Identifier: Apache-2.0
"""Stop, start or restart one control-plane process of a running lab (fault injection).

``labctl service stop|start|restart NAME`` uses these: the process is stopped by its
recorded PID (procs.stop: TERM, then KILL, never a recycled PID) and started again
exactly as ``labctl up`` starts it, then the caller waits for the lab to be healthy.
"""
from __future__ import annotations

from pathlib import Path

from . import Settings, services
from .procs import LabError, alive, stop

# What may be switched off and on: the services a roll talks to, directly or through Nova.
SWITCHABLE = ("nova-api", "nova-conductor", "nova-scheduler", "rabbitmq", "keystone",
              "placement-api", "glance-api", "neutron-api")


def check_name(name: str) -> None:
    if name not in SWITCHABLE:
        raise LabError(f"unknown lab service '{name}': choose one of {', '.join(SWITCHABLE)}")


def stop_service(settings: Settings, name: str) -> bool:
    """Stop `name` by its recorded PID; False when it was not running."""
    check_name(name)
    return stop(settings.pid_dir, name, timeout=30)


def start_service(settings: Settings, venv: Path, name: str) -> bool:
    """Start `name` as `labctl up` does and wait until it answers; False when it already ran."""
    check_name(name)
    if alive(settings.pid_dir, name):
        return False
    if name == "rabbitmq":
        services.ensure_rabbitmq(settings)
    elif name == "keystone":
        services.ensure_keystone(settings, venv)
    else:
        services.ensure_services(settings, venv)
    return True
