# SPDX-License-Identifier: Apache-2.0
"""The benchmarks' view of the per-instance probe: the collection's probe (roles/flow_verify/files/ndu_udp_probe.py)
run from the lab's probe host to instances with ports (tests/integration/dataplane.py does the running), plus the
wait until every instance answers again and the split of each instance's gaps by the step they happened in.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import time
from typing import Any

from common import PODMAN_ENV, PROBE, dataplane

_spec = importlib.util.spec_from_file_location("ndu_udp_probe", PROBE)
assert _spec and _spec.loader
udp_probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(udp_probe)

Probe = dataplane.Probe
RATE = dataplane.RATE


def answering(dp: Any, targets: list[dict[str, str]], seconds: float = 1.0) -> dict[str, Any]:
    """A short probe of its own (``seconds`` long): which instances answer now (lost at most a fifth)."""
    argv = ["python3", f"{Probe.DIR}/ndu_udp_probe.py", "run", "--ns", dp.probe_ns, "--rate", str(RATE), "--port", str(dataplane.PORT),
            "--stop-file", f"{Probe.DIR}/short.stop", "--max-duration", str(seconds), "--warmup", "0.3", "--drain", "0.3"]
    for t in targets:
        argv += ["--target", f"{t['id']}={t['name']}={t['address']}"]
    proc = subprocess.run(["podman", "exec", dp.probe_host, *argv], capture_output=True, text=True, env=PODMAN_ENV, timeout=60, check=False)
    report = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {"failed": True, "msg": proc.stderr[-500:]}
    if report.get("failed"):
        raise RuntimeError(f"the short probe failed: {report.get('msg')}")
    ok = {k: i["received"] > 0 and i["lost"] <= i["sent"] / 5 for k, i in report["instances"].items()}
    return {"all": all(ok.values()), "ok": ok}


def wait_answering(dp: Any, targets: list[dict[str, str]], timeout: float) -> float | None:
    """Seconds until every instance answers again (short probes back to back), None when not within ``timeout``."""
    started = time.monotonic()
    dataplane.on_host(dp.probe_host, "mkdir", "-p", Probe.DIR)
    dataplane.on_host(dp.probe_host, "sh", "-c", f"cat > {Probe.DIR}/ndu_udp_probe.py", stdin=PROBE.read_text())
    while time.monotonic() - started < timeout:
        if answering(dp, targets)["all"]:
            return round(time.monotonic() - started, 2)
    return None


def split(report: dict[str, Any], windows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per instance: its figures and its gaps attributed to ``windows`` ({label, start, end}, epoch seconds)."""
    out = {}
    for key, entry in report["instances"].items():
        out[key] = {"name": entry["name"], "sent": entry["sent"], "lost": entry["lost"], "longest_gap_ms": entry["longest_gap_ms"],
                    "gaps": entry["gaps"], "by_window": udp_probe.attribute_gaps(entry["gaps"], windows),
                    "last_gap_end": max((g["end"] for g in entry["gaps"]), default=None)}
    return out
