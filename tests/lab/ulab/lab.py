"""The lab: work directory layout, instances, network, clean-up.

    WORKDIR/images/base-<key>.img      cached base image (ulab.image)
    WORKDIR/kernels/<key>/             cached UML kernel, its modules and SCST's (ulab.kernel)
    WORKDIR/runs/<tag>/share/          hostfs share (the only host directory guests can mount)
        guest/                         tests/lab/guest, copied each run
        kernel/                        the kernel's modules (lib/modules/<release>) and SCST's daemons
        deb/                           tools/build-deb's package of this tree, installed by each guest;
        stage/                         or, without Debian's build tools, tools/install.py --destdir output
        nodes/<node>/                  overlay/, modules, cmd/, ready.json, autostart.sh
    WORKDIR/runs/<tag>/run/            copy-on-write layers, data disks, pid files
    WORKDIR/runs/<tag>/uml/            UML's uml_dir (mconsole sockets)
    WORKDIR/runs/<tag>/logs/           consoles, journal copies
    WORKDIR/runs/<tag>/report/         report.txt, timeline.svg, results.json
    WORKDIR/last -> runs/<tag>

Clean-up (also on failure and Ctrl-C) kills only the processes this lab
started, by PID (instance process groups, the namespace holder), and removes
only the big files of its own run directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from . import safety
from .kernel import Kernel
from .net import LabNet
from .uml import Instance, pgroup_members

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
GUEST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "guest")
KEEP_RUNS = 3


def log(msg: str) -> None:
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", flush=True)


#: Debian's tools that tools/build-deb needs (tools/setup installs them)
DEB_TOOLS = ("dpkg-buildpackage", "dh", "dh_python3")

class Lab:
    def __init__(self, workdir: str, img: str, kernel: Kernel, variant: str = "") -> None:
        self.workdir = safety.check_workdir(workdir)
        self.image = img
        self.kernel = kernel
        self.tag = time.strftime("%Y%m%d-%H%M%S") + (f"-{variant}" if variant else "")
        self.root = os.path.join(self.workdir, "runs", self.tag)
        self.share = os.path.join(self.root, "share")
        self.rundir = os.path.join(self.root, "run")
        self.umldir = os.path.join(self.root, "uml")
        self.logdir = os.path.join(self.root, "logs")
        self.reportdir = os.path.join(self.root, "report")
        self.net = LabNet(os.path.join(self.root, "run", "netns-holder.pid"))
        self.instances: dict[str, Instance] = {}
        self.t0 = time.time()

    def check(self, path: str) -> str:
        return safety.check_inside(self.workdir, path)

    # -- set-up ---------------------------------------------------------------

    def prepare(self) -> None:
        reap_stale(self.workdir)
        for d in (self.share, self.rundir, self.umldir, self.logdir, self.reportdir):
            self.check(d)
            os.makedirs(d, exist_ok=True)
        last = os.path.join(self.workdir, "last")
        if os.path.islink(last):
            os.unlink(last)
        os.symlink(os.path.join("runs", self.tag), last)
        shutil.copytree(GUEST, os.path.join(self.share, "guest"))
        # what guest/lab-init installs at every boot: modules for this kernel, SCST's daemons
        kdir = os.path.join(self.share, "kernel")
        shutil.copytree(os.path.join(self.kernel.path, "modules"), os.path.join(kdir, "modules"), symlinks=True)
        shutil.copytree(self.kernel.sbin, os.path.join(kdir, "sbin"))
        self.install_project()
        self.net.start()

    def install_project(self) -> None:
        """What the guests install at their first boot (guest/lab-init): the Debian package built from
        this tree by tools/build-deb (share/deb/), so that the package is what runs on real kernels;
        without Debian's build tools on the host (tools/setup installs them), tools/install.py's
        staged copy (share/stage/)."""
        if all(shutil.which(t) for t in DEB_TOOLS):
            out = subprocess.run([sys.executable, os.path.join(TOP, "tools", "build-deb"),
                                  os.path.join(self.share, "deb")], capture_output=True, text=True, timeout=900)
            if out.returncode != 0:
                raise RuntimeError(f"tools/build-deb failed:\n{out.stdout[-3000:]}{out.stderr[-3000:]}")
            self.installs = f"the package {os.path.basename(out.stdout.strip())}"
        else:
            stage = os.path.join(self.share, "stage")
            out = subprocess.run([sys.executable, os.path.join(TOP, "tools", "install.py"), "--destdir", stage],
                                 capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                raise RuntimeError(f"tools/install.py --destdir failed:\n{out.stdout}{out.stderr}")
            self.installs = f"tools/install.py's staged copy (no {' or '.join(DEB_TOOLS)} on the host)"
        log(f"the guests install {self.installs}")

    def add(self, name: str, *, mem_mb: int, nics: list[tuple[str, str]], disks: dict[str, int] | None = None,
            overlay: dict[str, str] | None = None, modules: list[str] | None = None) -> Instance:
        """nics: (tap, bridge) pairs in eth order; overlay: guest path -> file content."""
        taps = []
        for tap, bridge in nics:
            self.net.tap(tap, bridge)
            taps.append(tap)
        inst = Instance(self, name, mem_mb=mem_mb, nics=taps, disks=disks)
        os.makedirs(inst.cmd_dir, exist_ok=True)
        for path, text in (overlay or {}).items():
            self.write_overlay(name, path, text)
        with open(os.path.join(inst.dir, "modules"), "w") as f:
            f.write("\n".join(modules or []) + "\n")
        inst.create_disks()
        self.instances[name] = inst
        return inst

    def write_overlay(self, node: str, path: str, text: str, mode: int = 0o644) -> None:
        dest = os.path.join(self.share, "nodes", node, "overlay", path.lstrip("/"))
        self.check(dest)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "w") as f:
            f.write(text)
        os.chmod(dest, mode)

    def boot(self, names: list[str], timeout: float = 180) -> dict[str, float]:
        """Start the instances and wait until each answers; one that hung silently in early boot
        for 90 s is power-cycled once (Instance.wait_ready_power_cycling)."""
        for n in names:
            self.instances[n].start()
        if timeout <= 90:
            return {n: self.instances[n].wait_ready(timeout) for n in names}
        return {n: self.instances[n].wait_ready_power_cycling(
            90, timeout, on_cycle=lambda n=n: log(f"{n} hung silently in early boot: power-cycled once"))
            for n in names}

    # -- clean-up -------------------------------------------------------------

    def collect_logs(self) -> None:
        for name, inst in self.instances.items():
            if inst.running():
                try:
                    out = inst.run("journalctl -b --no-pager -o short-precise", timeout=30, check=False)
                    with open(os.path.join(self.logdir, f"{name}.journal.txt"), "w") as f:
                        f.write(out["stdout"])
                except Exception as e:  # noqa: BLE001 - best effort
                    log(f"could not collect {name}'s journal: {e}")

    def cleanup(self) -> None:
        for inst in self.instances.values():
            try:
                inst.kill()
            except Exception as e:  # noqa: BLE001
                log(f"kill {inst.name}: {e}")
        self.net.stop()
        # big files only; logs, report and the share's text stay for inspection
        for name in os.listdir(self.rundir) if os.path.isdir(self.rundir) else []:
            if name.endswith((".cow", ".img")):
                safety.safe_unlink(self.workdir, os.path.join(self.rundir, name))
        for copied in ("stage", "kernel"):
            path = os.path.join(self.share, copied)
            if os.path.isdir(path):
                safety.safe_rmtree(self.workdir, path)
        prune_runs(self.workdir)


def leftovers(run_dir: str) -> list[str]:
    """Processes whose command line still names this run (instances, namespace holder): none after clean-up."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if run_dir in cmdline or f"umid={os.path.basename(run_dir)}-" in cmdline:
            found.append(f"{pid}: {cmdline[:120]}")
    return found


def reap_stale(workdir: str) -> None:
    """Kill instances and namespace holders of earlier runs that died without cleaning up.

    Only PIDs recorded in this work directory's pid files, and only if the
    process's command line still names this work directory (PIDs get reused)."""
    runs = os.path.join(workdir, "runs")
    if not os.path.isdir(runs):
        return
    for tag in os.listdir(runs):
        rundir = os.path.join(runs, tag, "run")
        if not os.path.isdir(rundir):
            continue
        for name in os.listdir(rundir):
            if not name.endswith(".pid"):
                continue
            path = os.path.join(rundir, name)
            try:
                with open(path) as f:
                    pid = int(f.read().strip())
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode()
            except (OSError, ValueError):
                os.unlink(path)
                continue
            ours = os.path.join(runs, tag) in cmdline or (name == "netns-holder.pid" and "sleep infinity" in cmdline)
            if ours:
                log(f"killing stale process group {pid} of run {tag} ({name})")
                try:
                    os.killpg(pid, signal.SIGKILL) if pgroup_members(pid) else os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os.unlink(path)
        for name in os.listdir(rundir):
            if name.endswith((".cow", ".img")):
                safety.safe_unlink(workdir, os.path.join(rundir, name))


def prune_runs(workdir: str) -> None:
    runs = os.path.join(workdir, "runs")
    tags = sorted(os.listdir(runs)) if os.path.isdir(runs) else []
    for tag in tags[:-KEEP_RUNS]:
        safety.safe_rmtree(workdir, os.path.join(runs, tag))


def prune_build_trees(workdir: str) -> None:
    """Remove root file system trees an interrupted build left under build/ (never mounted on the host:
    the build runs in a private mount namespace; safe_rmtree still refuses mount points)."""
    build = os.path.join(workdir, "build")
    for name in os.listdir(build) if os.path.isdir(build) else []:
        if name.startswith("rootfs-"):
            log(f"removing the tree of an interrupted build: {name}")
            safety.safe_rmtree(workdir, os.path.join(build, name))


def clean(workdir: str, everything: bool = False) -> int:
    """Kill what earlier runs left running (by recorded PID); with everything, remove the work directory's
    runs, builds and images too."""
    workdir = safety.check_workdir(workdir)
    reap_stale(workdir)
    prune_build_trees(workdir)
    if everything:
        for sub in ("runs", "build", "images"):
            safety.safe_rmtree(workdir, os.path.join(workdir, sub))
        last = os.path.join(workdir, "last")
        if os.path.islink(last):
            os.unlink(last)
    return 0
