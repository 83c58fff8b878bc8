# SPDX-License-Identifier: Apache-2.0
"""Disabled-reason marker: how this collection recognises its own disables.

Nova keeps one free-text ``disabled_reason`` per compute service. We prefix
the operator's reason with ``[ndu.dataplane]`` (and optionally a run tag) so
that enabling later can tell "we disabled this" from "someone else did".
Plain functions, no Ansible imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKER = "ndu.dataplane"
MAX_REASON_LENGTH = 255  # Nova's column size for disabled_reason
_TAG_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")
_PARSE_RE = re.compile(r"^\[" + re.escape(MARKER) + r"(?: (?P<tag>[^\]\s]+))?\] ?(?P<reason>.*)$", re.DOTALL)


@dataclass(frozen=True)
class ParsedReason:
    """A disabled reason written by this collection."""

    tag: str | None
    reason: str


def format_reason(reason: str, tag: str | None = None) -> str:
    """Return ``[ndu.dataplane <tag>] <reason>``, cut to Nova's 255 characters.

    Raises ValueError for a tag Nova or the parser could not round-trip.
    """
    if tag is not None and not _TAG_RE.match(tag):
        raise ValueError(f"reason tag '{tag}' must be 1-64 characters of letters, digits and _.:@-")
    head = f"[{MARKER} {tag}]" if tag else f"[{MARKER}]"
    text = f"{head} {reason.strip()}".rstrip()
    if len(text) > MAX_REASON_LENGTH:
        text = text[: MAX_REASON_LENGTH - 3] + "..."
    return text


def parse_reason(text: str | None) -> ParsedReason | None:
    """Return the parsed marker, or None when the reason is not ours."""
    if not text:
        return None
    match = _PARSE_RE.match(text.strip())
    if not match:
        return None
    return ParsedReason(tag=match.group("tag"), reason=match.group("reason"))


def is_ours(text: str | None, tag: str | None = None) -> bool:
    """True when ``text`` carries our marker (and ``tag``, when one is given)."""
    parsed = parse_reason(text)
    if parsed is None:
        return False
    return tag is None or parsed.tag == tag
