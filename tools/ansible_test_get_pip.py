# SPDX-License-Identifier: Apache-2.0
"""Offline stand-in for the pip bootstrap script ansible-test downloads.

``ansible-test --venv`` creates empty virtualenvs and fetches get-pip.py from
ci-files.testing.ansible.com to put pip into them. That host is not reachable
from our CI (only PyPI is), so tools/sanity.sh places this file in
ansible-test's cache under the name it looks for. It does what get-pip does:
install pip (from the interpreter's bundled ensurepip wheel), then install the
requested packages (``pip==<version>`` pinned by ansible-test) from PyPI.
"""
from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
environment = dict(os.environ)
ensurepip.bootstrap()
# ensurepip points PIP_CONFIG_FILE at /dev/null in this process; the real
# install must see the machine's pip configuration (index, CA bundle).
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args], env=environment))
