"""The test cluster's configuration: paths and names, each node's SCST, the crmsh snippet as loaded here."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from support.observe import ClusterError  # noqa: E402

NODEINIT = HERE / "nodeinit.py"
#: fence agents for the test nodes, overlaid on /usr/sbin inside each node (never installed on the host)
FENCE_BINDIR = HERE / "sbin"
FENCE_AGENT = "fence_alua_netns"
FENCE_RESOURCE = "fence_ns"
CRM_SNIPPET = ROOT / "crm" / "scst.crm"
PYTHON = "/usr/bin/python3"
SUBNET = "10.99.0"
DEVICE_GROUP = "vg1"
SEED_NODES = ("hpms01", "hpms02")
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def target(node: str, lun: str = DEVICE_GROUP) -> str:
    """The node's iSCSI target, named as in the seed (iqn.2016-02.local.virtual:hpms01.vg1)."""
    return f"iqn.2016-02.local.virtual:{node}.{lun}"


def scst_config(node: str, nodes: tuple[str, ...]) -> dict[str, Any]:
    """A storage node's SCST before the cluster touches ALUA (as tests/scst/harness.py node_config):
    device vg1, the local target registered with rel_tgt_id = the node's position."""
    return {
        "drivers": {"iscsi": {"enabled": 1}},  # scst.conf enables the driver (SCST leaves it disabled)
        "devices": {DEVICE_GROUP: {"handler": "vdisk_blockio", "filename": "/dev/drbd0", "usn": "509f7d73"}},
        "targets": {
            "iscsi": {target(node): {"rel_tgt_id": nodes.index(node) + 1, "enabled": 1, "luns": {"0": DEVICE_GROUP}}}
        },
    }


# -- the crmsh snippet ------------------------------------------------------------


class Snippet:
    """The ALUA layer's crmsh text as loaded here, and what was changed to load it."""

    def __init__(self, source: Path, text: str, changes: list[str], primitive: str, clone: str) -> None:
        self.source = source
        self.text = text
        self.changes = changes
        self.primitive = primitive
        self.clone = clone


def scst_snippet(nodes: tuple[str, ...]) -> Snippet:
    """crm/scst.crm adapted to this machine and these nodes (what changed is in ``changes``)."""
    source = CRM_SNIPPET
    if not source.exists():
        raise ClusterError(f"{source} is missing: it holds the ALUA layer's crmsh configuration")
    text = source.read_text()
    changes: list[str] = []
    primitive = re.search(r"^primitive\s+(\S+)\s+ocf:alua:scst\b", text, re.M)
    if primitive is None:
        raise ClusterError(f"{source}: no 'primitive ... ocf:alua:scst' in it")
    clone = re.search(rf"^clone\s+(\S+)\s+{re.escape(primitive.group(1))}\b", text, re.M)
    if clone is None:
        raise ClusterError(f"{source}: no clone of {primitive.group(1)} in it")
    # No DRBD here (no kernel module): the DRBD layer is left out, so the agent must not wait for it.
    text, n = re.subn(r"\s*\bdrbd_resources=(\"[^\"]*\"|\S+)", "", text)
    if n:
        changes.append(f"removed drbd_resources from {primitive.group(1)} (no DRBD layer here)")
    # No LV either: each node's emulated SCST comes with its device and target (scst_config), as
    # an admin's scst.conf makes them; the layer devices= creates is tested in tests/scst.
    text, n = re.subn(r"\s*\bdevices=(\"[^\"]*\"|\S+)", "", text)
    if n:
        changes.append(f"removed devices from {primitive.group(1)} (no LV here: SCST comes configured)")
    # portals= restricts the target the agent owns (devices=), so it goes with it.
    text, n = re.subn(r"\n[ \t]*portals=(\"[^\"]*\"|\S+)[ \t]*\\(?=\n)", "", text)
    if n:
        changes.append(f"removed portals from {primitive.group(1)} (it goes with devices)")
    if tuple(nodes) != SEED_NODES:
        wanted = " ".join(f"{n}={target(n)}" for n in nodes)
        text, n = re.subn(r"\btargets=\"[^\"]*\"", f'targets="{wanted}"', text)
        if n != 1:
            raise ClusterError(f'{source}: cannot find the targets="..." parameter to list {nodes}')
        changes.append(f"targets lists {', '.join(nodes)}")
        text, n = re.subn(r"\bclone-max=\d+", f"clone-max={len(nodes)}", text)
        if n:
            changes.append(f"clone-max={len(nodes)}")
    return Snippet(source, text, changes, primitive.group(1), clone.group(1))
