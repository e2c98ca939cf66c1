"""alua-status against both emulated kernels (SCST sysfs, LIO configfs), after the agents set the states.

The command runs unmodified in each node's emulator mount namespace (the tree at its real
path, as the agents see it) with stand-ins for crm_mon, cibadmin and crm_node on PATH that
print what Pacemaker would; what it reports must be what the emulator holds, and it must
not write anything there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backends.adapters import BACKENDS, Backend
from backends.harness import NODES, StorageNode
from backends.test_scenarios import Cluster
from conftest import ROOT
from emulators.fixtures import scst_emulator  # noqa: F401 - fixture
from emulators.lio_fixtures import lio_emulator  # noqa: F401 - fixture
from support.status_fixtures import crm_mon_xml, primitive_xml

A, B = NODES


def alua_status(node: StorageNode, backend: Backend, roles: dict[str, str], workdir: Path) -> tuple[int, dict]:
    """alua-status --json on node, Pacemaker saying ``roles`` (both nodes online)."""
    bin_dir = workdir / f"bin-{node.name}"
    bin_dir.mkdir(exist_ok=True)
    kernel = backend.agent
    outputs = {
        "crm_mon": crm_mon_xml(dict.fromkeys(NODES, "online"), roles, agent=f"ocf:alua:{kernel}",
                               primitive=backend.resource, clone=f"ms_{kernel}"),
        "cibadmin": f"<resources>{primitive_xml(backend.resource, 'alua', kernel, backend.params(), f'ms_{kernel}')}"
                    "</resources>",
        "crm_node": f"{node.name}\n",  # the emulator's namespace has the host's name
    }
    for tool, text in outputs.items():
        (bin_dir / f"{tool}.out").write_text(text)
        (bin_dir / tool).write_text(f"#!/bin/sh\nexec cat {bin_dir / tool}.out\n")
        (bin_dir / tool).chmod(0o755)
    proc = node.emulator.run([str(ROOT / "sbin" / "alua-status"), "--json"],
                             env={"PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin"})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.parametrize("backend", BACKENDS, ids=repr)
def test_status_shows_what_each_emulated_kernel_holds(backend: Backend, request, tmp_path: Path) -> None:
    cluster = Cluster(backend, request.getfixturevalue(backend.fixture), tmp_path)
    cluster.start_all()
    cluster.promote(A)
    roles = {A: "Promoted", B: "Unpromoted"}
    for node in cluster.nodes:
        writes = len(node.emulator.writes())
        rc, result = alua_status(node, backend, roles, tmp_path)
        assert (rc, result["problems"]) == (0, []), result
        assert result["node"] == node.name and result["alua"]["loaded"] is True
        [states] = result["alua"]["units"].values()
        assert states == backend.states(node) == {A: "active", B: "nonoptimized"}
        assert result["alua"]["target"]["enabled"] is True
        assert len(node.emulator.writes()) == writes, "alua-status wrote to the kernel tree"

    # An old peer (or an admin) makes B's group active in A's kernel behind the cluster's back.
    backend.set_state(cluster[A], B, "active")
    rc, result = alua_status(cluster[A], backend, roles, tmp_path)
    [(unit, states)] = result["alua"]["units"].items()
    assert states == backend.states(cluster[A]) == {A: "active", B: "active"}
    assert rc == 2 and f"two groups active/optimized in {unit}: {A}, {B}" in [p["text"] for p in result["problems"]]

    # B stops (its agent shows its own group offline), and A misses the notification: A's kernel
    # still offers B's paths as usable.
    backend.set_state(cluster[A], B, "nonoptimized")
    assert cluster[B].run("stop").rc == 0
    rc, result = alua_status(cluster[B], backend, {A: "Promoted"}, tmp_path)
    assert result["alua"]["units"][unit] == backend.states(cluster[B]) == {A: "active", B: "offline"}
    assert rc == 1 and [p["text"] for p in result["problems"]] == [f"{backend.resource} is stopped on online node {B}"]
    rc, result = alua_status(cluster[A], backend, {A: "Promoted"}, tmp_path)
    assert rc == 2 and result["cluster"]["nodes"][B]["alua_role"] == "Stopped"
    assert [p["text"] for p in result["problems"]] == [
        f"{backend.resource} is stopped on online node {B}",
        f"{B} is stopped but its group in {unit} is nonoptimized in this node's view (initiators would still use "
        "its paths)",
    ]
