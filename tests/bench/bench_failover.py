"""Failover time on a live 2-node cluster: kill the promoted node -> the survivor's group active.

The kill is a node crash (SIGKILL of corosync, pacemakerd and its children, by
PID, and its SCST goes too); the end is the survivor's SCST write of its own
target group's state "active" (both timestamps from the same clock).  Each run
then boots the dead node again and waits until it rejoined unpromoted.  The
figure is the median over the runs, as a ratio to corosync's token timeout;
the breakdown splits it at the moment corosync formed the new membership.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, whatever the import order

from cluster.fixtures import lab_unavailable  # noqa: E402
from cluster.harness import ROOT, SEED_NODES, Cluster, Node  # noqa: E402
from common import figure  # noqa: E402

TARGET_MARGIN_MS = 1500


def membership_at(node: Node, after_ns: int) -> float | None:
    """When node's corosync formed the first new membership after after_ns (s since the epoch)."""
    year = time.localtime().tm_year
    for line in (node.dir / "log" / "corosync.log").read_text(errors="replace").splitlines():
        if "A new membership" not in line:
            continue
        base, _, fraction = " ".join(line.split()[:3]).partition(".")
        when = time.mktime(time.strptime(f"{year} {base}", "%Y %b %d %H:%M:%S")) + float(f"0.{fraction or 0}")
        if when * 1e9 > after_ns:
            return when
    return None


def main(quick: bool = False) -> None:
    reason = lab_unavailable()
    if reason:
        print(f"failover: skipped ({reason})", flush=True)
        return
    subprocess.run(["/usr/bin/python3", str(ROOT / "tools" / "install.py")], check=True, capture_output=True)
    runs = 5 if quick else 10
    totals, detections = [], []
    with tempfile.TemporaryDirectory(prefix="alua-bench-failover-") as tmp:
        cluster = Cluster(Path(tmp), SEED_NODES)
        try:
            cluster.start()
            token_ms = cluster.effective_token_ms()
            for _ in range(runs):
                victim = cluster.promoted_node()
                survivor = next(n for n in cluster.nodes.values() if n is not victim)
                killed_at = victim.crash()
                active_at = cluster.wait_group_active(survivor, survivor.name, after_ns=killed_at, timeout=30)
                totals.append((active_at - killed_at) / 1e6)
                formed = membership_at(survivor, killed_at)
                if formed is not None:
                    detections.append(formed * 1000 - killed_at / 1e6)
                cluster.wait_settled(promoted=survivor.name, timeout=30)
                victim.reboot()
                cluster.wait_online(cluster.names)
                cluster.wait_settled(promoted=survivor.name)
            problems = cluster.two_active_moments()
        finally:
            left = cluster.destroy()
    if left:
        raise SystemExit(f"failover bench: processes survived the clean-up: {left}")
    if problems:
        raise SystemExit(f"failover bench: two active groups at once: {problems}")
    median = statistics.median(totals)
    detection = statistics.median(detections) if detections else float("nan")
    figure(
        "failover, kill promoted node -> survivor's group active (2 nodes)",
        median,
        "ms",
        baseline=token_ms,
        baseline_name="corosync token",
        target=f"<= token + {TARGET_MARGIN_MS} ms = {token_ms + TARGET_MARGIN_MS} ms",
        extra=f"{runs} runs, min {min(totals):.0f} max {max(totals):.0f} ms; corosync membership after "
        f"{detection:.0f} ms (token + consensus), Pacemaker + agent {median - detection:.0f} ms",
    )


if __name__ == "__main__":
    main()
