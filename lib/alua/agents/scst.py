"""ocf:alua:scst, the promotable SCST ALUA agent: its parameters, its backend and target layer, its declaration."""

from __future__ import annotations

from alua.ocf import params
from alua.targets import promotable
from alua.targets.scst import layer_params
from alua.targets.scst.backend import ScstBackend, ScstSysfs, check_name, parse_device_groups

TYPE_CHECKING = False
if TYPE_CHECKING:
    from alua.host.context import Context
    from alua.targets.roles import AluaBackend


class ScstParams(promotable.PortalAluaParams):
    device_groups = params.structured(
        "ALUA device groups and their SCST devices",
        "Whitespace-separated device groups, each DG=DEV[,DEV...] or just DG for a group holding "
        "the SCST device of the same name (e.g. \"vg1\"). Identical on all nodes. Missing groups, "
        "devices and target groups are created on start; a conflicting existing topology is "
        "refused, never torn down.",
        parse=parse_device_groups,
        default=(),
        required=True,
    )
    targets = promotable.targets_param(
        check_name,
        "hpms01=iqn.2016-02.local.virtual:hpms01.vg1 hpms02=iqn.2016-02.local.virtual:hpms02.vg1",
    )
    target_driver = params.string(
        "SCST target driver",
        "The SCST target driver the targets belong to (targets/<driver>/ in sysfs): iscsi, "
        "qla2x00t, ib_srpt, ...",
        default="iscsi",
        check=check_name,
    )
    devices = params.structured(
        "SCST devices this agent creates, and the local target that exports them",
        "Whitespace-separated NAME=PATH entries, e.g. \"vg1=/dev/vg1/lun1\": SCST devices the agent creates "
        "on start (add_device NAME filename=PATH;bind_alua_state=0, with handler device_handler: SCST's "
        "default bind_alua_state 1 would close the LV while the node's group is not active/optimized, "
        "so unpromoted paths carried no I/O) and deletes on stop, "
        "identical on all nodes. PATH is absolute, without white space, ';' or '='. Every device must be in "
        "a group of device_groups. When set, the agent also owns this node's target (its IQN from "
        "targets): start creates it if missing (add_target), sets its rel_tgt_id and aen_disabled 1 "
        "(iscsi-scst would report ALUA changes as iSCSI async events, which Linux initiators ignore; "
        "unit attentions reach them), places the devices "
        "in their device group and states the groups, exports the LUNs (parameter luns) and enables "
        "the target last; stop, once the node's group is inactive, disables it, then deletes the LUNs, "
        "the target and the devices "
        "(a vdisk_blockio holds its LV open until its device is deleted). A disabled target or a "
        "missing LUN of a running instance is put back by monitor. Keep these devices and the target "
        "out of scst.conf: a device on another path, or a LUN of a device not listed here, is refused "
        "on start and left alone on stop. SCST's installed directories /var/lib/scst/pr and "
        "/var/lib/scst/vdev_mode_pages must exist. Unset: the devices and targets are the admin's "
        "(scst.conf) and the agent only places them in ALUA groups.",
        parse=layer_params.parse_devices,
        default=(),
    )
    device_handler = params.choice(
        "SCST handler of the devices",
        "The SCST device handler parameter devices creates its devices with (handlers/<handler>/mgmt): "
        "vdisk_blockio for a block device such as an LV, vdisk_fileio for a file.",
        choices=layer_params.HANDLERS,
        default=layer_params.HANDLERS[0],
    )
    luns = params.structured(
        "LUN number of each device in the local target",
        "Whitespace-separated LUN=NAME entries (LUN 0 to 16383), one for every device of parameter "
        "devices, e.g. \"0=vg1 1=data\". Default: the devices in the order of parameter devices get "
        "LUN 0, 1, ... Only with parameter devices.",
        parse=layer_params.parse_luns,
        default=(),
    )
    portals = params.structured(
        "Addresses on which each node's iSCSI target is offered",
        "Whitespace-separated NODE=ADDRESS[,ADDRESS...] entries, e.g. "
        "\"hpms01=192.168.122.99,192.168.152.99 hpms02=192.168.122.98,192.168.152.98\" (IPv4 or IPv6 "
        "addresses, no port: iscsi-scstd listens on one port for all). Only with parameter devices and "
        "target_driver iscsi: before it enables the local target, the agent sets the target's "
        "allowed_portal attributes to this node's addresses, so discovery (SendTargets) and login offer "
        "the target only there. iscsi-scstd otherwise offers every address the node has, the cluster's "
        "corosync and DRBD networks included, and initiators then wait on logins they cannot complete. "
        "Unset: the target's allowed_portal attributes are left as they are.",
        parse=layer_params.parse_portals,
        default={},
    )
    rel_tgt_ids = promotable.rel_tgt_ids_param(
        "NODE=ID pairs (1-65535): the relative target port id of each node's target. With parameter "
        "devices the agent sets it on the local target it creates; without, the local target's "
        "rel_tgt_id must already have this value (set it in scst.conf). Peers' targets are recorded "
        "with it. Default: the node's group id."
    )
    block_devices = params.boolean(
        "Block the devices around promotion",
        "Block the devices (devices/<dev>/block) while the local group switches to active and "
        "unblock them afterwards, as in SCST's recommended implicit transition.",
        default=False,
    )


def backend(ctx: Context) -> AluaBackend:
    cfg = ctx.config_as(ScstParams)
    sysfs = ScstSysfs()
    layer = None
    if cfg.devices:
        from alua.targets.scst.target import ScstTargetLayer

        layer = ScstTargetLayer(
            sysfs,
            cfg.devices,
            layer_params.lun_map(cfg.devices, cfg.luns),
            handler=cfg.device_handler,
            driver=cfg.target_driver,
            log=ctx.log,
            var_dir=layer_params.var_dir(ctx.env.raw),
            portals=cfg.portals,
        )
    return ScstBackend(cfg.device_groups, cfg.target_driver, ctx.log, sysfs=sysfs, target_layer=layer)


def validate(ctx: Context) -> None:
    cfg = ctx.config_as(ScstParams)
    layer_params.check_layer_params(cfg.device_groups, cfg.devices, cfg.luns, cfg.portals, cfg.target_driver)


AGENT = promotable.promotable_agent(
    name="scst",
    shortdesc="SCST ALUA target port group states, promotable",
    longdesc=(
        "Switches SCST's ALUA target port group states for a two-node (or larger) cluster in "
        "which every node exports the same LUN through its own target. Run it as a promotable "
        "clone with notify=true and promoted-max=1: the promoted node's target group is "
        "active/optimized, running unpromoted nodes' groups are active/non-optimized (by "
        "default), stopped or lost nodes' groups are offline. Each node writes the state of "
        "its own group and of its peers' groups, because SCST never syncs ALUA state between "
        "machines. Target groups are named after the cluster nodes, so all nodes share one "
        "configuration. With parameter devices the agent also builds the node's SCST target layer: "
        "it creates the devices (on the LV, which exists only once Pacemaker has activated the volume "
        "group, so scst.conf cannot hold them at boot) and the node's target, places the devices in their "
        "ALUA device group with the unpromoted state, and enables the target only then; stop undoes it "
        "in reverse. The layer lives in this agent, not in separate resources, so that device, LUN, "
        "ALUA placement and enable happen in one action in one process, in order, with no window "
        "between two resources in which an initiator could log in to a LUN that is not yet in its "
        "group with its state (a target enabled by scst.conf is reachable before that)."
    ),
    params_class=ScstParams,
    backend=backend,
    not_loaded=lambda b: f"SCST is not loaded ({b.sysfs.root} missing)",
    validate_backend=validate,
)
