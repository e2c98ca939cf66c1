"""What the SCST and LIO emulators share: the model base, faults, the control socket, one process's life.

Both models (scst_sysfs.py, lio_configfs.py) subclass EmulatorBase; each runs
as its own process through serve().  The kernel's string parsers both use
(kstrtoul, the NUL-terminated page) are here too.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import re
import signal
import socketserver
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

try:  # imported as part of the tests package
    from . import fuse
except ImportError:  # run as a script
    import fuse  # type: ignore[no-redef]

Directory = fuse.Directory
FuseError = fuse.FuseError
RequestContext = fuse.RequestContext
Symlink = fuse.Symlink

log = logging.getLogger("emulator")


# --- kernel string parsing, reproduced -------------------------------------

def c_string(data: bytes) -> bytes:
    """What kasprintf("%.*s") keeps: everything before the first NUL."""
    return data.split(b"\0", 1)[0]


def kstrtoul(data: bytes, signed: bool = False) -> int:
    """Linux kstrtoul/kstrtol with base 0: optional sign, 0x/0 prefixes,
    at most one trailing newline, nothing else (EINVAL), overflow ERANGE."""
    s = c_string(data)
    negative = False
    if s[:1] == b"+":
        s = s[1:]
    elif signed and s[:1] == b"-":
        negative, s = True, s[1:]
    base = 10
    if s[:1] == b"0":
        if s[1:2] in (b"x", b"X") and s[2:3] and s[2:3] in b"0123456789abcdefABCDEF":
            base, s = 16, s[2:]
        else:
            base = 8
    digits = re.match(rb"[0-9a-fA-F]*", s).group(0)
    n = 0  # the longest prefix of digits valid in this base
    while n < len(digits) and int(chr(digits[n]), 16) < base:
        n += 1
    if n == 0:
        raise FuseError(errno.EINVAL)
    rest = s[n:]
    if rest[:1] == b"\n":
        rest = rest[1:]
    if rest:
        raise FuseError(errno.EINVAL)
    value = int(s[:n], base)
    limit = (1 << 63) if signed else (1 << 64)
    if value >= limit + (1 if negative else 0):
        raise FuseError(errno.ERANGE)
    return -value if negative else value


def errname(err: int) -> str:
    return errno.errorcode.get(err, str(err))


@dataclass
class Fault:
    path: str
    kind: str
    on: str = "write"
    seconds: Optional[float] = None
    cleared: threading.Event = field(default_factory=threading.Event)

    def applies(self, direction: str) -> bool:
        return self.on in (direction, "both")

    def errno_value(self) -> int:
        return getattr(errno, self.kind.upper())

    def wait(self, interrupted: threading.Event) -> str:
        """Block like a stuck kernel store; says why it stopped."""
        deadline = None if self.seconds is None else time.monotonic() + self.seconds
        while True:
            if interrupted.is_set():
                return "interrupted"
            if self.cleared.is_set():
                return "cleared"
            if deadline is not None and time.monotonic() >= deadline:
                return "timeout"
            interrupted.wait(0.02)

    def as_json(self) -> Dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "on": self.on,
                "seconds": self.seconds}


class EmulatorBase:
    """An emulated kernel tree: FUSE server, lock, faults, the write log, the backdoor and control ops."""

    ATTR: Any = fuse.AttributeFile  # the model's attribute class (it keeps its store)
    FAULT_ON = ("read", "write", "both")
    READ_PASS_KINDS: tuple = ()  # fault kinds that leave reads alone

    def __init__(self, state_dir: str, *, fsname: str, subtype: str, logger: logging.Logger) -> None:
        self.state_dir = state_dir
        self.root = Directory()
        self.server = fuse.FuseServer(self.root, fsname=fsname, subtype=subtype, logger=logger)
        self.lock = self.server.lock
        self.faults: Dict[str, Fault] = {}
        self._writes = open(os.path.join(state_dir, "writes.jsonl"), "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    def _log_entry(self, entry: Dict[str, Any]) -> None:
        self._writes.write(json.dumps(entry) + "\n")
        self._writes.flush()

    def _fault_for(self, path: str, direction: str) -> Optional[Fault]:
        fault = self.faults.get(path)
        return fault if fault is not None and fault.applies(direction) else None

    def _read(self, ctx: RequestContext, node: Any, show: Callable[[], str]) -> bytes:
        fault = self._fault_for(node.rel_path(), "read")
        if fault is not None:
            if fault.kind == "hang":
                if fault.wait(ctx.interrupted) == "interrupted":
                    raise FuseError(errno.EINTR)
            elif fault.kind not in self.READ_PASS_KINDS:
                raise FuseError(fault.errno_value())
        with self.lock:
            if node.removed:
                raise FuseError(errno.ENODEV)
            return show().encode("utf-8", "surrogateescape")

    # -- control operations -------------------------------------------------------

    def _check_fault(self, kind: str, on: str) -> None:
        """A model's own refusals of a fault spec."""

    def set_fault(self, spec: Dict[str, Any]) -> None:
        path = str(spec["path"]).strip("/")
        kind = str(spec.get("kind", "eio")).lower()
        on = str(spec.get("on", "write"))
        if on not in self.FAULT_ON:
            raise ValueError(f"on must be {', '.join(self.FAULT_ON[:-1])} or {self.FAULT_ON[-1]}")
        if kind != "hang" and not hasattr(errno, kind.upper()):
            raise ValueError(f"unknown fault kind {kind!r}")
        self._check_fault(kind, on)
        seconds = spec.get("seconds")
        with self.lock:
            old = self.faults.get(path)
            if old is not None:
                old.cleared.set()
            self.faults[path] = Fault(path, kind, on, None if seconds is None else float(seconds))

    def clear_faults(self) -> None:
        with self.lock:
            for fault in self.faults.values():
                fault.cleared.set()
            self.faults.clear()

    def backdoor_set(self, path: str, value: Any) -> int:
        """Store like a write(2) (same validation and side effects) but
        without faults, logged with by=backdoor: drift made by another actor."""
        with self.lock:
            node: Any = self.root
            for part in path.strip("/").split("/"):
                node = node.get(part) if isinstance(node, Directory) else None
            if not isinstance(node, self.ATTR) or node.store is None:
                raise ValueError(f"no writable attribute at {path!r}")
            data = value.encode() if isinstance(value, str) else str(value).encode()
            return self._backdoor_apply(node, data)

    def _backdoor_apply(self, node: Any, data: bytes) -> int:
        raise NotImplementedError

    def handle(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return control_reply(self, request, self._own_op)

    def _own_op(self, op: Any, request: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        return None


def control_reply(emulator: Any, request: Dict[str, Any],
                  own_op: Callable[[Any, Dict[str, Any]], Optional[Dict[str, Any]]]) -> Dict[str, Any]:
    """One control request answered: the ops every emulator has, then its own (None: unknown)."""
    op = request.get("op")
    try:
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "dump":
            return {"ok": True, "state": emulator.dump()}
        if op == "fault":
            emulator.set_fault(request)
            return {"ok": True}
        if op == "clear_faults":
            emulator.clear_faults()
            return {"ok": True}
        if op == "set":
            err = emulator.backdoor_set(str(request["path"]), request["value"])
            return {"ok": err == 0, "result": "ok" if not err else errname(err),
                    **({"error": errname(err)} if err else {})}
        reply = own_op(op, request)
        return reply if reply is not None else {"ok": False, "error": f"unknown op {op!r}"}
    except FuseError as exc:
        return {"ok": False, "error": errname(exc.errno)}
    except (KeyError, ValueError, TypeError) as exc:
        return {"ok": False, "error": f"bad request: {exc}"}


# --- control socket -------------------------------------------------------------

class _ControlHandler(socketserver.StreamRequestHandler):
    server: _ControlServer

    def handle(self) -> None:
        for line in self.rfile:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("request must be a JSON object")
                reply = self.server.emulator.handle(request)
            except ValueError as exc:
                reply = {"ok": False, "error": f"bad request: {exc}"}
            except Exception as exc:  # never kill the server thread
                log.exception("control request failed")
                reply = {"ok": False, "error": f"internal error: {exc}"}
            self.wfile.write((json.dumps(reply) + "\n").encode())
            self.wfile.flush()


class _ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, emulator: EmulatorBase) -> None:
        self.emulator = emulator
        super().__init__(path, _ControlHandler)


def short_path(directory_fd: int, name: str) -> str:
    """Unix socket paths are limited to 108 bytes; go through /proc/self/fd."""
    return f"/proc/self/fd/{directory_fd}/{name}"


# --- main ------------------------------------------------------------------------

def parse_args(argv: Optional[List[str]], description: str, default_mountpoint: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--config")
    parser.add_argument("--mountpoint", default=default_mountpoint)
    parser.add_argument("--new-namespace", action="store_true")
    return parser.parse_args(argv)


def prepare_mountpoint(mountpoint: str, new_namespace: bool) -> None:
    if new_namespace:
        fuse.unshare_mount_namespace()
        if mountpoint.startswith("/sys/kernel/"):
            fuse.mount_private_tmpfs("/sys/kernel")
    os.makedirs(mountpoint, exist_ok=True)


def write_ready(state_dir: str) -> None:
    tmp = os.path.join(state_dir, "ready.tmp")
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(f"{os.getpid()}\n")
    os.rename(tmp, os.path.join(state_dir, "ready"))


def serve(argv: Optional[List[str]], emulator_class: Any, name: str, default_mountpoint: str) -> int:
    """The whole life of an emulator process (shared by the SCST and LIO emulators)."""
    args = parse_args(argv, f"{name} emulator (FUSE)", default_mountpoint)
    state_dir = os.path.abspath(args.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    logging.basicConfig(filename=os.path.join(state_dir, "emulator.log"), level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(threadName)s %(message)s")
    for stale in ("ready", "control.sock"):
        try:
            os.unlink(os.path.join(state_dir, stale))
        except FileNotFoundError:
            pass
    try:
        config: Dict[str, Any] = {}
        if args.config:
            with open(args.config, encoding="utf-8") as fh:
                config = json.load(fh)
        prepare_mountpoint(args.mountpoint, args.new_namespace)
        emulator = emulator_class(state_dir, config)
        emulator.server.mount(args.mountpoint)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("startup failed: %s", exc)
        print(f"{name}: startup failed: {exc}", file=sys.stderr)
        return 2
    dir_fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    control = _ControlServer(short_path(dir_fd, "control.sock"), emulator)
    threading.Thread(target=control.serve_forever, name="control", daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: emulator.server.unmount_async())
    write_ready(state_dir)
    log.info("serving %s (pid %d)", args.mountpoint, os.getpid())
    emulator.server.serve()
    log.info("mount gone, shutting down")
    emulator.clear_faults()
    control.shutdown()
    control.server_close()
    for name in ("ready", "control.sock"):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass
    return 0


