# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

import pytest

from ansible_collections.ndu.dataplane.plugins.module_utils.reason_marker import (
    MAX_REASON_LENGTH, ParsedReason, format_reason, is_ours, parse_reason)


def test_format_without_tag():
    assert format_reason("dataplane upgrade") == "[ndu.dataplane] dataplane upgrade"


def test_format_with_tag_round_trips():
    text = format_reason("  OVS 3.1 upgrade ", tag="batch-2")
    assert text == "[ndu.dataplane batch-2] OVS 3.1 upgrade"
    assert parse_reason(text) == ParsedReason(tag="batch-2", reason="OVS 3.1 upgrade")


def test_format_truncates_to_nova_limit():
    text = format_reason("x" * 400)
    assert len(text) == MAX_REASON_LENGTH
    assert text.endswith("...") and is_ours(text)


@pytest.mark.parametrize("tag", ["", "with space", "a]b", "x" * 65])
def test_bad_tag_is_refused(tag):
    with pytest.raises(ValueError, match="reason tag"):
        format_reason("r", tag=tag)


@pytest.mark.parametrize("text", [None, "", "maintenance by ops", "[ndu.dataplanes] lookalike", "ndu.dataplane without brackets",
                                  "see [ndu.dataplane] later"])
def test_foreign_reasons_are_not_ours(text):
    assert parse_reason(text) is None
    assert not is_ours(text)


def test_is_ours_with_tag_filter():
    text = format_reason("r", tag="run1")
    assert is_ours(text) and is_ours(text, tag="run1")
    assert not is_ours(text, tag="run2")
    assert not is_ours(format_reason("r"), tag="run1")


def test_marker_alone_parses():
    assert parse_reason("[ndu.dataplane]") == ParsedReason(tag=None, reason="")
