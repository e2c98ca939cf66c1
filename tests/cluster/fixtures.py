"""pytest fixtures for live clusters: import them into a test module.

``cluster2`` / ``cluster3`` start one real cluster per test module (2 nodes
hpms01/hpms02, or 3 with hpms03) and always destroy it; ``healthy2`` /
``healthy3`` bring it back to the baseline before each test (every node up,
no failures, the clone settled), so tests do not depend on their order.
``cluster3_fenced`` / ``healthy3_fenced``: the 3-node cluster with fencing
(stonith-enabled=true, one fence_alua_netns device; a fenced node is booted
again by the baseline).  Put clusters in separate modules: a module's cluster
lives until the module ends.
The node directories (logs, CIBs, SCST write logs) stay in pytest's tmp dir.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster.harness import FENCE_AGENT, SEED_NODES, Cluster

TOOLS = (
    "corosync",
    "corosync-cfgtool",
    "pacemakerd",
    "crm",
    "crm_mon",
    "crm_resource",
    "crm_attribute",
    "cibadmin",
    "unshare",
    "nsenter",
    "setpriv",
    "ip",
    "mount",
)


def lab_unavailable() -> str | None:
    """Why live clusters cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "live clusters need root (namespaces, mounts)"
    if not os.path.exists("/dev/fuse"):
        return "live clusters need /dev/fuse for the SCST emulator"
    missing = [tool for tool in TOOLS if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None]
    if missing:
        return f"missing {', '.join(missing)} (run tools/setup)"
    return None


def _cluster(
    tmp_path_factory: pytest.TempPathFactory, names: tuple[str, ...], *, fencing: bool = False
) -> Iterator[Cluster]:
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    if fencing and os.path.lexists(f"/usr/sbin/{FENCE_AGENT}"):
        pytest.fail(f"/usr/sbin/{FENCE_AGENT} exists on the host: the test agent must only appear inside the nodes")
    workdir: Path = tmp_path_factory.mktemp(f"cluster{len(names)}{'-fenced' if fencing else ''}")
    cluster = Cluster(workdir, names, fencing=fencing)
    try:
        cluster.start()
        yield cluster
    finally:
        left = cluster.destroy()
    assert not left, f"processes the cluster started survived its clean-up: {left}"
    registered = sorted(p.name for p in cluster.power_dir.glob("*.json"))
    assert not registered, f"nodes still registered as powered after the clean-up: {registered}"
    assert not os.path.lexists(f"/usr/sbin/{FENCE_AGENT}"), "the test fence agent leaked onto the host"


@pytest.fixture(scope="module")
def cluster2(tmp_path_factory: pytest.TempPathFactory, installed_agents: Path) -> Iterator[Cluster]:
    yield from _cluster(tmp_path_factory, SEED_NODES)


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory: pytest.TempPathFactory, installed_agents: Path) -> Iterator[Cluster]:
    yield from _cluster(tmp_path_factory, (*SEED_NODES, "hpms03"))


@pytest.fixture(scope="module")
def cluster3_fenced(tmp_path_factory: pytest.TempPathFactory, installed_agents: Path) -> Iterator[Cluster]:
    yield from _cluster(tmp_path_factory, (*SEED_NODES, "hpms03"), fencing=True)


@pytest.fixture
def healthy2(cluster2: Cluster) -> Cluster:
    cluster2.ensure_healthy()
    return cluster2


@pytest.fixture
def healthy3(cluster3: Cluster) -> Cluster:
    cluster3.ensure_healthy()
    return cluster3


@pytest.fixture
def healthy3_fenced(cluster3_fenced: Cluster) -> Cluster:
    cluster3_fenced.ensure_healthy()
    return cluster3_fenced
