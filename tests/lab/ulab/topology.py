"""The lab's machines, networks and the files each node gets.

Names follow the seed article: storage nodes hpms01/hpms02 (the names the
crm/ snippets use), initiator proxmox01, DRBD resource, VG and device vg1.

    br-ring  10.0.0.0/24       corosync (storage nodes only)
    br-a     192.168.122.0/24  iSCSI path network A
    br-b     192.168.152.0/24  iSCSI path network B
    br-drbd  10.0.1.0/24       DRBD replication (storage nodes only), apart from corosync's
                               ring as in real installations, so that the two can fail apart
"""

from __future__ import annotations

STORAGE = ("hpms01", "hpms02")
INITIATOR = "proxmox01"
RING = {"hpms01": "10.0.0.99", "hpms02": "10.0.0.98"}
REPL = {"hpms01": "10.0.1.99", "hpms02": "10.0.1.98"}
NET_A = {"hpms01": "192.168.122.99", "hpms02": "192.168.122.98", "proxmox01": "192.168.122.160"}
NET_B = {"hpms01": "192.168.152.99", "hpms02": "192.168.152.98", "proxmox01": "192.168.152.52"}
IQN = {n: f"iqn.2016-02.local.virtual:{n}.vg1" for n in STORAGE}
INITIATOR_IQN = "iqn.1993-08.org.debian:01:proxmox01"
VG = "vg1"
DRBD_RES = "vg1"
LV = "lun1"
LV_SIZE_MB = 400
DRBD_DISK_MB = 512
SERIAL = "509f7d73"  # the unit serial both nodes present (as in the seed)
STORAGE_MEM_MB = 640
INITIATOR_MEM_MB = 512

BASE_MODULES = ["configfs", "drbd", "dm_mod", "dlm"]
# scsi_dh_alua: the kit's and the seed's multipath.conf say hardware_handler "1 alua"
INITIATOR_MODULES = ["iscsi_tcp", "sd_mod", "sg", "scsi_dh_alua", "dm_mod", "dm_multipath", "dm_round_robin",
                     "dm_service_time"]


class Variant:
    """One target backend of the lab: what the storage nodes load and what crm/ ships for it."""

    def __init__(self, name: str, *, alua: str, clone: str, stack_crm: str, target_rscs: tuple[str, ...],
                 modules: list[str], vendor: str, product: str, rtpg_groups_per_path: int,
                 faults: str = "testing") -> None:
        self.name = name
        self.alua = alua                # the promotable ALUA primitive in the shipped crm file
        self.clone = clone              # its promotable clone (whose promoted node wins a DRBD split)
        self.stack_crm = stack_crm      # crm/<file>: the whole stack, loaded as shipped
        self.target_rscs = target_rscs  # cloned target-layer primitives that must run on both nodes
        self.modules = modules          # the storage nodes' kernel modules
        self.vendor = vendor            # sg_inq: vendor identification of the LUN
        self.product = product          # sg_inq: product identification ("": not checked)
        # REPORT TARGET PORT GROUPS through one path: SCST lists both nodes' groups (as in the
        # seed); LIO (Linux 6.1) leaves the empty peer group out (lab Finding 4)
        self.rtpg_groups_per_path = rtpg_groups_per_path
        self.faults = faults            # what `tools/lab run` does by default: "matrix" or "testing"


VARIANTS = {
    "lio": Variant("lio", alua="p_lio", clone="ms_lio", stack_crm="stack-lio.crm", target_rscs=("p_target_vg1", "p_lu_vg1"),
                   modules=[*BASE_MODULES, "target_core_mod", "target_core_iblock", "iscsi_target_mod"],
                   vendor="LIO-ORG", product="", rtpg_groups_per_path=1),
    "scst": Variant("scst", alua="p_scst", clone="ms_scst", stack_crm="stack.crm", target_rscs=(),
                    modules=[*BASE_MODULES, "scst", "scst_vdisk", "iscsi-scst"],
                    vendor="SCST_BIO", product="vg1", rtpg_groups_per_path=2, faults="matrix"),
}

BRIDGES = ("br-ring", "br-a", "br-b", "br-drbd")


def nics(node: str) -> list[tuple[str, str]]:
    """(tap, bridge) in eth order."""
    short = node[-2:] if node in STORAGE else "i1"
    if node in STORAGE:
        return [(f"t{short}r", "br-ring"), (f"t{short}a", "br-a"), (f"t{short}b", "br-b"),
                (f"t{short}d", "br-drbd")]
    return [(f"t{short}a", "br-a"), (f"t{short}b", "br-b")]


def path_tap(node: str, net: str) -> str:
    """The tap of node's interface on network 'a', 'b' (paths), 'r' (ring) or 'd' (DRBD)."""
    return {tap[-1]: tap for tap, _ in nics(node)}[net]


def networkd(node: str) -> dict[str, str]:
    addrs = []
    if node in STORAGE:
        addrs = [RING[node], NET_A[node], NET_B[node], REPL[node]]
    else:
        addrs = [NET_A[node], NET_B[node]]
    files = {}
    for i, addr in enumerate(addrs):
        files[f"/etc/systemd/network/10-eth{i}.network"] = (
            f"[Match]\nName=eth{i}\n\n[Network]\nAddress={addr}/24\nLinkLocalAddressing=no\n"
            "IPv6AcceptRA=no\nConfigureWithoutCarrier=yes\n\n[Link]\nRequiredForOnline=yes\n"
        )
    return files


def hosts() -> str:
    lines = ["127.0.0.1 localhost"]
    for n in STORAGE:
        lines.append(f"{RING[n]} {n}")
    lines.append(f"{NET_A[INITIATOR]} {INITIATOR}")
    return "\n".join(lines) + "\n"


# corosync's token (ms): a lost node is noticed after the token plus the consensus (1.2 x
# token): about 2.2 s here, 6.6 s with corosync's default 3000.  With DRBD's fencing policy
# the survivor's writes wait for that and the fencing (lab Finding 18).
TOKEN_MS = 1000

COROSYNC = """\
totem {
    version: 2
    cluster_name: alualab
    transport: knet
    token: %(token)d
    crypto_cipher: none
    crypto_hash: none
}
nodelist {
    node {
        ring0_addr: %(r1)s
        name: hpms01
        nodeid: 1
    }
    node {
        ring0_addr: %(r2)s
        name: hpms02
        nodeid: 2
    }
}
quorum {
    provider: corosync_votequorum
    two_node: 1
}
logging {
    to_logfile: no
    to_syslog: yes
    timestamp: on
}
"""

# DRBD 8.4 syntax (the UML kernel's in-tree module), on its own network (br-drbd), with the
# fencing policy dual-primary needs (crm/README): on losing the peer a Primary freezes I/O
# until the fence-peer handler says the peer is fenced or outdated.  alua-fence-peer fences a
# peer whose controller has not answered for 1 s through Pacemaker's fencer, then places
# LINBIT's crm-fence-peer.sh constraint that keeps the peer from being promoted until it has
# resynced (crm-unfence-peer.sh removes it).  On a replication-link split the node where the
# ALUA clone is promoted places it and goes on; the other waits 2 s, loses, and has itself
# fenced.  The handler starts at nice -10 (its Python start on the survivor of a kill, whose one
# CPU the takeover keeps busy: 1.5-2 s at nice 0, lab Finding 27); it polls the CIB at nice 0.
FENCE_PEER = ("/usr/bin/nice -n -10 /usr/sbin/alua-fence-peer --promotable %(promotable)s --fence-after 1 -- "
              "/usr/lib/drbd/crm-fence-peer.sh "
              "--timeout 30 --dc-timeout 30 --suicide-on-failure-if-primary")
UNFENCE_PEER = "/usr/lib/drbd/crm-unfence-peer.sh"
DRBD = """\
resource %(res)s {
    protocol C;
    handlers {
        fence-peer "%(fence_peer)s";
        after-resync-target "%(unfence_peer)s";
    }
    net {
        # Notice a dead peer in 0.5-1.5 s (defaults: ping-int 10 s, timeout 6 s).  Until DRBD
        # gives up on the peer, the survivor's writes wait for the dead node's ack: measured
        # by the lab, the defaults stalled I/O for 20 s after the promoted node was killed.
        # (timeout must stay below ping-int.)
        ping-int 1;
        ping-timeout 5;
        timeout 9;
        connect-int 3;
        allow-two-primaries yes;
        after-sb-0pri discard-zero-changes;
        after-sb-1pri discard-secondary;
        after-sb-2pri disconnect;
    }
    disk {
        fencing resource-and-stonith;
        resync-rate 200M;
        # A fixed rate, not throttled for the initiator's I/O: with DRBD's dynamic controller
        # (c-plan-ahead 20) a 268 MB resync ran at 2.2 MB/s beside fio for 121 s (lab Finding 25).
        c-plan-ahead 0;
        c-min-rate 0;
        # A Primary that crashes resyncs every activity-log extent when it returns (4 MiB each,
        # default 1237: the whole 400 MB LV here). Resync runs at 3-4 MB/s in UML, so that took
        # 103 s, longer than drbd-lvm's 90 s start timeout (lab Finding 16); 7 hot extents
        # (28 MiB at most) cover fio's 16 MiB file and XFS's log.
        al-extents 7;
    }
    on hpms01 {
        device /dev/drbd0;
        disk /dev/ubdb;
        address %(r1)s:7789;
        meta-disk internal;
    }
    on hpms02 {
        device /dev/drbd0;
        disk /dev/ubdb;
        address %(r2)s:7789;
        meta-disk internal;
    }
}
"""

LVMLOCAL_STORAGE = """\
# lab: only the DRBD device holds PVs (its backing disk /dev/ubdb would be a duplicate)
devices {
    global_filter = [ "a|^/dev/drbd[0-9]+$|", "r|.*|" ]
    use_devicesfile = 0
}
global {
    use_lvmlockd = 1
}
"""

LVMLOCAL_INITIATOR = """\
devices {
    global_filter = [ "r|.*|" ]
    use_devicesfile = 0
}
"""

DLM_CONF = "# lab: dlm_controld's defaults; it fences through Pacemaker (stonith:fence_lab)\n"


def drbd_res(promotable: str) -> str:
    return DRBD % {"res": DRBD_RES, "r1": REPL["hpms01"], "r2": REPL["hpms02"],
                   "fence_peer": FENCE_PEER % {"promotable": promotable}, "unfence_peer": UNFENCE_PEER}


def overlay(node: str, promotable: str = "ms_scst") -> dict[str, str]:
    files = {"/etc/hostname": node + "\n", "/etc/hosts": hosts(), **networkd(node)}
    if node in STORAGE:
        files["/etc/corosync/corosync.conf"] = COROSYNC % {"r1": RING["hpms01"], "r2": RING["hpms02"],
                                                           "token": TOKEN_MS}
        files[f"/etc/drbd.d/{DRBD_RES}.res"] = drbd_res(promotable)
        files["/etc/lvm/lvmlocal.conf"] = LVMLOCAL_STORAGE
        files["/etc/dlm/dlm.conf"] = DLM_CONF
    else:
        files["/etc/lvm/lvmlocal.conf"] = LVMLOCAL_INITIATOR
        files["/etc/iscsi/initiatorname.iscsi"] = f"InitiatorName={INITIATOR_IQN}\n"
    return files
