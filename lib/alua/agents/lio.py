"""ocf:alua:lio, the promotable LIO (kernel target) ALUA agent: its parameters, its backend, its declaration."""

from __future__ import annotations

from alua.targets import promotable
from alua.targets.lio.backend import LioBackend
from alua.targets.lio.names import check_name, parse_devices, parse_portals
from alua.ocf import params

TYPE_CHECKING = False
if TYPE_CHECKING:
    from alua.host.context import Context
    from alua.targets.roles import AluaBackend


class LioParams(promotable.PortalAluaParams):
    devices = params.structured(
        "LIO backstores and the unit serial each must present",
        "Whitespace-separated HBA/DEVICE=SERIAL entries naming backstores as configfs does "
        "(target/core/HBA/DEVICE, e.g. iblock_0/vg1 for targetcli's /backstores/block/vg1; HBA * finds "
        "DEVICE on whichever HBA has it, as targetcli numbers HBAs by creation order), each with "
        "the T10 unit serial (wwn/vpd_unit_serial) both nodes must present, or multipath will not merge "
        "their paths: create the backstore with the same wwn= on every node. Identical on all nodes.",
        parse=parse_devices,
        default=(),
        required=True,
    )
    targets = promotable.targets_param(
        check_name,
        "hpms01=iqn.2003-01.org.linux-iscsi.hpms01:san hpms02=iqn.2003-01.org.linux-iscsi.hpms02:san",
        membership="Each node's target port group is named after the node and created in every backstore; "
        "the LUNs of this node's target that export a backstore are moved into this node's group, the "
        "peers' groups stay empty here, so their ids stay reserved (Linux 6.1 leaves empty groups out of "
        "REPORT TARGET PORT GROUPS: each path reports its own node's group).",
    )
    fabric = params.string(
        "LIO fabric of the targets",
        "The fabric module the targets belong to, as its configfs directory is named (target/FABRIC): "
        "iscsi, loopback, qla2xxx, srpt, ...",
        default="iscsi",
        check=check_name,
    )
    tpgt = params.integer(
        "Target portal group tag",
        "The target portal group (tpgt_N, targetcli's tpgN) of the local target whose LUNs join this node's group.",
        default=1,
        minimum=1,
        maximum=65535,
    )
    rel_tgt_ids = promotable.rel_tgt_ids_param(
        "NODE=ID pairs (1-65535). LIO numbers target ports itself; only from Linux 6.4 can a TPG's "
        "relative target port id be set (tpgt_N/rtpi, while the TPG is disabled). When this is set, "
        "the local TPG's rtpi must already have this value; when unset, nothing is checked."
    )
    portals = params.structured(
        "Network portals this agent opens on each node, last on start",
        "NODE=PORTAL[,PORTAL...] entries, identical on all nodes, PORTAL being IPV4:PORT or [IPV6]:PORT "
        'as LIO names it, e.g. "hpms01=192.168.122.51:3260,192.168.152.51:3260 '
        'hpms02=192.168.122.52:3260,192.168.152.52:3260". When set, start creates the local target\'s '
        "portals (tpgt_N/np) only after its LUNs are in this node's group with the unpromoted state, "
        "and stop closes them: initiators cannot log in while a returning node builds its target, "
        "when LIO would show its LUNs in default_tg_pt_gp (active/optimized, and write-protected "
        "until the target's attributes are set) and multipath would send writes there. Create the "
        "target without portals (ocf:heartbeat:iSCSITarget portals=\"\"; keep them out of a saved "
        "LIO configuration). A portal that disappears while the instance runs is opened again by "
        "monitor. Unset: the agent does not touch portals.",
        parse=parse_portals,
        default={},
    )


def backend(ctx: Context) -> AluaBackend:
    cfg = ctx.config_as(LioParams)
    return LioBackend(
        cfg.devices,
        ctx.log,
        fabric=cfg.fabric,
        tpgt=cfg.tpgt,
        check_rtpi=bool(cfg.rel_tgt_ids),
        portals=cfg.portals,
    )


AGENT = promotable.promotable_agent(
    name="lio",
    shortdesc="LIO (kernel target) ALUA target port group states, promotable",
    longdesc=(
        "Switches the ALUA target port group states of LIO, the SCSI target in the Linux kernel, for a "
        "two-node (or larger) cluster in which every node exports the same backstores through its own "
        "target. Run it as a promotable clone with notify=true and promoted-max=1: the promoted node's "
        "group is active/optimized, running unpromoted nodes' groups are active/non-optimized (by "
        "default), stopped or lost nodes' groups are offline. Each node writes the state of its own "
        "group and of its peers' groups, because LIO never syncs ALUA state between machines. "
        "The targets, backstores and LUNs come from ocf:heartbeat:iSCSITarget and iSCSILogicalUnit "
        "with implementation=lio-t (crm/lio.crm: created without portals, cloned, ordered before this "
        "resource) or from the admin's saved LIO configuration (targetcli saveconfig, restored by "
        "target.service). This agent creates the groups (tg_pt_gp named after the cluster nodes, "
        "implicit ALUA only so initiators cannot change states), moves this node's LUNs into its "
        "group, writes states and, with parameter portals, opens the target's network portals only "
        "when all of that is done (a node that returns after a failure is otherwise reachable while its "
        "LUNs still sit in LIO's active/optimized default group). Groups saved with the "
        "LIO configuration (targetcli saves on exit) come back with their saved states at boot until "
        "the cluster corrects them, so save it while this node is unpromoted or stopped. LIO reports "
        "a group in state offline as an unknown state (commands fail with ILLEGAL REQUEST rather "
        "than NOT READY); choose inactive_state=unavailable for initiators that do not "
        "take that as a path failure."
    ),
    params_class=LioParams,
    backend=backend,
    not_loaded=lambda b: (
        f"LIO is not loaded ({b.configfs.path('core')} missing: load target_core_mod and mount configfs)"
    ),
)
