# SPDX-License-Identifier: Apache-2.0
"""Make the checkout importable as ``ansible_collections.ndu.dataplane``.

Unit tests import plugins exactly as Ansible does. ``make collection-link``
creates build/collections/ansible_collections/ndu/dataplane -> checkout; when
that link is missing (pytest run on its own) we create it here.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "build" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "ndu" / "dataplane"

if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(REPO, LINK)

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
