# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the cloud-side integration tests (the ``lab`` fixture comes from tests/integration/conftest.py).

Every server these tests boot is named ``ndu-it-<run>-...`` and deleted at the end; services they disable are
re-enabled; the driver behaviour file is reset.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cloudhelpers import PREFIX, TEST_REASON, delete_servers, service, set_behaviour, set_service  # noqa: E402


@pytest.fixture(scope="session")
def prefix() -> str:
    return PREFIX


@pytest.fixture(scope="session")
def conn(lab: Any) -> Any:
    if len(lab.computes) < 3:
        pytest.skip("the cloud-side tests need a lab with at least 3 compute hosts")
    return lab.connect()


@pytest.fixture(scope="session")
def image_flavor(conn: Any) -> tuple[str, str]:
    image = conn.image.find_image("ndu-lab-image")
    flavor = conn.compute.find_flavor("ndu-lab-tiny")
    assert image is not None and flavor is not None, "labctl up must create ndu-lab-image and ndu-lab-tiny"
    return image.id, flavor.id


@pytest.fixture(scope="session")
def created(lab: Any, conn: Any) -> Iterator[list[str]]:
    """Server ids to delete at the end; services and behaviour are restored too."""
    ids: list[str] = []
    yield ids
    if not (lab.lab_dir / "driver").is_dir():
        return  # the teardown tests (last in the session) removed the lab, and with it all of the above
    set_behaviour(lab.lab_dir, {})
    delete_servers(conn, ids)
    for host in lab.computes:
        svc = service(conn, host)
        reason = svc.get("disabled_reason") or ""
        if svc["status"] == "disabled" and (reason.startswith("[ndu.dataplane") or reason == TEST_REASON):
            set_service(conn, host, "enabled")
