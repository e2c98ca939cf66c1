"""The stack as crmsh configuration: the layer files of /usr/share/alua/crm and the two stacks.

Each file is text with ``@name@`` fields (alua.commands.stackconf.text.fill); the comments
are the crm/ files' own, with the admin's names in them.
"""

from __future__ import annotations

from alua.commands.stackconf.names import agent_params
from alua.commands.stackconf.text import crm_ops, fill, names_of, plural

TYPE_CHECKING = False
if TYPE_CHECKING:
    from alua.commands.stackconf.names import Stack

COUNTS = {1: "one", 2: "two", 3: "three", 4: "four"}

DRBD_HEAD = """\
# alua stack, layer 1 of 4: the replicated disk (ocf:linbit:drbd from drbd-utils), dual-primary.
# Needs: DRBD resource @drbd@ on both nodes with allow-two-primaries, on its own network, with
#   fencing resource-and-stonith and the fence-peer / after-resync-target handlers of
#   /usr/share/alua/crm/README ("Dual-primary safety"); working Pacemaker fencing.
# Load:  crm configure load update @dir@drbd.crm   (or stack.crm: all layers)
# Names: DRBD resource @drbd@ - see /usr/share/alua/crm/README to rename; ocf_alua(7).
"""
DRBD = """\
primitive p_drbd_@vg@ ocf:linbit:drbd \\
    params drbd_resource=@drbd@ \\
@drbd_ops@clone ms_drbd p_drbd_@vg@ \\
    meta promotable=true promoted-max=2 promoted-node-max=1 clone-max=2 clone-node-max=1 \\
        notify=true interleave=true
"""
LOCK_HEAD = """\
# alua stack, layer 2 of 4: the lock stack, DLM then lvmlockd, on every node (g_lock in cl_lock).
# Needs: dlm-controld and lvm2-lockd; use_lvmlockd = 1 in lvm.conf; Pacemaker fencing
#   (ocf:alua:dlm refuses to start without it unless allow_stonith_disabled=true).
# Load:  crm configure load update @dir@lock.crm   (or stack.crm: all layers)
# See ocf_alua_dlm(7), ocf_alua_lvmlockd(7), ocf_alua(7).
"""
LOCK = """\
primitive p_dlm ocf:alua:dlm \\
    op start timeout=90s interval=0s \\
    op stop timeout=100s interval=0s \\
    op monitor interval=30s timeout=20s
primitive p_lvmlockd ocf:alua:lvmlockd \\
    op start timeout=90s interval=0s \\
    op stop timeout=90s interval=0s \\
    op monitor interval=30s timeout=20s
group g_lock p_dlm p_lvmlockd
clone cl_lock g_lock \\
    meta interleave=true
"""
LVM_HEAD = """\
# alua stack, layer 3 of 4: the shared volume group @vg@ on the DRBD device, on every node.
# Needs: @vg@ created as a shared VG (lock type dlm) on /dev/drbdN; an lvm.conf filter that sees the
#   DRBD device, not its backing disk; the lock layer (lock.crm) and DRBD Primary (drbd.crm).
# Load:  crm configure load update @dir@lvm.crm   (or stack.crm: all layers)
# Names: @vg_and_drbd@ - see /usr/share/alua/crm/README; ocf_alua_drbd-lvm(7).
"""
LVM = """\
primitive p_lvm_@vg@ ocf:alua:drbd-lvm \\
    params volume_group=@vg@ drbd_resources=@drbd@ activation_mode=shared lock_type=lvmlockd \\
    op start timeout=90s interval=0s \\
    op stop timeout=90s interval=0s \\
    op monitor interval=30s timeout=90s \\
    op monitor interval=61s timeout=90s OCF_CHECK_LEVEL=10
clone cl_lvm p_lvm_@vg@ \\
    meta interleave=true
"""
SCST_HEAD = """\
# alua stack, layer 4 of 4: each node's SCST target and LUN, ALUA target port groups, promoted on one node.
# Needs: @the_lvs@ on the shared VG; SCST installed (its /var/lib/scst directories) with the
#   modules scst, scst_vdisk and iscsi-scst loaded at boot and iscsi-scstd running; an scst.conf
#   without @device_words@ or these targets: p_scst creates them (see the README there).
# Load:  crm configure load update @dir@scst.crm   (or stack.crm: all layers)
# Names: nodes @node1@ @node2@, their IQNs and portal addresses, device group @vg@, the @lv_word@ - see /usr/share/alua/crm/README.

# p_scst creates the SCST @device_words@ (vdisk_blockio) on the @lv_word@ and the node's own target with
# @lun_words@, places the @device_word@ in its ALUA group with the unpromoted state, and only then enables
# the target, offered only on the node's @portals_text@ (iscsi-scstd would offer every
# address, the cluster's own networks too); stop disables the target and deletes target and
# @device_word@ (releasing the @lv_word@).
"""
SCST_IN_STACK = """\
# Layer 4: each node's SCST target and LUN on the LV (created by p_scst, enabled only once the
# LUN is in its ALUA group), ALUA target port groups with SCST, promoted on one node.
"""
ALUA = """\
primitive p_@alua@ ocf:alua:@alua@ \\
    params @alua_params@ drbd_resources=@drbd@ \\
        targets="@targets@" \\
        portals="@alua_portals@" \\
@alua_ops@\
clone ms_@alua@ p_@alua@ \\
@alua_meta@"""
# What the ALUA primitive of each backend has before drbd_resources, and its portals.
ALUA_PARAMS = {
    "scst": ('device_groups=@device_groups@ devices="@scst_devices@"', "@scst_portals@"),
    "lio": ('devices="@lio_devices@"', "@lio_portals@"),
}
ALUA_META = """\
    meta promotable=true promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 \\
        notify=true interleave=true
"""
LIO_HEAD = """\
# alua stack, layer 4 with LIO instead of SCST: iSCSI targets, the LUN, ALUA promoted on one node.
# Needs: @the_lvs@ on the shared VG; each node's portal IP addresses (below) up;
#   resource-agents' iSCSITarget and iSCSILogicalUnit with targetcli (targetcli-fb). No saved LIO
#   configuration with portals for these targets (disable rtslib-fb-targetctl.service or
#   target.service): portals restored at boot let initiators in before p_lio sets the LUN's group.
# Load:  crm configure load update @dir@lio.crm   (or stack-lio.crm: all layers)
# Names: nodes @node1@ @node2@, their IQNs and portals, @vg@, @serial_words@: see the README there.

"""
LIO_IN_STACK = """\
# Layer 4 with LIO: each node's iSCSI target and LUN, ALUA target port groups promoted on one node.
"""
TARGET = """\
# Each node's target (its own IQN: rules on #uname) and the LUN on the LV, with the same unit
# serial on both nodes. portals="" creates the target with no network portal at all
# (lio-t turns off targetcli's auto_add_default_portal): p_lio opens the portals itself.
primitive p_target_@vg@ ocf:heartbeat:iSCSITarget \\
    params rule 10: #uname eq @node1@ iqn=@iqn1@ \\
    params rule 10: #uname eq @node2@ iqn=@iqn2@ \\
    params implementation=lio-t portals="" \\
@target_ops@\
@lus@\
group g_target_@vg@ p_target_@vg@ @lu_ids@
clone cl_target g_target_@vg@ \\
    meta interleave=true
"""
TARGET_OPS = """\
    op start timeout=60s interval=0s \\
    op stop timeout=60s interval=0s \\
    op monitor interval=20s timeout=30s
"""
LU = """\
primitive p_lu_@name@ ocf:heartbeat:iSCSILogicalUnit \\
    params rule 10: #uname eq @node1@ target_iqn=@iqn1@ \\
    params rule 10: #uname eq @node2@ target_iqn=@iqn2@ \\
    params implementation=lio-t lun=@number@ path=@path@ scsi_sn=@serial@ \\
@target_ops@\
"""
LIO_COMMENT = """\
# ALUA target port groups. @backstore_sentence@;
# "*/" finds it on whichever HBA targetcli numbered it (see the README). p_lio opens
# each node's portals only once that node's LUN is in its ALUA group, unpromoted; stop closes them.
"""
ALERT = """\
# Pacemaker sends the clone no notification when a node was fenced before its scheduler ran
# (dlm_controld and alua-fence-peer fence at once): alua-alert(8) marks fenced nodes
# in the directory the ALUA agent creates in HA_RSCTMP (/run/resource-agents on Debian), and
# the next monitor shows such a node's group offline.  "select fencing": Pacemaker starts it for
# fencing events only, not for every resource operation of a failover, when the survivor's
# processes compete with its handler (lab Finding 27).
alert alua_fenced /usr/sbin/alua-alert select fencing to /run/resource-agents/alua-fenced
"""
FENCE_HEAD = """\
# alua stack, fencing: one fence device per node, kept off the node it fences.
# Needs: the fence agents installed on both nodes, each device tested by hand (stonith_admin) first.
# Load:  crm configure load update @dir@fence.crm   (stack.crm and stack-lio.crm have it too)
# See "Dual-primary safety" in /usr/share/alua/crm/README.
"""
FENCE_IN_STACK = """\
# Fencing: one device per node, kept off the node it fences: the survivor runs the device that
# fences its peer, so its fencer starts at once (see "Dual-primary safety" in the README).
"""
FENCE = """\
primitive st_@node@ stonith:@agent@ \\
    params @params@ \\
    op monitor interval=60s timeout=20s
"""
STACK_HEAD = {
    "scst": """\
# alua stack, all layers: dual-primary DRBD, DLM + lvmlockd, the shared VG @vg@, SCST target + ALUA.
# Needs: what drbd.crm, lock.crm, lvm.crm and scst.crm need (their headers), Pacemaker fencing.
# Load:  crm configure load update @dir@stack.crm
# Names: nodes @node1@ @node2@, their IQNs and portals, @scst_stack_names@, the @lv_word@ @lv_names@: see
#   /usr/share/alua/crm/README to rename; stack.pcs is the same for pcs; see ocf_alua(7).
""",
    "lio": """\
# alua stack, all layers, with LIO: dual-primary DRBD, DLM + lvmlockd, the shared VG @vg@, LIO targets + ALUA.
# Needs: what drbd.crm, lock.crm, lvm.crm and lio.crm need (their headers), Pacemaker fencing.
# Load:  crm configure load update @dir@stack-lio.crm
# Names: nodes @node1@ @node2@, their IQNs and portals, @lio_stack_names@: see
#   /usr/share/alua/crm/README to rename; ALUA=lio stack.pcs is the same for pcs; ocf_alua(7).
""",
}
LAYERS_1_TO_3 = """\
# Layer 1: the replicated disk, dual-primary.
@drbd_layer@
# Layer 2: the lock stack, DLM then lvmlockd.
@lock_layer@
# Layer 3: the shared volume group on DRBD.
@lvm_layer@
"""
CONSTRAINTS = {
    "scst": """\
# How the layers depend on each other, node by node (interleave=true): the lock stack and
# DRBD Primary before the VG; the VG before the ALUA agent, which runs (and so is promoted)
# only where the VG is active: it creates the SCST device on the VG's LV, and deletes it on
# stop before the VG is deactivated.
@lower_constraints@\
colocation c_scst_with_lvm inf: ms_scst cl_lvm
order o_lvm_before_scst Mandatory: cl_lvm:start ms_scst:start
""",
    "lio": """\
# How the layers depend on each other, node by node (interleave=true): the lock stack and
# DRBD Primary before the VG; the VG before the target and LUN (the LUN is an LV of the VG);
# the target and LUN before the ALUA agent, which runs (and so is promoted, and opens the
# portals) only where they run.
@lower_constraints@\
colocation c_target_with_lvm inf: cl_target cl_lvm
order o_lvm_before_target Mandatory: cl_lvm cl_target
colocation c_lio_with_target inf: ms_lio cl_target
order o_target_before_lio Mandatory: cl_target ms_lio
""",
}
LOWER_CONSTRAINTS = """\
colocation c_lvm_with_lock inf: cl_lvm cl_lock
order o_lock_before_lvm Mandatory: cl_lock cl_lvm
colocation c_lvm_with_drbd_promoted inf: cl_lvm ms_drbd:Promoted
order o_drbd_promote_before_lvm Mandatory: ms_drbd:promote cl_lvm:start
"""
PREFERENCE = """\
# The ALUA promotion stays where it is when the other node returns. To prefer a node
# instead (it then takes the promotion back when it returns), add:
#   location l_@alua@_prefers_@node1@ ms_@alua@ rule role=Promoted 50: #uname eq @node1@
"""


def fields(stack: Stack, load_dir: str) -> dict[str, str]:
    """Every ``@name@`` of the crm texts, from the admin's names."""
    luns = stack.luns
    vg, drbd = stack.vg, stack.drbd
    devices = [lun.name for lun in luns]
    lvs = [f"{vg}/{lun.lv}" for lun in luns]
    many = len(luns) > 1
    scst, lio = agent_params(stack, "scst"), agent_params(stack, "lio")
    out = {
        "dir": load_dir,
        "vg": vg,
        "drbd": drbd,
        "node1": stack.node1,
        "node2": stack.node2,
        "iqn1": stack.iqn1,
        "iqn2": stack.iqn2,
        "targets": scst["targets"],
        "scst_portals": scst["portals"],
        "lio_portals": lio["portals"],
        "device_groups": scst["device_groups"],
        "scst_devices": scst["devices"],
        "lio_devices": lio["devices"],
        "lu_ids": " ".join(f"p_lu_{name}" for name in devices),
        "the_lvs": f"the {plural(len(luns), 'LV')} {names_of(lvs)}",
        "lv_word": plural(len(luns), "LV"),
        "lv_names": names_of([lun.lv for lun in luns]),
        "device_word": plural(len(luns), "device"),
        "device_words": f"{plural(len(luns), 'device')} {names_of(devices)}",
        "lun_words": f"LUNs 0 to {len(luns) - 1}" if many else "LUN 0",
        "portals_text": portals_text(len(stack.addresses1), len(stack.addresses2)),
        "serial_words": "the LUNs' serials" if many else "the LUN's serial",
        "backstore_sentence": (
            f"The backstores are the ones {names_of([f'p_lu_{n}' for n in devices])} create, named after the resources"
            if many
            else f"The backstore is the one p_lu_{devices[0]} creates, named after the resource"
        ),
        "vg_and_drbd": f"VG and DRBD resource {vg}" if vg == drbd else f"VG {vg} and DRBD resource {drbd}",
        "scst_stack_names": f"DRBD resource/VG/device group {vg}" if vg == drbd
        else f"DRBD resource {drbd}, VG/device group {vg}",
        "lio_stack_names": f"DRBD resource/VG {vg}" if vg == drbd else f"DRBD resource {drbd}, VG {vg}",
        "alua_ops": crm_ops("alua"),
        "drbd_ops": crm_ops("drbd"),
        "alua_meta": ALUA_META,
        "target_ops": TARGET_OPS,
    }
    return out


def portals_text(count1: int, count2: int) -> str:
    """"two iSCSI portals": how many each node has, when both have as many."""
    if count1 != count2:
        return "iSCSI portals"
    return f"{COUNTS.get(count1, str(count1))} iSCSI {plural(count1, 'portal')}"


def lus(values: dict[str, str], stack: Stack) -> str:
    return "".join(
        fill(LU, {**values, "name": lun.name, "number": str(n), "path": lun.path(stack.vg), "serial": lun.serial})
        for n, lun in enumerate(stack.luns)
    )


def fencing(stack: Stack) -> str:
    """The fence devices and the locations that keep each off the node it fences ('' for none)."""
    devices, locations = [], []
    for node, fence in stack.fences:
        devices.append(fill(FENCE, {"node": node, "agent": fence.agent, "params": fence.crm_params(node)}))
        locations.append(f"location l_st_{node} st_{node} -inf: {node}\n")
    return "".join(devices + locations)


def alua_primitive(values: dict[str, str], backend: str) -> str:
    """p_scst or p_lio and its promotable clone."""
    params, portals = (fill(text, values) for text in ALUA_PARAMS[backend])
    return fill(ALUA, {**values, "alua": backend, "alua_params": params, "alua_portals": portals})


def layer_files(stack: Stack, load_dir: str) -> dict[str, str]:
    """File name -> text: the layer files and the stack file of each backend, as crm/ has them."""
    values = fields(stack, load_dir)
    values["lus"] = lus(values, stack)
    drbd, lock, lvm = (fill(t, values) for t in (DRBD, LOCK, LVM))
    alert = fill(ALERT, values)
    lio = fill(TARGET, values) + "\n" + fill(LIO_COMMENT, values) + alua_primitive(values, "lio")
    layer4 = {
        "scst": (fill(SCST_HEAD, values) + alua_primitive(values, "scst"), SCST_IN_STACK + alua_primitive(values, "scst")),
        "lio": (fill(LIO_HEAD, values) + lio, LIO_IN_STACK + lio),
    }
    files = {
        "drbd.crm": fill(DRBD_HEAD, values) + drbd,
        "lock.crm": fill(LOCK_HEAD, values) + lock,
        "lvm.crm": fill(LVM_HEAD, values) + lvm,
    }
    fence = fencing(stack)
    if fence:
        files["fence.crm"] = fill(FENCE_HEAD, values) + fence
    for backend in stack.backends:
        alone, in_stack = layer4[backend]
        files[f"{backend}.crm"] = alone + "\n" + alert
        lower = fill(LAYERS_1_TO_3, {"drbd_layer": drbd, "lock_layer": lock, "lvm_layer": lvm})
        parts = [
            fill(STACK_HEAD[backend], values),
            "\n" + FENCE_IN_STACK + fence if fence else "",
            "\n" + lower,
            in_stack,
            "\n" + alert,
            "\n" + fill(CONSTRAINTS[backend], {"lower_constraints": LOWER_CONSTRAINTS}),
            "\n" + fill(PREFERENCE, {**values, "alua": backend}),
        ]
        files[stack_file(backend)] = "".join(parts)
    return files


def stack_file(backend: str) -> str:
    return "stack.crm" if backend == "scst" else f"stack-{backend}.crm"
