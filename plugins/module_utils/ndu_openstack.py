# SPDX-License-Identifier: Apache-2.0
"""The private base class of the collection's OpenStack modules.

Builds an openstacksdk connection from ``cloud`` (clouds.yaml) or an ``auth``
dict, authenticates up front so bad credentials fail before anything
changes, and turns SDK, keystoneauth and Nova errors into one sentence a
person understands. Subclasses declare ``argument_spec`` and implement
``run()``; they reach Nova through ``self.nova`` (a NovaApi on the SDK's
proxies).

The openstacksdk minimum is stated once, here (``MIN_SDK_VERSION``); the docs
(doc fragment ``ndu.dataplane.openstack``, the inventory plugin, the README)
repeat it and a unit test keeps them in step.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import time
from typing import Any, NoReturn

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import ApiError, CloudTooOld, NovaApi

# The oldest openstacksdk with every proxy method NovaApi calls (fetch_resource_provider_usages came in 4.16.0).
MIN_SDK_VERSION = (4, 16, 0)
MIN_SDK = ".".join(str(p) for p in MIN_SDK_VERSION)


def sdk_version_problem(installed: str | None) -> str | None:
    """Why ``installed`` (openstacksdk's version string, None when absent) will not do, or None when it will."""
    if installed is None:
        return f"openstacksdk is not installed: install openstacksdk >= {MIN_SDK} on the host that runs this (pip install 'openstacksdk>={MIN_SDK}')"
    parts = [int(m.group()) for m in (re.match(r"\d+", piece) for piece in installed.split(".")[:3]) if m]
    if tuple(parts) < MIN_SDK_VERSION:
        return f"openstacksdk {installed} is too old: this collection needs openstacksdk >= {MIN_SDK}"
    return None


def installed_sdk_version() -> str | None:
    try:
        importlib.import_module("openstack")
        return importlib.metadata.version("openstacksdk")
    except (ImportError, importlib.metadata.PackageNotFoundError):
        return None


def openstack_argument_spec() -> dict[str, Any]:
    """The connection options of doc_fragment ``ndu.dataplane.openstack``."""
    return {
        "cloud": {"type": "str"},
        "auth": {"type": "dict", "no_log": True},
        "auth_type": {"type": "str"},
        "region_name": {"type": "str"},
        "interface": {"type": "str", "default": "public", "choices": ["admin", "internal", "public"], "aliases": ["endpoint_type"]},
        "validate_certs": {"type": "bool", "aliases": ["verify"]},
        "ca_cert": {"type": "path", "aliases": ["cacert"]},
        "api_timeout": {"type": "int"},
    }


def describe_error(err: Exception, cloud: str) -> str:
    """One sentence for an exception raised while talking to the cloud."""
    while type(err).__name__ == "SDKException" and (err.__cause__ or err.__context__) is not None:
        err = err.__cause__ or err.__context__  # type: ignore[assignment]  # authorize() wraps keystoneauth errors
    name = type(err).__name__
    text = str(err).split("\n", 1)[0][:300]
    if isinstance(err, ApiError) and err.status >= 500:
        return f"{err.call} failed in the cloud (HTTP {err.status}): {err.message}"
    if isinstance(err, ApiError):
        return f"{err.call} was refused (HTTP {err.status}): {err.message}"
    if name in ("Unauthorized", "InvalidCredentials") or getattr(err, "http_status", None) == 401:
        return f"the credentials for {cloud} were rejected by Keystone (HTTP 401); check clouds.yaml or the auth option"
    if name == "ConfigException":
        return f"{text} (check clouds.yaml, OS_CLOUD and OS_CLIENT_CONFIG_FILE)"
    if name in ("MissingRequiredOptions", "MissingAuthPlugin"):
        return f"the authentication settings for {cloud} are incomplete: {text}"
    if name in ("ConnectFailure", "ConnectTimeout", "ConnectionError", "DiscoveryFailure", "EndpointNotFound"):
        return f"{cloud} could not be reached: {text}"
    return f"{name}: {text}"


class NduOpenStackModule:
    """Base class: subclass, set ``argument_spec`` (and ``module_kwargs``), implement ``run``."""

    argument_spec: dict[str, Any] = {}
    module_kwargs: dict[str, Any] = {}
    api_factory = NovaApi  # unit tests swap in a fake cloud ...
    clock = time.monotonic  # ... and its clock
    sleep = time.sleep

    def __init__(self) -> None:
        spec = openstack_argument_spec()
        spec.update(self.argument_spec)
        self.ansible = AnsibleModule(argument_spec=spec, supports_check_mode=True, **self.module_kwargs)
        self.params: dict[str, Any] = self.ansible.params
        self.check_mode: bool = self.ansible.check_mode
        self.conn: Any = None
        self.nova: Any = None

    @property
    def cloud_name(self) -> str:
        """How error messages name the cloud (never with credentials)."""
        if self.params.get("cloud"):
            return f"cloud '{self.params['cloud']}'"
        if self.params.get("auth"):
            return "the cloud given by the auth option"
        if os.environ.get("OS_CLOUD"):
            return f"cloud '{os.environ['OS_CLOUD']}' (from OS_CLOUD)"
        return "the cloud of the OS_* environment"

    def connect(self) -> Any:
        """Return an authenticated openstacksdk Connection or fail with a sentence."""
        problem = sdk_version_problem(installed_sdk_version())
        if problem:
            self.fail(f"Failed to load openstacksdk: {problem}")
        sdk = importlib.import_module("openstack")
        options = {k: self.params[k] for k in ("cloud", "auth", "auth_type", "region_name", "interface", "api_timeout") if self.params[k] is not None}
        if self.params["validate_certs"] is not None:
            options["verify"] = self.params["validate_certs"]
        if self.params["ca_cert"]:
            options["cacert"] = self.params["ca_cert"]
        try:
            conn = sdk.connect(**options)
            conn.authorize()
        except Exception as err:  # pylint: disable=broad-except  # any SDK/keystoneauth error ends here
            self.fail(f"Failed to connect to {self.cloud_name}: {describe_error(err, self.cloud_name)}")
        return conn

    def fail(self, msg: str, **result: Any) -> NoReturn:
        self.ansible.fail_json(msg=msg, **result)
        raise AssertionError("fail_json returned")  # pragma: no cover

    def exit(self, changed: bool, **result: Any) -> NoReturn:
        self.ansible.exit_json(changed=changed, **result)
        raise AssertionError("exit_json returned")  # pragma: no cover

    def run(self) -> None:
        raise NotImplementedError

    def __call__(self) -> None:
        self.validate()
        self.conn = self.connect()
        self.nova = type(self).api_factory(self.conn)
        try:
            self.nova.check_versions()
        except CloudTooOld as err:
            self.fail(f"Failed to use {self.cloud_name}: {err}")
        except ApiError as err:
            self.fail(f"Failed to connect to {self.cloud_name}: {describe_error(err, self.cloud_name)}")
        try:
            self.run()
        except ApiError as err:
            self.fail(f"Failed to finish: Nova {describe_error(err, self.cloud_name)}")

    def validate(self) -> None:
        """Check option values before connecting; override to fail early on bad input."""
