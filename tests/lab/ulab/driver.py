"""tools/lab run: the whole lab from scratch, with host guard, clean-up and report."""

from __future__ import annotations

import os
import signal
import sys
import time

from . import image, kernel, report
from . import topology as T
from .fence import FenceService
from .lab import Lab, log, prune_build_trees
from .safety import HostGuard
from .matrix import MatrixMixin
from .scenario import ClusterMixin, FaultsMixin, InitiatorMixin, Results, Scenario, StackMixin

SETUP = [
    # (stage, needs, what it covers)
    ("boot", (), "3 UML instances (2 storage, 1 initiator) on 4 networks"),
    ("drbd-init", ("boot",), "DRBD 8.4 metadata, connect, skip initial sync"),
    ("cluster", ("drbd-init",), "corosync + Pacemaker; crm/drbd.crm + crm/lock.crm: dual-primary + DLM + lvmlockd"),
    ("vg", ("cluster",), "vgcreate --shared on DRBD, LV for the LUN"),
    ("stack", ("vg",), "the variant's whole-stack crm file as shipped: shared VG, target layer, ALUA promoted"),
    ("initiator", ("stack",), "TESTING 1: discovery/login x4, sg_inq TPGS=1, sg_rtpg, multipath prio 50/10"),
    ("io-start", ("initiator",), "fio with verification on XFS over multipath"),
    ("link-failure", ("io-start",), "TESTING 2: one path's link down/up under I/O"),
]
END = [
    ("io-stop", ("io-start",), "TESTING 4: fio stops; data written before the faults verified"),
    ("alua-samples", ("stack",), "both nodes' group states every 0.25 s: never two active/optimized groups"),
]
# The seed's TESTING section: one link, one node
TESTING = [
    *SETUP,
    ("node-failure", ("io-start",), "TESTING 3: promoted node killed, failover, node returns unpromoted"),
    *END,
]
# The fault matrix (issue 14): each fault starts from a fully redundant stack, so each needs the last
MATRIX_FAULTS = [
    ("suspended-io", "DRBD's I/O held suspended on the unpromoted node: the VG's deep monitor passes (Finding 31)"),
    ("paths-cut", "both of the initiator's paths to the promoted node cut, then restored"),
    ("switchover", "planned: the promotion moved to the other node (crm_resource --move --promoted), then cleared"),
    ("promoted-kill-1", "promoted node killed, fenced, returns and resyncs"),
    ("promoted-kill-2", "again, on the other node"),
    ("promoted-kill-3", "again, on the first node"),
    ("replication-cut", "DRBD's link cut with both nodes alive: one node fenced, no split brain"),
    ("unpromoted-kill", "unpromoted node killed: its group offline on the survivor, back non-optimized"),
    ("freeze", "promoted node frozen (SIGSTOP) beyond the token: fenced, never serves again"),
]


def matrix(faults: list[tuple[str, str]]) -> list[tuple[str, tuple[str, ...], str]]:
    order = [*SETUP]
    prev = "link-failure"
    for name, what in faults:
        order.append((name, (prev,), what))
        prev = name
    order += [*END, ("data-compare", ("io-stop",), "both backing disks identical after the faults (no diverged data)")]
    order.sort(key=lambda s: s[0] == "alua-samples")  # the samples are judged last
    return order


MATRIX = matrix(MATRIX_FAULTS)
# two kills alone (one each way), e.g. with ALUA_LAB_CPUS on a slowed machine (Finding 31)
KILLS = matrix([f for f in MATRIX_FAULTS if f[0] in ("promoted-kill-1", "promoted-kill-2")])
ORDERS = {"testing": TESTING, "matrix": MATRIX, "freeze": matrix([f for f in MATRIX_FAULTS if f[0] == "freeze"]),
          "kills": KILLS}
ORDER = TESTING  # kept for callers that list the stages


class Full(ClusterMixin, StackMixin, InitiatorMixin, FaultsMixin, MatrixMixin, Scenario):
    pass


def _sigterm(signum, frame):  # noqa: ANN001
    raise KeyboardInterrupt(f"signal {signum}")


def write_report(lab: Lab, sc: Full, r: Results, guard_changed: list[str] | None, t_total: float,
                 order: list | None = None) -> str:
    order = order or ORDER
    fio_dir = os.path.join(lab.share, "nodes", T.INITIATOR, "fio-out")
    points = report.read_lat_logs(fio_dir) if os.path.isdir(fio_dir) else []
    rounds = report.fio_rounds(fio_dir) if os.path.isdir(fio_dir) else []
    starts = []
    # round boundaries: the first completion of each round's log
    if rounds:
        import glob

        for path in glob.glob(os.path.join(fio_dir, "r*_lat.*.log")):
            with open(path) as f:
                first = f.readline().split(",")
            if first and first[0].strip().isdigit():
                starts.append(int(first[0]) / 1000.0)
    st = report.stalls(points, starts)
    failover = {}
    victim, survivor = r.facts.get("node_failure_victim"), r.facts.get("survivor")
    jpath = os.path.join(lab.logdir, f"{survivor}.journal-unix.txt") if survivor else ""
    if survivor and os.path.exists(jpath):
        with open(jpath) as f:
            failover = report.failover_from_journal(f.read(), victim, survivor, r.facts["t_kill"], sc.v.alua)
        r.facts["failover_from_journal"] = failover
        names = {"membership_lost": f"{survivor}: {victim} lost (journal)",
                 "promote_ok": f"{survivor}: {sc.v.alua} promoted (journal)"}
        for k, v in failover.items():
            if v is not None and k in names:
                r.event(names[k], r.facts["t_kill"] + v)
    svg = report.svg_timeline(points, r.events,
                              f"alua lab ({sc.v.name}): fio I/O latency through link and node failures")
    with open(os.path.join(lab.reportdir, "timeline.svg"), "w") as f:
        f.write(svg)
    lines = [f"alua real-kernel lab (User-Mode Linux) - {sc.v.name.upper()} variant - report", "=" * 60, "",
             f"run {lab.tag}, total {t_total:.0f} s, work directory {lab.root}",
             f"kernel {lab.kernel.release} ({lab.kernel.info['source']}, our patches), SCST {lab.kernel.info['scst']}; "
             f"target {sc.v.name}, crm/{sc.v.stack_crm}; the project: {r.facts.get('installs', '?')}", ""]
    if r.facts.get("initiator_fail_tmo"):
        lines[-1:-1] = [f"initiator: fast_io_fail_tmo and replacement_timeout {r.facts['initiator_fail_tmo']} s "
                        "(ALUA_LAB_FAIL_TMO; the kit has 2 s)"]
    lines.append("Stages")
    for s in r.stages:
        lines.append(f"  {s['status'].upper():8} {s['stage']:13} {s['seconds']:7.1f} s  {s['details']}")
    done = {s["stage"] for s in r.stages}
    for name, _needs, what in order:
        if name not in done:
            lines.append(f"  NOT RUN  {name:13}            {what}")
    lines.append("")
    lines.append("I/O (fio, 4 KiB random writes at 100 IOPS, iodepth 4, crc32c verify)")
    total_w = sum(x["written"] for x in rounds)
    total_v = sum(x["verified"] for x in rounds)
    errs = [x for x in rounds if x["error"] or (x["rc"] not in (0, None))]
    lines.append(f"  rounds {len(rounds)}, written {total_w / 2**20:.1f} MiB, read back and verified "
                 f"{total_v / 2**20:.1f} MiB, rounds with errors: {len(errs)}")
    for x in errs:
        lines.append(f"    round {x['round']}: rc={x['rc']} error={x['error']} {x['text'][:300]}")
    if st["max_latency"] is not None:
        t0 = points[0][0]
        lines.append(f"  longest I/O latency {st['max_latency']:.2f} s (at +{st['max_latency_at'] - t0:.1f} s); "
                     f"longest gap between completions {st['max_gap']:.2f} s (at +{st['max_gap_at'] - t0:.1f} s); "
                     f"target below 5 s: {'met' if max(st['max_latency'], st['max_gap']) < 5 else 'NOT met'}")
    lines.append("")
    table = report.fault_table(r.facts.get("faults", []), points, rounds, r.facts.get("two_active", []), starts)
    r.facts["fault_table"] = table
    lines.append("Faults (DRBD fencing resource-and-stonith; stall = longest I/O latency or gap in the fault's "
                 "window; promoted / redundant = seconds after the fault)")
    lines += report.fault_table_lines(table) if table else ["  (no fault ran)"]
    for row in r.facts.get("faults", []):
        if row.get("breakdown"):
            parts = ", ".join(f"{k} {'-' if v is None else f'{v:.1f}'}" for k, v in row["breakdown"].items())
            busy = row.get("survivor_cpu_busy")
            busy = "" if busy is None else f"; its CPU {busy:.0%} busy until the handler's answer"
            lines.append(f"  {row['fault']}: survivor's log, s after the fault: {parts}{busy}")
        if row.get("notes"):
            lines.append(f"  {row['fault']}: {'; '.join(row['notes'])}")
        if row.get("status"):
            lines.append(f"  {row['fault']}: alua-status " + report.status_line(row["status"]))
    lines.append("")
    lines.append("Failover (from the survivor's journal, seconds after the kill)")
    if failover:
        for k, v in failover.items():
            lines.append(f"  {k:16} {'not found' if v is None else f'{v:.1f} s'}")
    else:
        lines.append("  (node failure stage did not run)")
    if "alua_samples" in r.facts:
        lines.append(f"  ALUA samples per node: {r.facts['alua_samples']}; moments with two active groups: "
                     f"{len(r.facts.get('two_active', []))}")
    for k in ("failover_seen_seconds", "multipath_switch_seconds", "rejoin_seconds", "link_down_detect_seconds",
              "link_up_recover_seconds", "cluster_base_up_seconds", "stack_up_seconds", "boot_seconds"):
        if k in r.facts:
            lines.append(f"  {k:26} {r.facts[k]}")
    lines.append("")
    lines.append("Events (seconds from the first)")
    if r.events:
        e0 = min(t for t, _ in r.events)
        for t, label in sorted(r.events):
            lines.append(f"  +{t - e0:7.1f}  {label}")
    lines.append("")
    for k in ("initiator_scsi_errors", "sg_inq", "sg_rtpg", "multipath_start", "multipath_link_down",
              "multipath_link_up", "multipath_node_down", "multipath_node_back", "crm_mon_node_down",
              "crm_mon_node_back"):
        if k in r.facts:
            lines += [f"--- {k}", str(r.facts[k]).rstrip(), ""]
    lines.append("Host guard: " + ("not checked" if guard_changed is None else
                                   ("unchanged" if not guard_changed else f"CHANGED: {guard_changed}")))
    r.facts["stalls"] = st
    r.facts["fio_rounds"] = rounds
    r.save()
    text = "\n".join(lines) + "\n"
    with open(os.path.join(lab.reportdir, "report.txt"), "w") as f:
        f.write(text)
    return text


def build_all(workdir: str) -> tuple[kernel.Kernel, str]:
    """The kernel (compile-bound) and the image (download-bound) at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        k = pool.submit(kernel.build, workdir)
        img = pool.submit(image.build, workdir)
        return k.result(), img.result()


def run(workdir: str, hold: int = 0, until: str = "", variant: str = "scst", faults: str = "") -> int:
    order = ORDERS[faults or T.VARIANTS[variant].faults]
    signal.signal(signal.SIGTERM, _sigterm)
    t0 = time.time()
    guard = HostGuard()
    prune_build_trees(workdir)  # only one lab runs per work directory (lab.py holds a lock)
    k, img = build_all(workdir)
    lab = Lab(workdir, img, k, variant)
    r = Results(os.path.join(lab.root, "results.json"))
    sc = Full(lab, r, T.VARIANTS[variant])
    changed: list[str] | None = None
    interrupted = False
    fence: FenceService | None = None
    try:
        lab.prepare()
        guard.save(os.path.join(lab.root, "host-guard.txt"))
        fence = FenceService(lab, r)
        fence.start()
        r.facts["faults_plan"] = faults or T.VARIANTS[variant].faults
        for name, needs, _what in order:
            sc.stage(name, getattr(sc, name.replace("-", "_")), needs=needs)
            if name == until:
                break
        if hold:
            log(f"holding the instances for {hold} s (python3 tests/lab/lab.py exec NODE CMD; "
                f"rm {lab.root}/hold to end)")
            open(os.path.join(lab.root, "hold"), "w").close()
            end = time.time() + hold
            while time.time() < end and os.path.exists(os.path.join(lab.root, "hold")):
                time.sleep(1)
    except KeyboardInterrupt as e:
        interrupted = True
        log(f"interrupted ({e}); cleaning up")
    finally:
        if fence is not None:
            fence.stop()
        try:
            lab.collect_logs()
            for node, inst in lab.instances.items():
                if inst.running():
                    out = inst.run("journalctl -b --no-pager -o short-unix", timeout=30, check=False)
                    with open(os.path.join(lab.logdir, f"{node}.journal-unix.txt"), "w") as f:
                        f.write(out["stdout"])
        except Exception as e:  # noqa: BLE001
            log(f"log collection: {e}")
        lab.cleanup()
        changed = guard.changed()
        text = write_report(lab, sc, r, changed, time.time() - t0, order)
        print(text)
        log(f"report: {lab.reportdir}/report.txt, {lab.reportdir}/timeline.svg")
    if changed:
        print(f"HOST GUARD: these host files changed during the lab: {changed}", file=sys.stderr)
        return 3
    if interrupted:
        return 130
    failed = [s for s in r.stages if s["status"] != "passed"]
    return 1 if failed or len(r.stages) < len(order) and not until else 0
