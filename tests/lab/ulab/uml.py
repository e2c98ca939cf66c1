"""One User-Mode Linux instance: boot, command channel, mconsole, hard stop.

- The root disk is a copy-on-write layer (<node>.cow) over the cached base
  image; extra disks are sparse files in the node's run directory.
- Commands go through the hostfs share (guest/lab-agent.py): the host
  writes <id>.req, the guest answers <id>.res.  Every wait is bounded.
- mconsole is spoken directly (no uml_mconsole binary, so no call can hang:
  the socket has a timeout).
- The instance runs in its own session; stop() and kill() end its process
  group by PID (SIGKILL is a power cut, what the node-failure test wants).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import struct
import subprocess
import time

MCONSOLE_MAGIC = 0xCAFEBABE
MCONSOLE_VERSION = 2
MCONSOLE_MAX_DATA = 512


class LabTimeout(RuntimeError):
    pass


class CommandFailed(RuntimeError):
    def __init__(self, node: str, what: str, res: dict) -> None:
        self.res = res
        super().__init__(
            f"{node}: {what!r} failed rc={res['rc']}\n--- stdout\n{res['stdout'][-3000:]}\n"
            f"--- stderr\n{res['stderr'][-3000:]}"
        )


def mconsole_request(sock_path: str, command: str, timeout: float = 5.0) -> tuple[int, str]:
    """Send one mconsole command; return (err, reply text).  Bounded by timeout."""
    data = command.encode()[:MCONSOLE_MAX_DATA]
    req = struct.pack(f"=III{MCONSOLE_MAX_DATA}s", MCONSOLE_MAGIC, MCONSOLE_VERSION, len(data), data)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    client = f"{sock_path}.client.{os.getpid()}"
    try:
        try:
            os.unlink(client)
        except FileNotFoundError:
            pass
        s.bind(client)
        s.sendto(req, sock_path)
        text, err = "", 0
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            reply = s.recv(12 + MCONSOLE_MAX_DATA)
            err, more, length = struct.unpack("=III", reply[:12])
            text += reply[12:12 + length].decode(errors="replace").rstrip("\0")
            if not more or time.monotonic() > deadline:
                return err, text
    finally:
        s.close()
        try:
            os.unlink(client)
        except FileNotFoundError:
            pass


class Instance:
    _ids = itertools.count(1)

    def __init__(self, lab, name: str, *, mem_mb: int, nics: list[str], disks: dict[str, int] | None = None):
        self.lab = lab
        self.name = name
        self.mem_mb = mem_mb
        self.nics = nics  # tap names, in eth order
        self.disks = disks or {}  # name -> size MB, become ubd1, ubd2, ...
        self.dir = os.path.join(lab.share, "nodes", name)
        self.cmd_dir = os.path.join(self.dir, "cmd")
        self.cow = os.path.join(lab.rundir, f"{name}.cow")
        self.console = os.path.join(lab.logdir, f"{name}.console.log")
        self.pidfile = os.path.join(lab.rundir, f"{name}.pid")
        self.proc: subprocess.Popen | None = None
        self.boots = 0

    # -- life cycle ---------------------------------------------------------

    def disk_path(self, disk: str) -> str:
        return os.path.join(self.lab.rundir, f"{self.name}.{disk}.img")

    def create_disks(self) -> None:
        for disk, size_mb in self.disks.items():
            path = self.disk_path(disk)
            self.lab.check(path)
            with open(path, "wb") as f:
                f.truncate(size_mb * 1024 * 1024)

    def argv(self) -> list[str]:
        argv = [
            self.lab.kernel.binary, f"umid={self.lab.tag}-{self.name}", f"uml_dir={self.lab.umldir}",
            f"mem={self.mem_mb}M", f"ubd0={self.cow},{self.lab.image}", "root=/dev/ubda", "rw",
            "con=null", "con0=null,fd:1", "ssl=null", f"hostfs={self.lab.share}",
            f"lab.node={self.name}", "systemd.show_status=0", "quiet", "loglevel=4",
        ]
        for i, disk in enumerate(self.disks, start=1):
            argv.append(f"ubd{i}={self.disk_path(disk)}")
        for i, tap in enumerate(self.nics):
            argv.append(f"eth{i}=tuntap,{tap},{self.mac(i)}")
        return argv

    def index(self) -> int:
        """This instance's place among the lab's instances, sorted by name."""
        return sorted(self.lab.instances).index(self.name) if self.name in self.lab.instances else 0

    def mac(self, i: int) -> str:
        """A fixed, locally administered MAC per (instance, interface): UML would give every
        instance the same one."""
        return f"52:54:00:1a:{self.index():02x}:{i:02x}"

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"{self.name} is already running")
        try:
            os.unlink(os.path.join(self.dir, "ready.json"))
        except FileNotFoundError:
            pass
        os.makedirs(self.cmd_dir, exist_ok=True)
        self.boots += 1
        self.t_start = time.time()
        with open(self.console, "ab") as con:
            con.write(f"\n===== lab: boot {self.boots} of {self.name} at {time.ctime()} =====\n".encode())
            con.flush()
            self.proc = subprocess.Popen(
                [*self.lab.net.nsenter(), *cpu_pinning(self.index()), *self.argv()], stdin=subprocess.DEVNULL, stdout=con, stderr=con,
                start_new_session=True, cwd=self.lab.rundir,
            )
        with open(self.pidfile, "w") as f:
            f.write(f"{self.proc.pid}\n")

    def wait_ready(self, timeout: float = 120) -> float:
        """Wait until the guest's command agent answers; return seconds since start."""
        path = os.path.join(self.dir, "ready.json")
        deadline = time.monotonic() + timeout
        next_look = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited during boot (see {self.console})")
            if os.path.exists(path):
                return time.time() - self.t_start
            if time.monotonic() >= next_look:  # a guest that cannot boot says so on its console
                next_look = time.monotonic() + 5
                fatal = boot_failure(self.console)
                if fatal:
                    raise RuntimeError(f"{self.name} cannot boot: {fatal!r} (see {self.console})")
            time.sleep(0.2)
        raise LabTimeout(f"{self.name} not ready after {timeout} s (see {self.console})")

    def wait_ready_power_cycling(self, first: float, then: float, on_cycle=lambda: None) -> float:
        """wait_ready(first); a guest that printed nothing at all on its console by then hung in
        UML's early boot (about one boot in seven, lab README): power-cycle it once, as an admin
        would a server that does not come up (on_cycle() is told first), and wait_ready(then)."""
        try:
            return self.wait_ready(first)
        except LabTimeout:
            if not silent_boot(self.console):
                raise
            on_cycle()
            self.kill()
            self.start()
            return self.wait_ready(then)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Power cut: SIGKILL the instance's whole process group, bounded wait."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        # UML's helper processes share the group; wait (bounded) until none is left
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and pgroup_members(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        self.proc = None
        try:
            os.unlink(self.pidfile)
        except FileNotFoundError:
            pass

    def freeze(self) -> bool:
        """SIGSTOP of the whole process group: the node hangs (no CPU, no network, no disk)."""
        return self._signal_group(signal.SIGSTOP)

    def thaw(self) -> bool:
        """SIGCONT: a frozen node that nobody fenced runs on, with its old state."""
        return self._signal_group(signal.SIGCONT)

    def _signal_group(self, sig: int) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout: float = 30) -> None:
        """Orderly halt if possible (mconsole), then the power cut; always bounded."""
        if not self.running():
            self.kill()
            return
        try:
            mconsole_request(self.mconsole_path(), "halt", timeout=5)
            self.proc.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()

    def mconsole_path(self) -> str:
        return os.path.join(self.lab.umldir, f"{self.lab.tag}-{self.name}", "mconsole")

    # -- commands -------------------------------------------------------------

    def run(self, cmd: str | list[str], *, timeout: float = 60, check: bool = True,
            env: dict[str, str] | None = None) -> dict:
        """Run a command in the guest (a shell string or an argv list); bounded by timeout."""
        ident = f"{int(time.time() * 1000)}-{os.getpid()}-{next(self._ids)}"
        req = {"timeout": timeout, "env": env or {}}
        if isinstance(cmd, str):
            req["sh"] = cmd
        else:
            req["argv"] = list(cmd)
        tmp = os.path.join(self.cmd_dir, f".{ident}.tmp")
        with open(tmp, "w") as f:
            json.dump(req, f)
        os.rename(tmp, os.path.join(self.cmd_dir, f"{ident}.req"))
        res_path = os.path.join(self.cmd_dir, f"{ident}.res")
        deadline = time.monotonic() + timeout + 15
        while time.monotonic() < deadline:
            if os.path.exists(res_path):
                with open(res_path) as f:
                    res = json.load(f)
                os.unlink(res_path)
                if check and res["rc"] != 0:
                    raise CommandFailed(self.name, cmd if isinstance(cmd, str) else " ".join(cmd), res)
                return res
            if not self.running():
                raise RuntimeError(f"{self.name} is not running (command {cmd!r})")
            time.sleep(0.05)
        raise LabTimeout(f"{self.name}: no answer to {cmd!r} within {timeout + 15:.0f} s")

    def sh(self, cmd: str, timeout: float = 60, check: bool = True) -> str:
        return self.run(cmd, timeout=timeout, check=check)["stdout"]


#: console lines after which a guest never becomes ready (systemd freezes, the kernel panics)
BOOT_FAILURES = ("systemd[1]: Freezing execution", "Kernel panic", "ptrace set fp regs failed")


def cpu_pinning(index: int = 0) -> list[str]:
    """The taskset prefix of the instance at `index` (its place among the lab's instances, sorted).

    By default each instance is kept on one host CPU, round robin over the CPUs this process may
    use: a UML guest is a ptrace ping-pong between its kernel and its processes, and a wake-up on
    another, idle CPU costs 57 us on this 2-vCPU VM where one on the same CPU costs 8 us (lab
    Finding 32).  ALUA_LAB_CPUS=none leaves them unpinned; ALUA_LAB_CPUS=LIST (taskset's list, e.g.
    "0") keeps every instance on those CPUs: with a busy loop of one's own on the same CPU, it shows
    the stack on a machine several times slower (Finding 31)."""
    cpus = os.environ.get("ALUA_LAB_CPUS", "")
    if cpus == "none":
        return []
    if not cpus:
        allowed = sorted(os.sched_getaffinity(0))
        return ["taskset", "-c", str(allowed[index % len(allowed)])] if len(allowed) > 1 else []
    if not all(part.replace("-", "", 1).isdigit() for part in cpus.split(",")):
        raise ValueError(f"ALUA_LAB_CPUS={cpus!r}: expected none or a CPU list such as 0 or 0,1 or 0-1")
    return ["taskset", "-c", cpus]


def silent_boot(console: str) -> bool:
    """True when the console's last boot printed nothing at all (UML hung before its first line)."""
    try:
        with open(console, errors="replace") as f:
            text = f.read()
    except OSError:
        return False
    return "===== lab: boot " in text and not text.rsplit("===== lab: boot ", 1)[-1].split("\n", 1)[-1].strip()


def boot_failure(console: str) -> str:
    """The first fatal line of the console's last boot ('' if none)."""
    try:
        with open(console, errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    last_boot = text.rsplit("===== lab: boot ", 1)[-1]
    for line in last_boot.splitlines():
        if any(marker in line for marker in BOOT_FAILURES):
            return line.strip()
    return ""


def pgroup_members(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found
