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


def test_sdk_minimum_is_checked():
    from ansible_collections.ndu.dataplane.plugins.module_utils.ndu_openstack import MIN_SDK, sdk_version_problem

    assert MIN_SDK == "4.16.0"
    assert sdk_version_problem("4.16.0") is None and sdk_version_problem("4.22.0") is None and sdk_version_problem("5.0.0rc1") is None
    assert sdk_version_problem("4.15.2") == "openstacksdk 4.15.2 is too old: this collection needs openstacksdk >= 4.16.0"
    assert sdk_version_problem("1.0.0").startswith("openstacksdk 1.0.0 is too old")
    assert "not installed" in sdk_version_problem(None)


def test_sdk_minimum_is_the_one_the_docs_state():
    """The doc fragment and the inventory plugin name the same minimum as the code."""
    from ansible_collections.ndu.dataplane.plugins.doc_fragments.openstack import ModuleDocFragment
    from ansible_collections.ndu.dataplane.plugins.inventory import nova
    from ansible_collections.ndu.dataplane.plugins.module_utils.ndu_openstack import MIN_SDK

    for text in (ModuleDocFragment.DOCUMENTATION, nova.DOCUMENTATION):
        assert f"openstacksdk >= {MIN_SDK}" in text
        assert "openstacksdk >= 1." not in text
    from pathlib import Path

    ee = (Path(__file__).resolve().parents[4] / "meta" / "ee-requirements.txt").read_text()
    assert [line for line in ee.splitlines() if line.startswith("openstacksdk")] == [f"openstacksdk>={MIN_SDK}"]


def test_a_too_old_sdk_fails_before_connecting(monkeypatch, capsys, tmp_path):
    from ansible_collections.ndu.dataplane.plugins.module_utils import ndu_openstack

    monkeypatch.setattr(ndu_openstack, "installed_sdk_version", lambda: "4.2.0")
    result = run_real_connect(monkeypatch, capsys, tmp_path, {"cloud": "other"})
    assert result["failed"] and result["msg"] == "Failed to load openstacksdk: openstacksdk 4.2.0 is too old: this collection needs openstacksdk >= 4.16.0"


def test_a_cloud_below_the_required_microversion_fails_with_a_sentence(run_module, monkeypatch, cloud):
    from sdk_fake import sdk_connection

    old, _ = sdk_connection(cloud, max_microversion="2.60")
    result = run_module(ComputeService, {"host": "compute1", "state": "disabled"}, connect=lambda self: old)
    assert result["failed"] and not result.get("changed")
    assert result["msg"] == ("Failed to use cloud 'ndu-lab': the Compute API goes up to microversion 2.60; this collection needs 2.80 "
                             "(Nova 21, Ussuri, or newer)")
    assert cloud.service_map["compute1"]["status"] == "enabled"
