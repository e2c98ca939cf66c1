"""Live corosync + Pacemaker clusters on one machine, one set of namespaces per node.

A :class:`Cluster` of storage nodes named like the seed's (hpms01, hpms02,
...).  Each node has its own network, mount and UTS namespaces, held by its
first process (``nodeinit.py``, a child subreaper: every process of the node
descends from it).  In its mount namespace the node has a private /run
(so HA_RSCTMP=/run/resource-agents is its own), /dev/shm, /sys/kernel (where
its SCST sysfs emulator mounts) and its own directories for /var/lib/pacemaker,
/var/lib/corosync, /var/log/pacemaker and /etc/corosync.  The nodes' eth0 are
veth ports on a bridge inside a "switch" namespace: the host's network, mounts
and host name are never touched.

The ALUA layer comes from the project's crmsh snippet (crm/scst.crm), loaded
with ``crm configure load update``; what this machine cannot run is left out
(:func:`scst_snippet` says what it changed).  The cluster is a *test* cluster:
no-quorum-policy=stop, and by default no fencing (stonith-enabled=false).
With ``fencing=True`` it runs stonith-enabled=true with one fence device,
``fence_alua_netns`` (sbin/fence_alua_netns): a power switch that kills every
process of a node at once, SCST emulator included.  The agent is never
installed on the host: each node's nodeinit overlays sbin/ on /usr/sbin in
the node's mount namespace.  Nodes are registered for it in ``power_dir``;
it logs what it did there (``events.jsonl``), and the harness notices a
node it powered off (:attr:`Node.powered`).

Every wait is bounded and fails with :class:`ClusterError`, whose message
includes crm_mon's view.  Every process is ended by its PID; a node's
namespaces and mounts vanish with its last process.  Standard library only,
so the demo can run it with Debian's python3.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

from cluster.alua_checks import RTPG_STATES, GroupView, alua_view, replay_writes, two_active_moments  # noqa: F401
from cluster.config import (  # noqa: F401 - the harness's public names
    CRM_SNIPPET,
    DEVICE_GROUP,
    FENCE_AGENT,
    FENCE_BINDIR,
    FENCE_RESOURCE,
    HERE,
    NODEINIT,
    PYTHON,
    ROOT,
    SEED_NODES,
    SUBNET,
    SYSTEM_PATH,
    Snippet,
    scst_config,
    scst_snippet,
    target,
)
from cluster.namespaces import NodeInit, _alive, _kill, _start_time, descendants  # noqa: F401
from emulators.client import ScstEmulator
from support.observe import (  # noqa: F401
    ClusterError,
    Fencing,
    Operation,
    Status,
    fencings,
    notifications,
    operations,
    wait_until,
)


# -- a node ----------------------------------------------------------------------------


class Node:
    """One storage node: its namespaces, its SCST emulator and its cluster stack."""

    def __init__(self, cluster: Cluster, name: str, position: int) -> None:
        self.cluster = cluster
        self.name = name
        self.position = position
        self.address = f"{SUBNET}.{position}"
        self.dir = cluster.workdir / name
        self.init: NodeInit | None = None
        self.emulator: ScstEmulator | None = None
        self.corosync: int | None = None
        self.pacemakerd: int | None = None
        self.boots = 0
        self.fenced = 0
        self.past_writes: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"Node({self.name})"

    # -- running things inside -------------------------------------------------

    def nsenter(self) -> list[str]:
        if not self.powered or self.init is None:
            raise ClusterError(f"{self.name} is powered off")
        return self.init.nsenter()

    def run(
        self, argv: list[str], *, timeout: float = 30.0, check: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A command inside the node's namespaces (cwd is /), bounded."""
        full_env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "HOME": "/root", **(env or {})}
        proc = subprocess.run(
            [*self.nsenter(), *argv],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise ClusterError(f"{self.name}: {' '.join(argv)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
        return proc

    @property
    def powered(self) -> bool:
        """Whether the node runs; notices (and records) a power-off by the fence agent."""
        if self.init is not None and not _alive(self.init.pid):
            self._lost_power()
        return self.init is not None

    def _lost_power(self) -> None:
        """The fence agent killed the node: close what the harness held, mark the crash at the
        moment the agent had frozen all of it (from its event log), as :meth:`crash` does."""
        boot = self.boots
        try:  # the agent records its event once every process of the node is gone
            event = wait_until(
                lambda: self.cluster.last_fencing(self.name, boot=boot), 5, f"the fence agent's record of {self.name}"
            )
        except ClusterError:
            event = None  # it died some other way: mark the crash now
        self.power_off()
        when = int(event.get("frozen") or event["done"]) if event else time.time_ns()
        self.past_writes.append({"ts": when, "path": "", "data": "", "result": "crash"})
        self.fenced += 1

    @property
    def stack_running(self) -> bool:
        return any(pid is not None and _alive(pid) for pid in (self.corosync, self.pacemakerd))

    @property
    def log(self) -> Path:
        return self.dir / "log" / "pacemaker.log"

    # -- life cycle ----------------------------------------------------------------

    def prepare(self) -> None:
        """The node's disk: its directories, corosync.conf; kept across reboots."""
        for sub, owner in (
            ("lib-pacemaker", None),
            ("lib-pacemaker/cib", "hacluster"),
            ("lib-pacemaker/pengine", "hacluster"),
            ("lib-pacemaker/blackbox", "hacluster"),
            ("lib-pacemaker/cores", "hacluster"),
            ("lib-corosync", None),
            ("log", "hacluster"),
            ("etc-corosync", None),
        ):
            path = self.dir / sub
            path.mkdir(parents=True, exist_ok=True)
            if owner:
                shutil.chown(path, owner, "haclient")
                path.chmod(0o770)
        (self.dir / "etc-corosync" / "corosync.conf").write_text(self.cluster.corosync_conf())

    def power_on(self) -> None:
        """Boot: fresh namespaces and /run, eth0 on the switch, a fresh SCST (no ALUA state yet)."""
        if self.init is not None:
            raise ClusterError(f"{self.name} is already powered on")
        self.boots += 1
        switch = self.cluster.switch
        assert switch is not None
        port = f"p-{self.name}"[:15]
        # After a power-off the old port goes when the kernel frees the dead network namespace.
        wait_until(
            lambda: (
                subprocess.run(
                    [*switch.nsenter(mount=False), "ip", "link", "show", port], capture_output=True, timeout=10
                ).returncode
                != 0
            ),
            10,
            f"{self.name}'s old switch port {port} to vanish",
        )
        fence_bindir = FENCE_BINDIR if self.cluster.fencing else None
        self.init = NodeInit(self.name, self.dir, self.dir / "nodeinit.log", fence_bindir=fence_bindir)
        self.cluster.track(self.init.pid)
        self.cluster.register_power(self)
        _check(
            subprocess.run(
                [
                    *switch.nsenter(mount=False),
                    "sh",
                    "-ec",
                    f"ip link add {port} type veth peer name eth0 netns {self.init.pid}\n"
                    f"ip link set {port} master br0 up",
                ],
                capture_output=True,
                text=True,
                timeout=10,
            )
        )
        self.run(["sh", "-ec", f"ip addr add {self.address}/24 dev eth0\nip link set eth0 up"], check=True)
        self.emulator = ScstEmulator(
            self.dir / f"scst-boot{self.boots}",
            scst_config(self.name, self.cluster.names),
            new_namespace=False,
            launcher=["setpriv", "--pdeathsig", "KILL", *self.init.nsenter()],
        ).start()
        self.cluster.track(self.emulator.pid)

    def start_stack(self) -> None:
        """corosync, then pacemakerd (as the init scripts would), both spawned by the node's init."""
        assert self.init is not None
        if self.stack_running:
            raise ClusterError(f"{self.name}: the cluster stack is already running")
        env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
        self.corosync = self.cluster.track(
            self.init.spawn(["corosync", "-f"], env, "/var/log/pacemaker/corosync.stdout")
        )
        wait_until(
            lambda: self.run(["corosync-cfgtool", "-s"], timeout=5).returncode == 0 or self._corosync_died(),
            15,
            f"corosync to start on {self.name}",
            context=self.corosync_log_tail,
        )
        if not _alive(self.corosync):
            raise ClusterError(f"corosync on {self.name} exited\n{self.corosync_log_tail()}")
        self.pacemakerd = self.cluster.track(
            self.init.spawn(
                ["pacemakerd"],
                {**env, "PCMK_logfile": "/var/log/pacemaker/pacemaker.log", "PCMK_logfacility": "none"},
                "/var/log/pacemaker/pacemakerd.stdout",
            )
        )

    def _corosync_died(self) -> bool:
        return self.corosync is None or not _alive(self.corosync)

    def stack_pids(self) -> list[int]:
        pids = []
        if self.pacemakerd is not None and _alive(self.pacemakerd):
            pids.append(self.pacemakerd)
            pids += descendants(self.pacemakerd)
        if self.corosync is not None and _alive(self.corosync):
            pids.append(self.corosync)
        return pids

    def kill_stack(self) -> int:
        """SIGKILL pacemakerd, its children and corosync, by PID; returns the time of the kill (ns).

        All of them are stopped (SIGSTOP) first, corosync before the rest: a crashed
        node sends nothing, whereas a live corosync would tell its peers at once that
        the dying Pacemaker daemons left their process groups.
        """
        killed_at = time.time_ns()
        for pid in (self.corosync, self.pacemakerd):
            if pid is not None:
                _kill(pid, signal.SIGSTOP)
        pids = self.stack_pids()
        for pid in pids:
            _kill(pid, signal.SIGSTOP)
        for pid in pids:
            _kill(pid)
        wait_until(lambda: not any(_alive(p) for p in pids), 10, f"{self.name}'s cluster stack to die")
        self.corosync = self.pacemakerd = None
        return killed_at

    def stop_stack(self, timeout: float = 60.0) -> None:
        """A clean stop: SIGTERM pacemakerd (it stops its resources first), then corosync."""
        if self.pacemakerd is not None and _alive(self.pacemakerd):
            _kill(self.pacemakerd, signal.SIGTERM)
            pid = self.pacemakerd
            wait_until(
                lambda: not _alive(pid), timeout, f"pacemakerd on {self.name} to stop", context=self.cluster.describe
            )
        if self.corosync is not None and _alive(self.corosync):
            _kill(self.corosync, signal.SIGTERM)
            pid = self.corosync
            wait_until(lambda: not _alive(pid), 15, f"corosync on {self.name} to stop")
        self.corosync = self.pacemakerd = None

    def crash(self) -> int:
        """The node dies: its cluster stack is SIGKILLed by PID and its SCST goes with it.

        Returns the time of the kill (ns).  The write log gets a "crash" mark:
        a dead node's target groups are gone with its kernel.
        """
        killed_at = self.kill_stack() if self.stack_running else time.time_ns()
        self.power_off()
        self.past_writes.append({"ts": killed_at, "path": "", "data": "", "result": "crash"})
        return killed_at

    def power_off(self) -> None:
        """Everything of the node ends; its namespaces and mounts vanish with it."""
        self.cluster.unregister_power(self)
        if self.emulator is not None:
            self.past_writes += self.emulator.writes()
            self.emulator.stop()
            self.emulator = None
        if self.init is not None:
            self.init.close()
            self.init = None
        self.corosync = self.pacemakerd = None

    def reboot(self) -> None:
        """Boot a crashed node again and start its cluster stack (it rejoins)."""
        if self.init is not None:
            self.power_off()
        self.power_on()
        self.start_stack()

    # -- what the node shows ------------------------------------------------------------

    def writes(self) -> list[dict[str, Any]]:
        """Every write its SCST saw, over all boots, with crash marks."""
        return self.past_writes + (self.emulator.writes() if self.emulator is not None else [])

    def alua_view(self, dg: str = DEVICE_GROUP) -> list[GroupView]:
        """The target port groups of device group dg as this node's emulated sysfs has them."""
        return alua_view(self.emulator, dg) if self.emulator is not None else []

    def states(self, dg: str = DEVICE_GROUP) -> dict[str, str]:
        return {v.name: v.state for v in self.alua_view(dg)}

    def corosync_log_tail(self, lines: int = 15) -> str:
        path = self.dir / "log" / "corosync.log"
        text = path.read_text(errors="replace") if path.exists() else "(no corosync.log)"
        return f"--- {self.name} corosync.log\n" + "\n".join(text.splitlines()[-lines:])


def _check(proc: subprocess.CompletedProcess[str]) -> None:
    if proc.returncode != 0:
        raise ClusterError(f"{' '.join(proc.args)} exited {proc.returncode}: {proc.stderr}")


# -- the cluster ----------------------------------------------------------------------------


class Cluster:
    """N storage nodes with corosync + Pacemaker, the ALUA clone and an SCST emulator each."""

    def __init__(
        self,
        workdir: Path,
        names: tuple[str, ...] = SEED_NODES,
        *,
        token_ms: int = 1000,
        fencing: bool = False,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        #: stonith-enabled=true with one fence_alua_netns device that can power off every node
        self.fencing = fencing
        #: where nodes are registered for the fence agent (<node>.json) and it logs (events.jsonl)
        self.power_dir = self.workdir / "power"
        self.names = tuple(names)
        self.token_ms = token_ms
        self.say = say or (lambda _message: None)
        self.nodes = {name: Node(self, name, i) for i, name in enumerate(self.names, start=1)}
        #: (pid, start time) of every process started directly: node inits, emulators, daemons
        self.started: list[tuple[int, int | None]] = []
        self.switch: NodeInit | None = None
        self.snippet = scst_snippet(self.names)
        self.cut: set[str] = set()

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    @property
    def primitive(self) -> str:
        return self.snippet.primitive

    @property
    def clone(self) -> str:
        return self.snippet.clone

    # -- configuration --------------------------------------------------------------

    def corosync_conf(self) -> str:
        nodes = "".join(
            f"    node {{\n        ring0_addr: {n.address}\n        name: {n.name}\n"
            f"        nodeid: {n.position}\n    }}\n"
            for n in self.nodes.values()
        )
        two_node = "    two_node: 1\n" if len(self.nodes) == 2 else ""
        return (
            "# written by tests/cluster/harness.py: a test cluster in network namespaces\n"
            "totem {\n    version: 2\n    cluster_name: alua-lab\n    transport: knet\n"
            f"    token: {self.token_ms}\n    crypto_cipher: none\n    crypto_hash: none\n}}\n"
            f"nodelist {{\n{nodes}}}\n"
            f"quorum {{\n    provider: corosync_votequorum\n{two_node}}}\n"
            "logging {\n    to_logfile: yes\n    logfile: /var/log/pacemaker/corosync.log\n"
            "    to_syslog: no\n    to_stderr: no\n    timestamp: hires\n}\n"
        )

    def fencing_snippet(self) -> str:
        """The fence device (crmsh): one fence_alua_netns that can power off every node."""
        return (
            f"primitive {FENCE_RESOURCE} stonith:{FENCE_AGENT} \\\n"
            f'    params pcmk_host_list="{" ".join(self.names)}" power_dir="{self.power_dir}" \\\n'
            "    op monitor interval=60s timeout=20s\n"
        )

    def build_cib(self, *, with_alua: bool) -> Path:
        """The CIB every node boots with, built offline (the first election then takes ~2 s, not 20).

        With fencing, crmsh runs inside the first node (powered on, stack not started), where
        the fence agent is visible: crmsh checks the device's parameters against its meta-data."""
        cib = self.workdir / "cib.xml"
        env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "HOME": "/root", "CIB_file": str(cib)}
        with open(cib, "w") as f:
            subprocess.run(["cibadmin", "--empty"], stdout=f, check=True, timeout=30)
        # A node that loses quorum stops its resources.  Without fencing (stonith-enabled=false)
        # nothing orders a lost node's demote before the survivors' promote; with it, the
        # quorate side powers the lost node off first.
        stonith = "true" if self.fencing else "false"
        for name, value in (("stonith-enabled", stonith), ("no-quorum-policy", "stop"), ("dc-deadtime", "2s")):
            _check(
                subprocess.run(
                    ["crm_attribute", "--type", "crm_config", "--name", name, "--update", value],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
            )
        via = next(iter(self.nodes.values())) if self.fencing else None
        if self.fencing:
            path = self.workdir / "fencing.crm"
            path.write_text(self.fencing_snippet())
            self._crm_load(path, env=env, via=via)
        if with_alua:
            self.load_snippet(env=env, via=via)
        return cib

    def _crm_load(self, path: Path, *, env: dict[str, str], via: Node | None) -> None:
        argv = ["crm", "configure", "load", "update", str(path)]
        if via is not None:
            proc = via.run(argv, timeout=120, env={"CIB_file": env["CIB_file"]})
        else:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or "ERROR" in proc.stderr:
            raise ClusterError(
                f"crm configure load update {path} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}"
            )

    # -- the power switch (read and written by the fence agent too) ---------------------

    def register_power(self, node: Node) -> None:
        """Tell the fence agent which processes are node (nodeinit's PID, start time, mount namespace)."""
        assert node.init is not None
        self.power_dir.mkdir(parents=True, exist_ok=True)
        reg = {
            "pid": node.init.pid,
            "start": _start_time(node.init.pid),
            "mnt": os.readlink(f"/proc/{node.init.pid}/ns/mnt"),
            "boot": node.boots,
        }
        tmp = self.power_dir / f".{node.name}.json.tmp"
        tmp.write_text(json.dumps(reg))
        tmp.rename(self.power_dir / f"{node.name}.json")

    def unregister_power(self, node: Node) -> None:
        (self.power_dir / f"{node.name}.json").unlink(missing_ok=True)

    def fence_events(self) -> list[dict[str, Any]]:
        """What the fence agent did, in order: {"ts", "frozen", "done" (ns), "action", "target",
        "result" ("powered off" / "already off"), "killed" (PIDs), "by" (node that ran it)}."""
        path = self.power_dir / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def last_fencing(self, name: str, *, boot: int | None = None) -> dict[str, Any] | None:
        """The fence agent's last power-off of node ``name`` (of its ``boot``-th boot)."""
        events = [
            e
            for e in self.fence_events()
            if e["target"] == name and e["result"] == "powered off" and (boot is None or e.get("boot") == boot)
        ]
        return events[-1] if events else None

    def fence_history(self, via: Node | None = None) -> list[dict[str, str]]:
        """The fencer's own history (stonith_admin --history '*'), as XML attributes."""
        node = via or self.live_nodes()[0]
        proc = node.run(["stonith_admin", "--history", "*", "--output-as=xml"], timeout=15)
        if proc.returncode != 0:
            raise ClusterError(f"stonith_admin --history on {node.name}: {proc.stderr}{proc.stdout}")
        return [dict(e.attrib) for e in ET.fromstring(proc.stdout).iter("fence_event")]

    def load_snippet(self, *, env: dict[str, str] | None = None, via: Node | None = None) -> None:
        """``crm configure load update`` of the ALUA layer: into the offline CIB (env) or a live node."""
        path = self.workdir / "scst.crm"
        path.write_text(self.snippet.text)
        argv = ["crm", "configure", "load", "update", str(path)]
        if via is not None:
            proc = via.run(argv, timeout=120, env={"CIB_file": env["CIB_file"]} if env else None)
        else:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise ClusterError(
                f"crm configure load update {self.snippet.source} failed ({proc.returncode}):\n"
                f"{proc.stderr}{proc.stdout}"
            )

    def install_cib(self, cib: Path, node: Node) -> None:
        dest = node.dir / "lib-pacemaker" / "cib"
        for old in dest.iterdir():
            old.unlink()
        shutil.copyfile(cib, dest / "cib.xml")
        shutil.chown(dest / "cib.xml", "hacluster", "haclient")
        (dest / "cib.xml").chmod(0o600)

    # -- life cycle -------------------------------------------------------------------

    def start(self, *, with_alua: bool = True, timeout: float = 60.0) -> None:
        """Switch, nodes, CIB, stacks; returns when every node is online (and the clone settled)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.switch = NodeInit("switch", None, self.workdir / "switch.log")
        self.track(self.switch.pid)
        _check(
            subprocess.run(
                [
                    *self.switch.nsenter(mount=False),
                    "sh",
                    "-ec",
                    "ip link add br0 type bridge\nip link set br0 up\nip link set lo up",
                ],
                capture_output=True,
                text=True,
                timeout=10,
            )
        )
        for node in self.nodes.values():
            node.prepare()
            node.power_on()
        cib = self.build_cib(with_alua=with_alua)
        for node in self.nodes.values():
            self.install_cib(cib, node)
            node.start_stack()
        self.wait_online(self.names, timeout=timeout)
        if with_alua:
            self.wait_settled(timeout=timeout)

    def track(self, pid: int) -> int:
        self.started.append((pid, _start_time(pid)))
        return pid

    @property
    def started_count(self) -> int:
        return len(self.started)

    def destroy(self) -> list[int]:
        """Kill everything this cluster started, by PID; namespaces and mounts go with it.
        Returns the PIDs of started processes still alive afterwards (none, normally)."""
        for node in self.nodes.values():
            try:
                node.power_off()
            except Exception as e:  # keep cleaning the others
                sys.stderr.write(f"cleaning up {node.name}: {e}\n")
        if self.switch is not None:
            self.switch.close()
            self.switch = None
        return [pid for pid, started in self.started if _alive(pid) and _start_time(pid) == started]

    # -- looking at it --------------------------------------------------------------------

    def live_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.powered and n.stack_running]

    def crm_mon(self, *args: str, via: Node | None = None) -> str:
        nodes = [via] if via is not None else self.live_nodes()
        last = ""
        for node in nodes:
            proc = node.run(["crm_mon", "-1", *args], timeout=15)
            if proc.returncode == 0:
                return proc.stdout
            last = f"crm_mon on {node.name} exited {proc.returncode}: {proc.stderr.strip()}"
        raise ClusterError(last or "no node runs a cluster stack")

    def status(self, via: Node | None = None) -> Status:
        return Status(self.crm_mon("--output-as=xml", via=via), self.primitive)

    def describe(self) -> str:
        """crm_mon's text view from every live node (for failure messages), and the ALUA views."""
        parts = []
        for node in self.live_nodes():
            try:
                parts.append(f"--- crm_mon -1rf on {node.name}\n{self.crm_mon('-r', '-f', via=node)}")
            except (ClusterError, subprocess.SubprocessError) as e:
                parts.append(f"--- crm_mon on {node.name}: {e}")
        for node in self.nodes.values():
            try:
                parts.append(f"--- ALUA on {node.name}: {node.states() if node.powered else 'powered off'}")
            except OSError as e:
                parts.append(f"--- ALUA on {node.name}: {e}")
        return "\n".join(parts)

    def wait_online(
        self, names: tuple[str, ...] | list[str], *, timeout: float = 60.0, via: Node | None = None
    ) -> Status:
        want = sorted(names)

        def online() -> Status | None:
            status = self.status(via=via)
            return status if status.online == want and status.dc and status.quorate else None

        status: Status = wait_until(
            online, timeout, f"nodes {', '.join(want)} online with a quorate DC", context=self.describe
        )
        return status

    def settled(self, *, promoted: str | None = None) -> bool:
        """One promoted instance, one unpromoted instance on every other live node, nothing
        pending, and every running node's SCST showing exactly that."""
        live = [n.name for n in self.live_nodes()]
        status = self.status()
        if status.online != sorted(live) or len(status.promoted) != 1 or status.failed:
            return False
        chosen = status.promoted[0]
        if promoted is not None and chosen != promoted:
            return False
        if status.unpromoted != sorted(n for n in live if n != chosen):
            return False
        for name in live:
            states = self[name].states()
            for other in live:
                wanted = "active" if other == chosen else "nonoptimized"
                if states.get(other) != wanted:
                    return False
        return True

    def wait_settled(self, *, timeout: float = 60.0, promoted: str | None = None) -> Status:
        """Until :meth:`settled` (then crm_resource --wait confirms no transition is pending)."""
        who = f"{promoted} promoted" if promoted else "one node promoted"
        wait_until(
            lambda: self.settled(promoted=promoted),
            timeout,
            f"the ALUA clone to settle ({who}, the others unpromoted, every SCST agreeing)",
            context=self.describe,
            interval=0.3,
        )
        node = self.live_nodes()[0]
        proc = node.run(["crm_resource", "--wait", f"--timeout={int(timeout)}s"], timeout=timeout + 10)
        if proc.returncode != 0:
            raise ClusterError(f"crm_resource --wait: {proc.stderr}\n{self.describe()}")
        return self.status()

    def promoted_node(self) -> Node:
        promoted = self.status().promoted
        if len(promoted) != 1:
            raise ClusterError(f"expected one promoted node, crm_mon shows {promoted}\n{self.describe()}")
        return self[promoted[0]]

    def effective_token_ms(self) -> int:
        """The token timeout corosync runs with (token + (nodes - 2) * token_coefficient)."""
        node = self.live_nodes()[0]
        proc = node.run(["corosync-cmapctl", "-g", "runtime.config.totem.token"], timeout=10)
        match = re.search(r"=\s*(\d+)", proc.stdout)
        if proc.returncode != 0 or match is None:
            raise ClusterError(f"corosync-cmapctl on {node.name}: {proc.stderr}{proc.stdout}")
        return int(match.group(1))

    # -- events ------------------------------------------------------------------------------

    def wait_group_active(self, observer: Node, group: str, *, after_ns: int, timeout: float = 30.0) -> int:
        """The time (ns) observer's SCST first had ``group`` written active after ``after_ns``."""
        path = f"device_groups/{DEVICE_GROUP}/target_groups/{group}/state"

        def written() -> int | None:
            for w in observer.writes():
                if w["ts"] > after_ns and w["path"] == path and w["result"] == "ok" and w["data"].strip() == "active":
                    return int(w["ts"])
            return None

        return int(
            wait_until(
                written,
                timeout,
                f"{observer.name}'s SCST to show group {group} active",
                context=self.describe,
                interval=0.05,
            )
        )

    def partition(self, node: Node) -> None:
        """Pull node's cable: its switch port goes down."""
        self._port(node, "down")
        self.cut.add(node.name)

    def heal(self, node: Node) -> None:
        """Plug node's cable back in (a powered-off node's port went with it: nothing to do)."""
        if node.powered:
            self._port(node, "up")
        self.cut.discard(node.name)

    def _port(self, node: Node, state: str) -> None:
        assert self.switch is not None
        _check(
            subprocess.run(
                [*self.switch.nsenter(mount=False), "ip", "link", "set", f"p-{node.name}"[:15], state],
                capture_output=True,
                text=True,
                timeout=10,
            )
        )

    # -- administration ----------------------------------------------------------------------

    def set_property(self, name: str, value: str) -> None:
        node = self.live_nodes()[0]
        node.run(["crm_attribute", "--type", "crm_config", "--name", name, "--update", value], check=True)

    def cleanup(self) -> None:
        """Forget the ALUA clone's failures everywhere (crm_resource --cleanup)."""
        self.live_nodes()[0].run(["crm_resource", "--cleanup", "--resource", self.primitive], check=True)

    def ensure_healthy(self, *, timeout: float = 60.0) -> Status:
        """Back to the baseline after whatever a test did: every node up and connected, no
        maintenance mode, no failures, the clone settled (wherever it is promoted)."""
        for name in sorted(self.cut):
            self.heal(self[name])
        for node in self.nodes.values():
            if not node.powered:
                node.power_on()
            assert node.emulator is not None
            if target(node.name) not in node.emulator.dump().get("targets", {}).get("iscsi", {}):
                node.emulator.register_target(target(node.name), rel_tgt_id=node.position)
            if not node.stack_running:
                node.start_stack()
        status = self.wait_online(self.names, timeout=timeout)
        if status.maintenance:
            self.set_property("maintenance-mode", "false")
        if status.failures or status.fail_counts:
            self.cleanup()
        return self.wait_settled(timeout=timeout)

    def two_active_moments(self) -> list[str]:
        """The moments two nodes reported their own group active at once, or one node's view had two
        groups active (alua_checks.two_active_moments). Empty: never two active."""
        return two_active_moments(self.nodes.values())

    def replay_writes(self) -> tuple[list[tuple[int, int, list[str]]], list[str]]:
        """(cross-node overlaps as (start ns, end ns, nodes), one-node moments with two groups active)."""
        return replay_writes(self.nodes.values())

    # -- the cluster's own records (support.observe parses them) ----------------------------------

    def _logs(self) -> list[Path]:
        return [node.log for node in self.nodes.values()]

    def operations(self, *, since: float = 0.0) -> list[Operation]:
        """Every operation the nodes' executors ran, in time order (each node's pacemaker-controld log)."""
        return operations(self._logs(), since=since)

    def fencings(self, *, since: float = 0.0) -> list[Fencing]:
        """Every fencing the controllers heard of, once per event, in time order."""
        return fencings(self._logs(), since=since)

    def notifications(self, *, since: float = 0.0) -> list[tuple[float, str, str]]:
        """(time, key, node) of every notify operation a DC initiated, in time order."""
        return notifications(self._logs(), since=since)
