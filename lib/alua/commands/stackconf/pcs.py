"""The stack as a pcs script: crm/stack.pcs, with the admin's names as its defaults.

The script keeps its variables (NODE1=... sh stack.pcs still renames), so the names written
here are only the defaults; each LUN after the first has its own LV<n> and SERIAL<n>.
"""

from __future__ import annotations

from alua.commands.stackconf.text import fill, pcs_ops

TYPE_CHECKING = False
if TYPE_CHECKING:
    from alua.commands.stackconf.names import Stack

SCRIPT = r'''#!/bin/sh
# alua stack for pcs (0.11, Debian 12, RHEL 9): the same as stack.crm (ALUA=lio: stack-lio.crm).
# Needs: what stack.crm needs (see the headers of drbd.crm, lock.crm, lvm.crm, scst.crm, lio.crm).
# Run as root on one cluster node:
#   sh /usr/share/alua/crm/stack.pcs           edit a copy of the live CIB, then push the changes
#   sh /usr/share/alua/crm/stack.pcs CIB.xml   only edit the CIB file CIB.xml (pcs -f)
#   sh /usr/share/alua/crm/stack.pcs --print   only print the commands (pcs, and cibadmin for lio)
# Names: set NODE1 NODE2 TARGET1 TARGET2 VG DRBD LV, and for lio PORTALS1 PORTALS2 SERIAL
#   LIO_DEVICES, in the environment (defaults below).
# ALUA=lio also creates each node's iSCSI target and LUN (lio.crm's cl_target) with cibadmin: pcs
#   0.11 cannot write instance attributes for one node only (rules), nor the empty portals="".
set -eu

NODE1=${NODE1:-@node1@}
NODE2=${NODE2:-@node2@}
TARGET1=${TARGET1:-@iqn1@}
TARGET2=${TARGET2:-@iqn2@}
VG=${VG:-@vg@}         # the volume group, the SCST device group and the resource names
DRBD=${DRBD:-@drbd_default@}     # the DRBD resource under the volume group
ALUA=${ALUA:-@alua@}    # the ALUA agent: scst or lio
@lun_vars@PORTALS1=${PORTALS1:-@portals1@}  # lio: NODE1's portals (ADDRESS:PORT,...)
PORTALS2=${PORTALS2:-@portals2@}  # lio: NODE2's portals
ADDRS1=${ADDRS1:-@addrs1@}  # scst: NODE1's portal addresses (ADDRESS,...)
ADDRS2=${ADDRS2:-@addrs2@}  # scst: NODE2's portal addresses

usage() {
    echo "usage: [ALUA=@alua_choices@] $0 [CIB.xml | --print]" >&2
    exit 2
}

mode=push
case "${1:-}" in
    "") ;;
    --print) mode=print ;;
    -*) usage ;;
    *) mode=file; cib=$1 ;;
esac
[ $# -le 1 ] || usage
case "$ALUA" in @alua_choices@) ;; *) usage ;; esac
case "@checked@" in
    *[\\\"\'\<\>\&]*) echo "$0: names must not hold quotes, backslashes, <, > or &" >&2; exit 2 ;;
esac

# show COMMAND ARGS...: print a command, quoted for a shell.
show() {
    line=$1
    shift
    for arg in "$@"; do
        case "$arg" in
            *[!A-Za-z0-9_.,:=/@%+-]*) line="$line '$arg'" ;;
            *) line="$line $arg" ;;
        esac
    done
    echo "$line"
}

# pcs ARGS...: run pcs on the CIB file, or print the command.
pcs() {
    if [ "$mode" = print ]; then
        show pcs "$@"
    else
        command pcs -f "$cib" "$@"
    fi
}

# cibadmin ARGS...: run cibadmin on the CIB file (as pcs -f does), or print the command.
cibadmin() {
    if [ "$mode" = print ]; then
        show cibadmin "$@"
    else
        CIB_file=$cib command cibadmin "$@"
    fi
}

# node_set RSC NODE NAME VALUE: RSC's instance attribute NAME=VALUE on NODE only (a rule on #uname).
node_set() {
    echo "<instance_attributes id=\"$1-on-$2\">"
    echo "<rule id=\"$1-on-$2-rule\" score=\"10\">"
    echo "<expression id=\"$1-on-$2-rule-uname\" attribute=\"#uname\" operation=\"eq\" value=\"$2\"/>"
    echo "</rule>"
    echo "<nvpair id=\"$1-on-$2-$3\" name=\"$3\" value=\"$4\"/>"
    echo "</instance_attributes>"
}

# ops RSC: the target layer's operations (as in lio.crm).
ops() {
    echo "<operations>"
    echo "<op id=\"$1-start-0s\" name=\"start\" interval=\"0s\" timeout=\"60s\"/>"
    echo "<op id=\"$1-stop-0s\" name=\"stop\" interval=\"0s\" timeout=\"60s\"/>"
    echo "<op id=\"$1-monitor-20s\" name=\"monitor\" interval=\"20s\" timeout=\"30s\"/>"
    echo "</operations>"
}

# target_xml: lio.crm's cl_target as CIB XML, on one line. Each node's target has its own IQN
# and no network portal (portals=""): p_lio opens them once the node's LUN is in its ALUA group.
target_xml() {
    {
        echo "<clone id=\"cl_target\">"
        echo "<meta_attributes id=\"cl_target-meta_attributes\">"
        echo "<nvpair id=\"cl_target-meta_attributes-interleave\" name=\"interleave\" value=\"true\"/>"
        echo "</meta_attributes>"
        echo "<group id=\"g_target_$VG\">"
        echo "<primitive id=\"p_target_$VG\" class=\"ocf\" provider=\"heartbeat\" type=\"iSCSITarget\">"
        node_set "p_target_$VG" "$NODE1" iqn "$TARGET1"
        node_set "p_target_$VG" "$NODE2" iqn "$TARGET2"
        echo "<instance_attributes id=\"p_target_$VG-instance_attributes\">"
        echo "<nvpair id=\"p_target_$VG-implementation\" name=\"implementation\" value=\"lio-t\"/>"
        echo "<nvpair id=\"p_target_$VG-portals\" name=\"portals\" value=\"\"/>"
        echo "</instance_attributes>"
        ops "p_target_$VG"
        echo "</primitive>"
@lu_xml@        echo "</group>"
        echo "</clone>"
    } | tr -d '\n'
}

if [ "$mode" = push ]; then
    orig=$(mktemp /tmp/alua-stack.XXXXXX)
    cib=$(mktemp /tmp/alua-stack.XXXXXX)
    trap 'rm -f "$orig" "$cib"' EXIT
    command pcs cluster cib "$orig"
    cp "$orig" "$cib"
fi

@fencing@# Layer 1: the replicated disk, dual-primary (drbd.crm).
pcs resource create "p_drbd_$VG" ocf:linbit:drbd drbd_resource="$DRBD" \
@drbd_ops@    promotable ms_drbd promoted-max=2 promoted-node-max=1 clone-max=2 clone-node-max=1 \
    notify=true interleave=true

# Layer 2: the lock stack, DLM then lvmlockd (lock.crm).
pcs resource create p_dlm ocf:alua:dlm \
    op start timeout=90s interval=0s \
    stop timeout=100s interval=0s \
    monitor interval=30s timeout=20s \
    --no-default-ops --group g_lock
pcs resource create p_lvmlockd ocf:alua:lvmlockd \
    op start timeout=90s interval=0s \
    stop timeout=90s interval=0s \
    monitor interval=30s timeout=20s \
    --no-default-ops --group g_lock
pcs resource clone g_lock cl_lock interleave=true

# Layer 3: the shared volume group on DRBD (lvm.crm).
pcs resource create "p_lvm_$VG" ocf:alua:drbd-lvm volume_group="$VG" drbd_resources="$DRBD" \
    activation_mode=shared lock_type=lvmlockd \
    op start timeout=90s interval=0s \
    stop timeout=90s interval=0s \
    monitor interval=30s timeout=90s \
    monitor interval=61s timeout=90s OCF_CHECK_LEVEL=10 \
    --no-default-ops \
    clone cl_lvm interleave=true

# Layer 4: ALUA target port groups, promoted on one node (scst.crm or lio.crm).
if [ "$ALUA" = scst ]; then
    # p_scst creates each node's SCST device (on the LV) and target, and enables the target last
    pcs resource create p_scst ocf:alua:scst device_groups="@scst_dg@" devices="@scst_devs@" drbd_resources="$DRBD" \
        targets="$NODE1=$TARGET1 $NODE2=$TARGET2" portals="$NODE1=$ADDRS1 $NODE2=$ADDRS2" \
@alua_ops@        promotable ms_scst promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 \
        notify=true interleave=true
else
    # each node's iSCSI target and LUN (on the LV), then the ALUA agent, which opens the portals
    cibadmin --create --scope resources --xml-text "$(target_xml)"
    pcs resource create p_lio ocf:alua:lio devices="$LIO_DEVICES" drbd_resources="$DRBD" \
        targets="$NODE1=$TARGET1 $NODE2=$TARGET2" portals="$NODE1=$PORTALS1 $NODE2=$PORTALS2" \
@alua_ops@        promotable ms_lio promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 \
        notify=true interleave=true
fi

# How the layers depend on each other, node by node (interleave=true).
# alua-alert: marks fenced nodes for the ALUA agent (see the comment in scst.crm), for fencing
# events only (pcs has no alert filter: ClusterLabs/pcs#198, so cibadmin writes it; --modify
# --allow-create: a CIB without alerts has no alerts section for --create to add to)
alert_xml() {
    {
        echo '<alert id="alua_fenced" path="/usr/sbin/alua-alert"><select><select_fencing/></select>'
        echo '<recipient id="alua_fenced-recipient-1" value="/run/resource-agents/alua-fenced"/></alert>'
    } | tr -d '\n'
}
cibadmin --modify --allow-create --scope alerts --xml-text "$(alert_xml)"

pcs constraint colocation add cl_lvm with cl_lock INFINITY id=c_lvm_with_lock
pcs constraint order start cl_lock then start cl_lvm kind=Mandatory id=o_lock_before_lvm
pcs constraint colocation add cl_lvm with Promoted ms_drbd INFINITY id=c_lvm_with_drbd_promoted
pcs constraint order promote ms_drbd then start cl_lvm kind=Mandatory id=o_drbd_promote_before_lvm
if [ "$ALUA" = scst ]; then
    pcs constraint colocation add ms_scst with cl_lvm INFINITY id=c_scst_with_lvm
    pcs constraint order start cl_lvm then start ms_scst kind=Mandatory id=o_lvm_before_scst
else
    # lio: the VG before the target and LUN, and they before the ALUA agent
    pcs constraint colocation add cl_target with cl_lvm INFINITY id=c_target_with_lvm
    pcs constraint order start cl_lvm then start cl_target kind=Mandatory id=o_lvm_before_target
    pcs constraint colocation add ms_lio with cl_target INFINITY id=c_lio_with_target
    pcs constraint order start cl_target then start ms_lio kind=Mandatory id=o_target_before_lio
fi

# The ALUA promotion stays where it is when the other node returns. To prefer a node
# instead (it then takes the promotion back when it returns), add:
#   pcs constraint location ms_@alua@ rule role=Promoted score=50 constraint-id=l_@alua@_prefers_@node1@ \
#       '#uname' eq @node1@

if [ "$mode" = push ]; then
    # only the changes, so that whatever else changed meanwhile in the cluster stays
    command pcs cluster cib-push "$cib" diff-against="$orig"
fi
'''
LU_XML = r'''        echo "<primitive id=\"p_lu_@ref@\" class=\"ocf\" provider=\"heartbeat\" type=\"iSCSILogicalUnit\">"
        node_set "p_lu_@ref@" "$NODE1" target_iqn "$TARGET1"
        node_set "p_lu_@ref@" "$NODE2" target_iqn "$TARGET2"
        echo "<instance_attributes id=\"p_lu_@ref@-instance_attributes\">"
        echo "<nvpair id=\"p_lu_@ref@-implementation\" name=\"implementation\" value=\"lio-t\"/>"
        echo "<nvpair id=\"p_lu_@ref@-lun\" name=\"lun\" value=\"@number@\"/>"
        echo "<nvpair id=\"p_lu_@ref@-path\" name=\"path\" value=\"$LV@n@\"/>"
        echo "<nvpair id=\"p_lu_@ref@-scsi_sn\" name=\"scsi_sn\" value=\"$SERIAL@n@\"/>"
        echo "</instance_attributes>"
        ops "p_lu_@ref@"
        echo "</primitive>"
'''
FIRST_LUN = """\
LV=${LV:-/dev/$VG/@lv@}   # the LUN's block device, an LV of the volume group (scst: device @device@ on it)
"""
FIRST_SERIAL = """\
SERIAL=${SERIAL:-@serial@}  # lio: the LUN's unit serial, the same on both nodes
"""
MORE_LUN = """\
LV@n@=${LV@n@:-/dev/$VG/@lv@}   # LUN @number@'s block device (scst: device @device@ on it)
"""
MORE_SERIAL = """\
SERIAL@n@=${SERIAL@n@:-@serial@}  # lio: LUN @number@'s unit serial, the same on both nodes
"""
LIO_DEVICES = """\
LIO_DEVICES=${LIO_DEVICES:-@devices@}  # lio: HBA/backstore=serial (p_lu_VG's, any HBA)
"""
FENCE = """\
pcs stonith create "st_$NODE@i@" @agent@ @params@ \\
    op monitor interval=60s timeout=20s
"""
FENCE_LOCATION = """\
pcs constraint location add "l_st_$NODE@i@" "st_$NODE@i@" "$NODE@i@" -INFINITY
"""


def render(stack: Stack) -> str:
    """The script for ``stack``: its defaults the admin's names, ALUA's default the first backend."""
    vg = stack.vg

    def ref(name: str) -> str:  # a name that is the VG's follows VG=
        return "$VG" if name == vg else name

    lio = "lio" in stack.backends
    luns = []
    for number, lun in enumerate(stack.luns):
        values = {"n": str(number + 1) if number else "", "number": str(number), "lv": lun.lv, "ref": ref(lun.name),
                  "device": "VG" if lun.name == vg else lun.name, "serial": lun.serial}
        luns.append(values)
    lun_vars = "".join(fill(FIRST_LUN if v["number"] == "0" else MORE_LUN, v) for v in luns)
    if lio:
        lun_vars += "".join(fill(FIRST_SERIAL if v["number"] == "0" else MORE_SERIAL, v) for v in luns)
        devices = " ".join(f"*/p_lu_{v['ref']}=$SERIAL{v['n']}" for v in luns)
        lun_vars += fill(LIO_DEVICES, {"devices": devices})
    checked = "$NODE1$NODE2$TARGET1$TARGET2$VG" + "".join(
        f"$LV{v['n']}" + (f"$SERIAL{v['n']}" if lio else "") for v in luns
    )
    refs = [v["ref"] for v in luns]
    fencing = ""
    if stack.fences:
        numbers = {stack.node1: "1", stack.node2: "2"}
        creates = [
            fill(FENCE, {"i": numbers[node], "agent": fence.agent, "params": fence.pcs_params(f"$NODE{numbers[node]}")})
            for node, fence in stack.fences
        ]
        locations = [fill(FENCE_LOCATION, {"i": numbers[node]}) for node, _ in stack.fences]
        fencing = "# Fencing: one device per node, kept off the node it fences (fence.crm).\n"
        fencing += "".join(creates + locations) + "\n"
    return fill(
        SCRIPT,
        {
            "node1": stack.node1,
            "node2": stack.node2,
            "iqn1": stack.iqn1,
            "iqn2": stack.iqn2,
            "vg": vg,
            "drbd_default": ref(stack.drbd),
            "alua": stack.backends[0],
            "alua_choices": "|".join(sorted(stack.backends, key=("scst", "lio").index)),
            "lun_vars": lun_vars,
            "portals1": ",".join(stack.portals(1)),
            "portals2": ",".join(stack.portals(2)),
            "addrs1": ",".join(stack.addresses1),
            "addrs2": ",".join(stack.addresses2),
            "checked": checked,
            "lu_xml": "".join(fill(LU_XML, v) for v in luns),
            "fencing": fencing,
            "alua_ops": pcs_ops("alua", " " * 8),
            "drbd_ops": pcs_ops("drbd", " " * 4),
            "scst_dg": "$VG" if refs == ["$VG"] else "$VG=" + ",".join(refs),
            "scst_devs": " ".join(f"{v['ref']}=$LV{v['n']}" for v in luns),
        },
    )
