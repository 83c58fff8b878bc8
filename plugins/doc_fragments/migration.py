# SPDX-License-Identifier: Apache-2.0
"""Options shared by host_evacuate and migrate_back: how migrations are run and watched."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  concurrency:
    description:
      - How many migrations run at the same time (across the whole call). At least 1.
    type: int
    default: 2
  timeout:
    description:
      - Seconds one migration may take before O(on_timeout) applies. Must be positive.
    type: int
    default: 600
  on_timeout:
    description:
      - What to do with a live migration that exceeds O(timeout).
      - V(abort) cancels it (the instance stays on its host, the call fails);
        V(force_complete) pauses the instance briefly so the copy converges;
        V(fail) stops waiting and fails, leaving the migration running in Nova.
    type: str
    choices: [abort, force_complete, fail]
    default: abort
  settle_timeout:
    description:
      - Seconds to wait for an abort or force-complete to take effect before giving up, and for Nova to let go of an
        instance stopped for a cold migration that did not move it before it is started again. Must be positive.
    type: int
    default: 120
  request_timeout:
    description:
      - Seconds to wait for Nova to record a requested live migration. Nova writes the record as it takes the
        request, so none after this long means the request was lost (a message-bus restart loses requests in
        flight) or dropped. An instance left in task_state C(migrating) by a lost request is reset to ACTIVE (only
        one that was ACTIVE), and the attempt counts as a failed migration (M(ndu.dataplane.host_evacuate) retries it
        on another host). Must be positive.
    type: int
    default: 60
  shutoff_policy:
    description:
      - What to do with SHUTOFF instances. V(cold_migrate) moves them (they stay SHUTOFF); V(leave) leaves them where they are.
    type: str
    choices: [cold_migrate, leave]
    default: leave
  poll_max:
    description:
      - Upper bound in seconds of the backoff between polls of the migrations API (it starts at 1 s). At least 1.
    type: int
    default: 5
"""
