"""The fault matrix (issue 14): every partial failure of the dual-primary stack, one stage each,
under fio with verification and with DRBD's `fencing resource-and-stonith` on.

Each fault stage records one row in ``facts["faults"]``: when it began, which node it hit,
when the promotion was seen on its new node, when the stack was fully redundant again
(both nodes up, DRBD Connected and UpToDate on both and Primary on both, the ALUA clone
promoted on one node and unpromoted on the other, all four paths ready on the initiator),
and which nodes were fenced.  report.fault_table() adds, per row, the longest I/O stall,
fio's I/O and verification errors and the two-active samples inside the row's window.

Every stage waits for full redundancy before it returns, so each fault starts from a
healthy, resynced stack.
"""

from __future__ import annotations

import os
import time

from . import topology as T
from .scenario import GiveUp, StageFailed, at_once, wait_for
from support.observe import active_roles, failure_lines

#: how long the promoted node stays frozen (SIGSTOP): well beyond corosync's token
FREEZE_SECONDS = 12.0
#: how long a cut stays cut
CUT_SECONDS = 10.0
#: how long the suspended-io stage holds a read before it runs the deep monitor: beyond the
#: 10 s drbd-lvm's read check may take
READ_HELD_SECONDS = 12.0
#: the shared VG's primitive in both shipped stacks (crm/stack.crm, crm/stack-lio.crm)
LVM_RSC = "p_lvm_vg1"
#: the journal identifiers a stuck stage quotes (last_cluster_lines)
CLUSTER_IDENTS = ("pacemaker", "corosync", "dlm_controld", "lvmlockd", "alua-", "crm-fence-peer", "fence_lab")


class MatrixMixin:
    # -- shared --------------------------------------------------------------

    def promoted(self, node: str = "") -> tuple[str, str]:
        """(promoted node, the other storage node) by the ALUA clone's roles."""
        roles = self.roles(node).get(self.v.alua, {})
        prom = [n for n, r in roles.items() if r == "Promoted"]
        if len(prom) != 1:
            raise StageFailed(f"{self.v.alua} is promoted on {prom or 'no node'}: {roles}")
        return prom[0], [n for n in T.STORAGE if n != prom[0]][0]

    def expect_promoted(self, node: str, moved: str, paths: str) -> None:
        """node is promoted and multipath's active group is node's paths (else StageFailed with why)."""
        if self.promoted()[0] != node:
            raise StageFailed(f"{moved}: {self.promoted()}")
        nodes, v = self.active_group_nodes()
        if nodes != {node}:
            raise StageFailed(f"{node}: {paths}:\n{v['text']}")

    def status_snapshot(self, row: dict, when: str) -> None:
        """alua-status --json (issue 16) on every running storage node at once: its verdict goes into
        the report, and its view of the ALUA groups must be what the node's sampler reads from sysfs
        (the newest sample, taken after the command's read; states settling: asked again once)."""
        import json

        def ask(node: str) -> dict:
            res = self.n(node).run(["/usr/sbin/alua-status", "--json"], timeout=60, check=False)
            try:
                st = json.loads(res["stdout"])
            except ValueError:
                raise StageFailed(f"alua-status on {node} ({when}) printed no JSON, exit {res['rc']}: "
                                  f"{res['stderr'][-300:]}") from None
            units = (st.get("alua") or {}).get("units") or {}
            return {"exit": st["exit_code"], "health": st["health"], "problems": [p["text"] for p in st["problems"]],
                    "groups": {f"{u}/{n}": v for u, m in units.items() for n, v in m.items() if v is not None}}

        nodes = [n for n in T.STORAGE if self.n(n).running()]
        snap = at_once(ask, nodes)
        time.sleep(0.6)  # the samplers read every 0.25 s: their newest sample now follows the commands' reads
        for node in nodes:
            if snap[node]["groups"] != self.last_alua_sample(node):
                snap[node] = ask(node)
                time.sleep(0.6)
                if snap[node]["groups"] != self.last_alua_sample(node):
                    raise StageFailed(f"alua-status on {node} ({when}) shows {snap[node]['groups']}, "
                                      f"sysfs has {self.last_alua_sample(node)}")
        row.setdefault("status", {})[when] = snap
        broken = {n: v["problems"] for n, v in snap.items() if v["exit"] >= 2}
        if when != "during" and broken:
            raise StageFailed(f"alua-status {when} {row['fault']}: broken on {broken}")

    def fault_begin(self, name: str, victim: str, what: str) -> dict:
        # each fault starts from steady I/O (100 IOPS), so the stall measured is its own
        self.wait_for_stack("steady I/O before the fault", lambda: self.io_continues(3) >= 200, 90, interval=0)
        row = self.new_fault(name, victim, what)
        self.status_snapshot(row, "before")
        row["t0"] = time.time()  # the fault's clock starts after the status read
        self.r.event(f"{name}: {what}")
        return row

    def fault_end(self, row: dict) -> str:
        self.status_snapshot(row, "after")
        row["fenced"] = sorted({f["node"] for f in self.r.facts.get("fencing", []) if f["t"] >= row["t0"]})
        self.r.save()
        prom = f", promoted after {row['t_promoted'] - row['t0']:.1f} s" if row["t_promoted"] else ""
        return (f"{row['what']}{prom}; fully redundant after {row['t_redundant'] - row['t0']:.1f} s; "
                f"fenced: {', '.join(row['fenced']) or 'none'}" + (f"; {'; '.join(row['notes'])}" if row["notes"] else ""))

    def drbd_state(self, node: str) -> str:
        """/proc/drbd's status line of minor 0 ('' if the node does not answer)."""
        res = self.n(node).run("cat /proc/drbd", timeout=10, check=False)
        for line in res["stdout"].splitlines():
            if line.strip().startswith("0:"):
                return line.strip()
        return ""

    def redundant(self) -> bool:
        if not all(self.n(n).running() for n in T.STORAGE):
            return False
        for node in T.STORAGE:
            st = self.drbd_state(node)
            if not ("cs:Connected" in st and "ro:Primary/Primary" in st and "ds:UpToDate/UpToDate" in st):
                return False
        roles = self.roles().get(self.v.alua, {})
        if sorted(roles.values()) != ["Promoted", "Unpromoted"]:
            return False
        ready = [p for g in self.paths()["groups"] for p in g["paths"] if p["chk"] == "ready" and p["dm"] == "active"]
        return len(ready) == 4

    def wait_redundant(self, row: dict, timeout: float = 300) -> None:
        self.wait_for_stack("the stack fully redundant again (DRBD UpToDate/Primary on both, ALUA "
                            "promoted/unpromoted, 4 paths ready)", self.redundant, timeout, interval=1)
        row["t_redundant"] = time.time()
        self.r.event(f"{row['fault']}: fully redundant")

    def wait_promoted_on(self, row: dict, node: str, timeout: float = 120) -> None:
        """The promotion on node: first its own group active in its sysfs, as its sampler writes to
        the share (read on the host: while the node's writes may still be frozen no command runs
        there, where each crm_mon costs the busy survivor 1-2 s of CPU, lab Finding 27); then, once
        I/O completes again, Pacemaker's own view of the role and alua-status's ("during")."""
        self.wait_own_group_active(node, timeout)
        row["t_promoted"] = time.time()
        self.r.event(f"{row['fault']}: {node} promoted (its group active in sysfs)")
        self.wait_for_stack("I/O completing again", lambda: self.io_continues(1.0) > 0, 90, interval=0)

        def check():
            st = self.roles(node)
            return st if st.get(self.v.alua, {}).get(node) == "Promoted" else None

        self.wait_for_stack(f"{self.v.alua} promoted on {node} in Pacemaker's view", check, timeout, interval=1)
        self.status_snapshot(row, "during")

    def wait_fenced(self, row: dict, node: str, timeout: float = 60) -> float:
        def check():
            return [f for f in self.r.facts.get("fencing", []) if f["node"] == node and f["t"] >= row["t0"]]

        fenced = self.wait_for_stack(f"{node} fenced", check, timeout, interval=0.2)
        return fenced[0]["t"] - row["t0"]

    def breakdown(self, row: dict, survivor: str) -> None:
        """Where the stall went: the survivor's own log lines, seconds after the fault (report)."""
        from .report import failover_from_journal

        out = self.n(survivor).run(f"journalctl --no-pager -o short-unix --since @{int(row['t0']) - 2}",
                                   timeout=60, check=False)["stdout"]
        row["breakdown"] = failover_from_journal(out, row["victim"], survivor, row["t0"], self.v.alua)
        from .alua_samples import cpu_busy

        until = row["breakdown"].get("handler_returned") or 10.0
        path = os.path.join(self.lab.share, "nodes", survivor, "alua.jsonl")
        row["survivor_cpu_busy"] = cpu_busy(path, row["t0"], row["t0"] + until)

    def return_node(self, row: dict, node: str) -> None:
        """The fenced node boots again (same disks) and must rejoin without help."""
        inst = self.n(node)
        if inst.running():
            raise StageFailed(f"{node} should be powered off (fenced) but still runs")
        inst.start()

        def power_cycled():
            row["notes"].append(f"{node} hung silently in early boot: power-cycled once")
            self.r.event(f"{row['fault']}: {node} hung in early boot, power-cycled")

        inst.wait_ready_power_cycling(120, 240, on_cycle=power_cycled)
        self.r.event(f"{row['fault']}: {node} booted")
        self.start_sampler(node)
        alua = self.v.alua

        def rejoined():
            xml = self.mon()
            st = active_roles(xml)
            fatal = [f for f in failure_lines(xml) if f" on {node}:" in f and "_start_" in f]
            if fatal:
                raise GiveUp(f"{node} returned but a start failed there: {'; '.join(fatal)}")
            return st if st.get(alua, {}).get(node) == "Unpromoted" else None

        self.wait_for_stack(f"{node} rejoined with {alua} unpromoted", rejoined, 400, interval=2)
        self.r.event(f"{row['fault']}: {node} rejoined unpromoted")

    def wait_for_stack(self, what: str, fn, timeout: float, interval: float = 1.0):
        """wait_for, and a wait that fails says what the stack showed then (stack_state)."""
        try:
            return wait_for(what, fn, timeout, interval=interval)
        except StageFailed as e:
            raise StageFailed(f"{e}; {self.stack_state()}") from None

    def stack_state(self) -> str:
        """What a stage that timed out waiting for the stack says it saw: DRBD on each node, the
        resources' roles and Pacemaker's failed actions."""
        drbd = "; ".join(f"{n} DRBD {self.drbd_state(n) or 'not answering'}" for n in T.STORAGE)
        drbd += "".join(f"; {n}'s last DRBD lines: {' | '.join(self.last_drbd_lines(n))}" for n in T.STORAGE)
        drbd += "".join(f"; {n}'s last cluster warnings and results: {' | '.join(self.last_cluster_lines(n))}"
                        for n in T.STORAGE)
        try:
            xml = self.mon()
            roles, failures = active_roles(xml), failure_lines(xml)
        except Exception as e:  # noqa: BLE001 - the stage has failed already; say what could be read
            return f"{drbd}; crm_mon: {e}"
        return f"{drbd}; roles {roles}; failed actions: {'; '.join(failures) or 'none'}"

    def journal_tail(self, node: str, keep, count: int) -> list[tuple[float, str]]:
        """The newest count lines that keep(ident, message) accepts, as (epoch, "ident: message"),
        from node's journal as it streams to the share (read on the host: they are there even when
        the node no longer answers commands, Finding 21). The newest boot's file only."""
        import glob

        boots = sorted(glob.glob(os.path.join(self.lab.share, "nodes", node, "journal", "boot-*.txt")),
                       key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0]))
        if not boots:
            return []
        out = []
        with open(boots[-1], errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 2)  # short-unix: EPOCH HOST IDENT[PID]: MESSAGE
                if len(parts) < 3 or ": " not in parts[2]:
                    continue
                ident, msg = parts[2].split(": ", 1)
                ident, msg = ident.split("[", 1)[0], msg.strip()  # Pacemaker's lines: "ident[pid]:  notice: ..."
                try:
                    t = float(parts[0])
                except ValueError:
                    continue
                if keep(ident, msg):
                    out.append((t, f"{ident}: {msg}"))
        return out[-count:]

    def last_drbd_lines(self, node: str, count: int = 4) -> list[str]:
        """The newest kernel lines about DRBD in node's journal."""
        lines = self.journal_tail(node, lambda ident, msg: ident == "kernel" and "drbd" in msg, count)
        return [text.split(": ", 1)[1] for _, text in lines]

    def last_cluster_lines(self, node: str, count: int = 8) -> list[str]:
        """The newest warnings and errors of the cluster's daemons and handlers in node's journal,
        and the controller's operation results, each at its second in the report's Events."""
        base = self.r.events[0][0] if getattr(self, "r", None) is not None and self.r.events else 0.0

        def keep(ident: str, msg: str) -> bool:
            if not ident.startswith(CLUSTER_IDENTS):
                return False
            return msg.startswith(("warning:", "error:", "crit:")) or "Result of " in msg or "Timed out" in msg

        return [f"+{t - base:.1f} {text}" for t, text in self.journal_tail(node, keep, count)]

    # -- faults ----------------------------------------------------------------

    def suspended_io(self) -> str:
        """DRBD's I/O held suspended on the unpromoted node (drbdadm suspend-io: what the fencing
        policy does on a Primary that lost its peer, until the fence-peer handler answers), longer
        than drbd-lvm's read check may take: a direct read of the LV there waits, and the VG's deep
        monitor (OCF_CHECK_LEVEL=10, as Pacemaker runs it every 61 s) still passes.  CI's run of
        2026-12-07 (Finding 31): that monitor failed on the survivor of a kill, whose I/O DRBD held
        while the handler ran, and Pacemaker stopped the only target that served."""
        prom, other = self.promoted()
        node, res = self.n(other), T.DRBD_RES
        read = (f"dd if=/dev/{T.VG}/{T.LV} of=/dev/null bs=4096 count=1 iflag=direct status=none; "
                "echo $? > /run/lab-held-read.rc")
        node.sh(f"drbdadm suspend-io {res}", timeout=30)
        try:
            state = self.drbd_state(other)
            node.sh(f"rm -f /run/lab-held-read.rc; systemd-run --unit=lab-held-read --collect /bin/sh -c '{read}'",
                    timeout=30)
            time.sleep(READ_HELD_SECONDS)
            if node.run("cat /run/lab-held-read.rc", timeout=30, check=False)["rc"] == 0:
                raise StageFailed(f"a direct read of {T.VG}/{T.LV} on {other} finished while DRBD held its I/O "
                                  f"suspended ({state}): this stage would prove nothing")
            began = time.time()
            check = node.run(f"crm_resource --force-check=10 --resource {LVM_RSC}", timeout=150, check=False)
            took = time.time() - began
        finally:
            node.sh(f"drbdadm resume-io {res}", timeout=30)
        self.wait_for_stack(f"the held read on {other} done after resume-io",
                            lambda: node.run("cat /run/lab-held-read.rc", timeout=30,
                                             check=False)["stdout"].strip() == "0", 60)
        said = (check["stdout"] + check["stderr"]).strip()
        skipped = [ln.strip() for ln in said.splitlines() if "read check of" in ln]
        if not skipped:  # the agent's line, where crm_resource did not pass its stderr on
            logged = node.run(f"journalctl --no-pager -o cat --since @{int(began) - 1}", timeout=60, check=False)
            skipped = [ln.strip() for ln in logged["stdout"].splitlines() if "read check of" in ln]
        if check["rc"] != 0 or not skipped:
            raise StageFailed(f"{LVM_RSC}'s deep monitor on {other} with DRBD's I/O suspended ({state}): "
                              f"exit {check['rc']}: {said[-600:]}")
        return (f"{other}: DRBD {state.split(' ', 1)[-1]}; a direct read of the LV waited "
                f"{READ_HELD_SECONDS:.0f} s and finished after resume-io; crm_resource --force-check=10 "
                f"of {LVM_RSC} passed in {took:.1f} s: {skipped[0][-120:]}")

    def paths_cut(self) -> str:
        """Both of the initiator's paths to the promoted node cut (its two path links), then restored."""
        prom, other = self.promoted()
        row = self.fault_begin("paths-cut", prom, f"{prom}'s two path links cut for {CUT_SECONDS:.0f} s")
        taps = [T.path_tap(prom, "a"), T.path_tap(prom, "b")]
        for tap in taps:
            self.lab.net.link(tap, up=False)

        def on_other():
            nodes, v = self.active_group_nodes()
            return v if nodes == {other} else None

        self.wait_for_stack(f"multipath's I/O on {other}'s paths", on_other, 60, interval=0.5)
        moved = self.io_continues(CUT_SECONDS / 2)
        if moved <= 0:
            raise StageFailed(f"no I/O completed with {prom}'s paths cut")
        for tap in taps:
            self.lab.net.link(tap, up=True)
        self.r.event(f"paths-cut: {prom}'s links restored")
        self.wait_redundant(row)
        self.expect_promoted(prom, "the promotion moved although only the initiator's paths failed",
                             "multipath did not fail back to its paths (failback immediate)")
        return self.fault_end(row)

    def switchover(self) -> str:
        """A planned switchover under I/O: the promotion moved to the other node, then the move cleared."""
        prom, other = self.promoted()
        clone = self.v.clone
        row = self.fault_begin("switchover", prom, f"promotion moved {prom} -> {other}")
        # crmsh 4.4's `crm resource move` has no promoted-role option (it runs crm_resource --move
        # without --promoted, which for a clone running on both nodes moves nothing): Pacemaker's
        # own tool moves the promoted role
        s = self.n(other)
        s.sh(f"crm_resource --move --promoted --resource {clone} --node {other}", timeout=60)
        self.wait_promoted_on(row, other)
        s.sh(f"crm resource clear {clone}", timeout=60)
        self.wait_redundant(row)
        time.sleep(5)
        self.expect_promoted(other, "after `crm resource clear` the promotion moved back",
                             "multipath's active group is not its paths")
        return self.fault_end(row)

    def promoted_kill(self, n: int) -> str:
        prom, other = self.promoted()
        row = self.fault_begin(f"promoted-kill-{n}", prom, f"promoted {prom} killed (power cut)")
        self.lab.instances[prom].kill()
        self.wait_promoted_on(row, other)
        t_f = self.wait_fenced(row, prom)
        row["notes"].append(f"fenced after {t_f:.1f} s")
        self.n(T.INITIATOR).sh("findmnt /share && touch /share/still-mounted", timeout=60)
        self.return_node(row, prom)
        self.wait_redundant(row)
        self.breakdown(row, other)
        return self.fault_end(row)

    def promoted_kill_1(self) -> str:
        return self.promoted_kill(1)

    def promoted_kill_2(self) -> str:
        return self.promoted_kill(2)

    def promoted_kill_3(self) -> str:
        return self.promoted_kill(3)

    def freeze(self) -> str:
        """The promoted node hangs (SIGSTOP) beyond the token: it must be fenced, never serve again."""
        prom, other = self.promoted()
        inst = self.lab.instances[prom]
        row = self.fault_begin("freeze", prom, f"promoted {prom} frozen (SIGSTOP) for {FREEZE_SECONDS:.0f} s")
        if not inst.freeze():
            raise StageFailed(f"could not freeze {prom}")
        self.wait_promoted_on(row, other)
        t_f = self.wait_fenced(row, prom, timeout=FREEZE_SECONDS + 30)
        row["notes"].append(f"fenced while frozen after {t_f:.1f} s")
        self.breakdown(row, other)
        left = FREEZE_SECONDS - (time.time() - row["t0"])
        if left > 0:
            time.sleep(left)
        # the end of the hang: a node nobody fenced would run on with its old ALUA state
        if inst.thaw():
            raise StageFailed(f"{prom} was still there to thaw after {FREEZE_SECONDS:.0f} s: not fenced")
        self.r.event(f"freeze: SIGCONT to {prom} (gone: fenced)")
        self.return_node(row, prom)
        self.wait_redundant(row)
        return self.fault_end(row)

    def replication_cut(self) -> str:
        """The DRBD link cut with both nodes alive: no split brain; the loser is fenced."""
        prom, other = self.promoted()
        tap = T.path_tap(other, "d")
        row = self.fault_begin("replication-cut", other, f"DRBD replication link cut ({other}'s) for "
                               f"{CUT_SECONDS:.0f} s, both nodes alive")
        self.lab.net.link(tap, up=False)
        loser_t = self.wait_for_stack("a node fenced (the replication link failed, both Primaries froze)",
                                      lambda: [f for f in self.r.facts.get("fencing", []) if f["t"] >= row["t0"]],
                                      60, interval=0.2)
        loser = loser_t[0]["node"]
        row["victim"] = loser
        row["notes"].append(f"{loser} lost and was fenced after {loser_t[0]['t'] - row['t0']:.1f} s")
        if loser != other:
            row["notes"].append(f"the promoted node {prom} lost the race")
            self.wait_promoted_on(row, other)
        left = CUT_SECONDS - (time.time() - row["t0"])
        if left > 0:
            time.sleep(left)
        self.lab.net.link(tap, up=True)
        self.r.event("replication-cut: link restored")
        self.return_node(row, loser)
        self.wait_redundant(row)
        self.breakdown(row, other if loser == prom else prom)
        split = [n for n in T.STORAGE if "Split-Brain" in self.n(n).run(
            "journalctl -k -b --no-pager | grep -i split-brain", timeout=30, check=False)["stdout"]]
        if split:
            raise StageFailed(f"DRBD reported a split brain on {split}")
        return self.fault_end(row)

    def unpromoted_kill(self) -> str:
        """The unpromoted node killed: its group offline on the survivor, back non-optimized later."""
        prom, other = self.promoted()
        row = self.fault_begin("unpromoted-kill", other, f"unpromoted {other} killed (power cut)")
        self.lab.instances[other].kill()
        t_f = self.wait_fenced(row, other)
        row["notes"].append(f"fenced after {t_f:.1f} s")

        def peer_group(state: str):
            def check():
                groups = self.last_alua_sample(prom)
                return any(key.rsplit("/", 1)[1] == other and st == state for key, st in groups.items())
            return check

        self.wait_for_stack(f"{other}'s group offline in {prom}'s view", peer_group("offline"), 60, interval=0.5)
        row["notes"].append(f"{other}'s group offline on {prom}")
        if self.promoted()[0] != prom:
            raise StageFailed(f"the promotion moved away from {prom} when the unpromoted node died")
        self.return_node(row, other)
        self.wait_redundant(row)
        self.breakdown(row, prom)
        self.wait_for_stack(f"{other}'s group non-optimized in {prom}'s view again", peer_group("nonoptimized"), 60,
                            interval=0.5)
        return self.fault_end(row)

    # -- after the faults ----------------------------------------------------------

    def data_compare(self) -> str:
        """No diverged data: with I/O stopped and DRBD in sync, both backing disks hold the same bytes."""
        ini = self.n(T.INITIATOR)
        ini.sh("umount /share", timeout=120)
        self.wait_for_stack("DRBD in sync on both", lambda: all("ds:UpToDate/UpToDate" in self.drbd_state(n) and
                                                                "cs:Connected" in self.drbd_state(n)
                                                                for n in T.STORAGE), 120)

        def checksum(node: str) -> str:
            # O_DIRECT: DRBD writes the backing disk with its own bios, past /dev/ubdb's page cache,
            # so a buffered read returns what the node cached before (a node that never rebooted
            # showed its first MiB as the zeros read at boot, where both disks hold the PV label)
            size = self.n(node).sh("blockdev --getsize64 /dev/drbd0", timeout=30).strip()
            return self.n(node).sh(f"dd if=/dev/ubdb iflag=direct,count_bytes bs=1M count={size} status=none "
                                   "| sha256sum", timeout=300).split()[0]

        sums = at_once(checksum, T.STORAGE)
        self.r.facts["backing_sha256"] = sums
        if len(set(sums.values())) != 1:
            raise StageFailed(f"the two backing disks differ (diverged data): {sums}")
        return f"both backing disks' data areas identical (sha256 {next(iter(sums.values()))[:16]}...)"
