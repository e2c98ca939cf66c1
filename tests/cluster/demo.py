#!/usr/bin/python3
"""The demo behind ./tools/demo: a live 2-node Pacemaker cluster and an ALUA failover.

Starts hpms01 and hpms02 (corosync + Pacemaker, each node in its own network,
mount and UTS namespaces, each with an emulated SCST), loads the ALUA layer
from crm/scst.crm with crmsh, shows crm_mon, what each node's SCST reports
to initiators and what alua-status says on each node, kills the promoted node,
shows the survivor promoted (and alua-status again), then boots the dead node
again and shows it rejoin as unpromoted.  Everything it
started is stopped again (also on Ctrl-C); a second run starts from scratch.

    tests/cluster/demo.py [--keep]     --keep: leave the logs in /tmp/alua-demo-*
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cluster.harness import ROOT, SEED_NODES, Cluster, ClusterError, Node, target  # noqa: E402

BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def step(title: str) -> None:
    print(f"\n{BOLD}== {title}{RESET}", flush=True)


def note(text: str) -> None:
    print(f"   {text}", flush=True)


def show(text: str) -> None:
    for line in text.rstrip().splitlines():
        print(f"   {DIM}|{RESET} {line}")
    sys.stdout.flush()


def crm_mon(cluster: Cluster, via: Node) -> None:
    """crm_mon -1 -r as a user would run it on the node, without the timestamp lines."""
    text = cluster.crm_mon("-r", via=via)
    kept = [
        line
        for line in text.splitlines()
        if not line.startswith("Status of pacemakerd") and "Last updated" not in line and "Last change" not in line
    ]
    note(f"crm_mon -1 -r on {via.name}:")
    show("\n".join(kept))


def rtpg(cluster: Cluster) -> None:
    """Each node's target port groups, decoded as sg_rtpg prints them, from its emulated sysfs."""
    for node in cluster.nodes.values():
        if not node.powered:
            note(f"{node.name}: powered off (its paths are dead to initiators)")
            continue
        note(f"{node.name} ({target(node.name)}) reports:")
        show("\n".join(view.rtpg_line() for view in node.alua_view()) or "(no ALUA device group yet)")


def alua_status(cluster: Cluster) -> None:
    """sbin/alua-status in each running node: Pacemaker's roles beside that node's own SCST, judged."""
    for node in cluster.live_nodes():
        proc = node.run([str(ROOT / "sbin" / "alua-status")], timeout=40)
        note(f"alua-status on {node.name} (exit {proc.returncode}: 0 healthy, 1 degraded, 2 broken):")
        show(proc.stdout + proc.stderr)


def timeline(cluster: Cluster, killed: Node, survivor: Node, killed_at: int) -> None:
    """What happened after the kill, from the cluster's own records and the survivor's SCST."""
    events = []
    corosync_log = survivor.dir / "log" / "corosync.log"
    for line in corosync_log.read_text(errors="replace").splitlines():
        if "A new membership" in line or "A processor failed" in line:
            when = _corosync_time(line)
            if when * 1e9 > killed_at:
                events.append((when, f"{survivor.name} corosync: {line.split('] ', 2)[-1].strip()}"))
    for op in cluster.operations(since=killed_at / 1e9):
        if op.node == survivor.name and op.task in ("promote", "notify", "demote", "stop", "start"):
            events.append((op.time, f"{survivor.name} Pacemaker: {op.task} {op.rsc} -> {op.result}"))
    for w in survivor.writes():
        if w["ts"] > killed_at and w["path"].endswith("/state") and w["result"] == "ok":
            group = w["path"].split("/")[3]
            events.append((w["ts"] / 1e9, f"{survivor.name} SCST: group {group} -> {w['data'].strip()}"))
    note(f"+0.00 s  {killed.name} killed")
    events.sort()
    formed = next((when for when, text in events if "A new membership" in text), None)
    acted = next((when for when, text in events if "Pacemaker:" in text), None)
    for when, text in events:
        if when == acted and formed is not None and acted - formed > 0.7:
            note("         (Pacemaker's controller waited 1 s: it re-asks for the CIB while its updates are pending)")
        note(f"+{when - killed_at / 1e9:.2f} s  {text}")


def _corosync_time(line: str) -> float:
    stamp = " ".join(line.split()[:3])
    base, _, fraction = stamp.partition(".")
    seconds = time.mktime(time.strptime(f"{time.localtime().tm_year} {base}", "%Y %b %d %H:%M:%S"))
    return seconds + float(f"0.{fraction}" if fraction else 0)


def run_demo(cluster: Cluster) -> None:
    a, b = (cluster[name] for name in SEED_NODES)
    step("1. Two storage nodes, each in its own network, mount and UTS namespaces")
    note(f"{a.name} {a.address} and {b.name} {b.address} on a bridge in a private 'switch' namespace;")
    note("each node: corosync (knet, token 1000 ms) + Pacemaker, its own /run, /var/lib/pacemaker, /dev/shm,")
    note("and an SCST stand-in: the SCST sysfs emulator (tests/emulators/scst_sysfs.py) mounted on its")
    note("/sys/kernel/scst_tgt, with its iSCSI target registered (rel_tgt_id 1 / 2) exporting device vg1.")
    note("This demo runs WITHOUT fencing (stonith-enabled=false, no-quorum-policy=stop): a real storage")
    note("cluster must fence; tests/cluster/test_partition.py runs one with a test fence device.")
    started = time.monotonic()
    cluster.start(with_alua=False)
    note(f"both nodes online with a DC in {time.monotonic() - started:.1f} s")

    step(f"2. The ALUA layer: crm configure load update {cluster.snippet.source.relative_to(ROOT)}")
    note("Left out: the DRBD, DLM/lvmlockd and LVM layers (crm/drbd.crm, lock.crm, lvm.crm) - this kernel has")
    note("no drbd or dlm module; the ALUA agent ocf:alua:scst runs unmodified against the SCST stand-in.")
    for change in cluster.snippet.changes:
        note(f"Changed for this machine: {change}")
    started = time.monotonic()
    cluster.load_snippet(via=a)
    status = cluster.wait_settled()
    note(f"loaded; {status.promoted[0]} promoted, the other unpromoted, in {time.monotonic() - started:.1f} s")
    crm_mon(cluster, a)

    step("3. What initiators see (REPORT TARGET PORT GROUPS, as sg_rtpg decodes it), per node")
    rtpg(cluster)
    alua_status(cluster)

    victim = cluster.promoted_node()
    survivor = b if victim is a else a
    step(f"4. Failover: {victim.name}, the promoted node, dies")
    pids = victim.stack_pids()
    note(f"SIGKILL of corosync, pacemakerd and its children ({len(pids)} PIDs: {' '.join(map(str, pids))});")
    note("its SCST goes with it, as when the machine loses power.")
    killed_at = victim.crash()
    active_at = cluster.wait_group_active(survivor, survivor.name, after_ns=killed_at, timeout=30)
    cluster.wait_settled(promoted=survivor.name, timeout=30)
    token = cluster.effective_token_ms() / 1000
    note(
        f"{survivor.name}'s group active/optimized {(active_at - killed_at) / 1e9:.2f} s after the kill "
        f"(corosync declares a node dead after token {token:.1f} s + consensus {1.2 * token:.1f} s):"
    )
    timeline(cluster, victim, survivor, killed_at)
    crm_mon(cluster, survivor)
    rtpg(cluster)
    alua_status(cluster)

    step(f"5. {victim.name} boots again (a fresh SCST, no ALUA state) and rejoins")
    started = time.monotonic()
    victim.reboot()
    cluster.wait_online(cluster.names)
    cluster.wait_settled(promoted=survivor.name)
    note(f"rejoined as unpromoted in {time.monotonic() - started:.1f} s; the promotion stays on {survivor.name}")
    crm_mon(cluster, survivor)
    rtpg(cluster)
    problems = cluster.two_active_moments()
    note(
        "Replaying both SCST write logs: "
        + ("never two active groups at once." if not problems else f"TWO ACTIVE: {problems}")
    )
    if problems:
        raise ClusterError("two active groups at once")


class Interrupted(Exception):
    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, CIBs, SCST write logs)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("demo: run as root (it creates namespaces and mounts)")

    def interrupt(signum: int, _frame: object) -> None:
        raise Interrupted(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGINT too: it may arrive ignored
        signal.signal(sig, interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="alua-demo-"))
    cluster = Cluster(workdir, SEED_NODES)
    failed, interrupted = True, False
    try:
        run_demo(cluster)
        failed = False
    except (KeyboardInterrupt, Interrupted) as e:
        print(f"\ninterrupted ({e or 'SIGINT'})", flush=True)
        failed, interrupted = False, True  # nothing to investigate: the logs go too (unless --keep)
    except ClusterError as e:
        print(f"\ndemo failed: {e}", file=sys.stderr, flush=True)
    except Exception as e:  # still clean up, and say what broke
        print(f"\ndemo failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        step("Cleaning up")
        left = cluster.destroy()
        if left:
            note(f"STILL RUNNING after the clean-up: PIDs {' '.join(map(str, left))}")
        else:
            note(
                f"all {cluster.started_count} processes the demo started are gone (ended by PID); "
                "the namespaces and their mounts went with them"
            )
        if args.keep or failed:
            note(f"logs kept in {workdir} (each node: log/pacemaker.log, log/corosync.log, scst-boot*/writes.jsonl)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed or interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
