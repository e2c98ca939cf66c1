"""What the partition tests (with and without fencing) wait for on the side that keeps quorum."""

from __future__ import annotations

from cluster.harness import Cluster, Node, Status, wait_until


def wait_majority(cluster: Cluster, majority: list[Node], *, promoted: str | None = None) -> Status:
    names = sorted(n.name for n in majority)

    def carrying_on() -> Status | None:
        status = cluster.status(via=majority[0])
        if not status.quorate or status.online != names or len(status.promoted) != 1:
            return None
        if promoted is not None and status.promoted != [promoted]:
            return None
        if sorted(status.roles) != names or cluster[status.promoted[0]].states()[status.promoted[0]] != "active":
            return None
        return status

    return wait_until(
        carrying_on, 30, f"{' and '.join(names)} to keep quorum with one promoted instance", context=cluster.describe
    )
