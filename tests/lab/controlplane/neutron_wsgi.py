# SPDX-License-Identifier: Apache-2.0
"""uwsgi entry point for neutron-server's API in the ndu lab.

Neutron 29.0.0 answers the first ``GET /v2.0/ports`` of a fresh worker with
500 (``Port has no attribute 'port_forwardings'``) unless every SQLAlchemy
mapper is configured once the application and its plugins are loaded.
"""
from __future__ import annotations

from neutron.wsgi.api import application
from sqlalchemy import orm

orm.configure_mappers()

__all__ = ["application"]
