# SPDX-License-Identifier: Apache-2.0
"""The base class's connection handling with the real openstacksdk (no cloud needed)."""
from __future__ import annotations

import json

from ansible_collections.ndu.dataplane.plugins.module_utils.ndu_openstack import describe_error, openstack_argument_spec
from ansible_collections.ndu.dataplane.plugins.module_utils.nova_api import ApiError
from ansible_collections.ndu.dataplane.plugins.modules.compute_service import ComputeService


class Unauthorized(Exception):
    http_status = 401


def test_auth_is_no_log():
    assert openstack_argument_spec()["auth"]["no_log"] is True


def test_describe_error_sentences():
    assert describe_error(Unauthorized("The request you have made requires authentication."), "cloud 'lab'") == (
        "the credentials for cloud 'lab' were rejected by Keystone (HTTP 401); check clouds.yaml or the auth option")
    assert describe_error(ApiError(409, "busy", "POST /servers/x/action"), "cloud 'lab'") == "POST /servers/x/action was refused (HTTP 409): busy"


def run_real_connect(monkeypatch, capsys, tmp_path, args):
    """Run compute_service with the real connect() and no fake cloud."""
    from ansible.module_utils.testing import patch_module_args
    import pytest

    (tmp_path / "clouds.yaml").write_text("clouds:\n  other:\n    auth: {auth_url: 'http://127.0.0.1:9/v3'}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    with patch_module_args({"host": "compute1", "state": "disabled", **args}):
        with pytest.raises(SystemExit):
            ComputeService()()
    return json.loads(capsys.readouterr().out)


def test_unknown_cloud_is_a_clear_error(monkeypatch, capsys, tmp_path):
    result = run_real_connect(monkeypatch, capsys, tmp_path, {"cloud": "nope"})
    assert result["failed"] and result["msg"].startswith("Failed to connect to cloud 'nope': ")
    assert "Cloud nope was not found" in result["msg"]


def test_unreachable_cloud_never_prints_the_password(monkeypatch, capsys, tmp_path):
    auth = {"auth_url": "http://127.0.0.1:9/v3", "username": "admin", "password": "s3cr3t-pw", "project_name": "admin",
            "user_domain_name": "Default", "project_domain_name": "Default"}
    result = run_real_connect(monkeypatch, capsys, tmp_path, {"auth": auth, "api_timeout": 2})
    assert result["failed"] and result["msg"].startswith("Failed to connect to the cloud given by the auth option: ")
    assert "could not be reached" in result["msg"]
    assert "s3cr3t-pw" not in json.dumps(result)
