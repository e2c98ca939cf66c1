"""A small pure-Python FUSE low-level server (standard library only).

Why this exists: the test emulators of kernel interfaces (SCST sysfs, later
LIO configfs) must look like real kernel file systems to unmodified programs
(shell redirections, Python file I/O, scstadmin-like tools), so they are
served through a real FUSE mount.  libfuse/fusepy are not available, so this
module opens /dev/fuse, mounts it with mount(2) through ctypes and speaks the
FUSE kernel protocol itself.

The tree model is generic and mirrors sysfs/configfs rather than a disk file
system:

* :class:`Directory` -- children by name, optional ``on_mkdir``/``on_rmdir``
  callbacks (EPERM by default, like sysfs).
* :class:`AttributeFile` -- no stored content: ``reader(ctx) -> bytes`` builds
  the value on each read (from offset 0), ``writer(ctx, data)`` receives the
  bytes of exactly one write(2) ("one write = one attribute store").  Both may
  raise :class:`FuseError` (or ``OSError``) to fail the system call with that
  errno.  Files are opened with FOPEN_DIRECT_IO so a read returns the real
  length although ``st_size`` is 4096 like sysfs.
* :class:`Symlink` -- a fixed or computed target.

Attribute reads and writes run in their own thread, so a callback may block
(e.g. a simulated hanging store) without stopping the request loop; when the
kernel sends FUSE_INTERRUPT for such a request, ``ctx.interrupted`` is set and
a callback that gives up should raise ``FuseError(errno.EINTR)``.

Entry and attribute timeouts are 0: every path walk is re-validated, so
changes made behind a client's back are seen at once.

Callers mutate the tree (add/remove nodes) while holding ``server.lock``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import stat
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple, Union

__all__ = [
    "AttributeFile", "Directory", "FuseError", "FuseServer", "Node",
    "RequestContext", "Symlink", "mount_private_tmpfs", "unshare_mount_namespace",
]

# --- protocol constants (include/uapi/linux/fuse.h) ------------------------

FUSE_KERNEL_VERSION = 7
#: Highest minor we speak.  7.31 is old enough that nothing we do not
#: implement is implied, and new enough for every struct layout used here.
FUSE_MAX_MINOR = 31
FUSE_ROOT_ID = 1

OP_LOOKUP = 1
OP_FORGET = 2
OP_GETATTR = 3
OP_SETATTR = 4
OP_READLINK = 5
OP_SYMLINK = 6
OP_MKNOD = 8
OP_MKDIR = 9
OP_UNLINK = 10
OP_RMDIR = 11
OP_RENAME = 12
OP_LINK = 13
OP_OPEN = 14
OP_READ = 15
OP_WRITE = 16
OP_STATFS = 17
OP_RELEASE = 18
OP_GETXATTR = 22
OP_LISTXATTR = 23
OP_FLUSH = 25
OP_INIT = 26
OP_OPENDIR = 27
OP_READDIR = 28
OP_RELEASEDIR = 29
OP_ACCESS = 34
OP_CREATE = 35
OP_INTERRUPT = 36
OP_DESTROY = 38
OP_BATCH_FORGET = 42
OP_RENAME2 = 45

FOPEN_DIRECT_IO = 1 << 0
FATTR_SIZE = 1 << 3

IN_HEADER = struct.Struct("<IIQQIIIHH")      # fuse_in_header, 40 bytes
OUT_HEADER = struct.Struct("<IiQ")           # fuse_out_header, 16 bytes
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")    # fuse_attr, 88 bytes
ENTRY_OUT = struct.Struct("<QQQQII")         # fuse_entry_out head, 40 bytes
ATTR_OUT = struct.Struct("<QII")             # fuse_attr_out head, 16 bytes
INIT_OUT = struct.Struct("<IIIIHHIIHHII6I")  # fuse_init_out, 64 bytes
OPEN_OUT = struct.Struct("<QII")             # fuse_open_out, 16 bytes
READ_IN = struct.Struct("<QQIIQII")          # fuse_read_in / fuse_write_in
WRITE_OUT = struct.Struct("<II")
KSTATFS = struct.Struct("<QQQQQIIII6I")      # fuse_kstatfs, 80 bytes
DIRENT_HEAD = struct.Struct("<QQII")

MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_REC, MS_PRIVATE = 1 << 14, 1 << 18
MNT_DETACH = 2
CLONE_NEWNS = 0x00020000

ATTR_FILE_SIZE = 4096  # what sysfs reports for every attribute

log = logging.getLogger("fuse")


class FuseError(Exception):
    """Fail the current FUSE request with ``errno``."""

    def __init__(self, err: int, message: str = "") -> None:
        super().__init__(message or os.strerror(err))
        self.errno = err


@dataclass
class RequestContext:
    """What a callback knows about the request it serves."""

    unique: int
    opcode: int
    nodeid: int
    uid: int
    gid: int
    pid: int
    interrupted: threading.Event = field(default_factory=threading.Event)


# --- tree model -------------------------------------------------------------

class Node:
    """A named entry in the tree; ``nodeid`` is assigned on first use."""

    def __init__(self, name: str, mode: int) -> None:
        self.name = name
        self.mode = mode
        self.parent: Optional[Directory] = None
        self.nodeid = 0
        self.nlookup = 0
        self.removed = False
        self.ctime = time.time()

    def rel_path(self) -> str:
        """Path relative to the mount root ('' for the root)."""
        parts: List[str] = []
        node: Optional[Node] = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return "/".join(reversed(parts))

    def size(self) -> int:
        return 0

    def _mark_removed(self) -> None:
        self.removed = True


class Directory(Node):
    """A directory; mkdir/rmdir inside it go to the optional callbacks."""

    def __init__(self, name: str = "", mode: int = 0o755,
                 on_mkdir: Optional[Callable[[RequestContext, str], "Directory"]] = None,
                 on_rmdir: Optional[Callable[[RequestContext, str], None]] = None) -> None:
        super().__init__(name, stat.S_IFDIR | mode)
        self.children: Dict[str, Node] = {}
        self.on_mkdir = on_mkdir
        self.on_rmdir = on_rmdir

    def add(self, node: "NodeT") -> "NodeT":
        if node.name in self.children:
            raise FuseError(errno.EEXIST, f"{node.name} exists in /{self.rel_path()}")
        node.parent = self
        self.children[node.name] = node
        return node

    def remove(self, name: str) -> Node:
        node = self.children.pop(name)
        node._mark_removed()
        return node

    def get(self, name: str) -> Optional[Node]:
        return self.children.get(name)

    def subdir(self, name: str, mode: int = 0o755) -> "Directory":
        return self.add(Directory(name, mode))

    def _mark_removed(self) -> None:
        self.removed = True
        for child in self.children.values():
            child._mark_removed()


Reader = Callable[[RequestContext], bytes]
Writer = Callable[[RequestContext, bytes], None]


class AttributeFile(Node):
    """A sysfs-like attribute: content computed on read, one write = one store."""

    def __init__(self, name: str, reader: Optional[Reader] = None,
                 writer: Optional[Writer] = None, mode: Optional[int] = None) -> None:
        if mode is None:
            mode = (0o444 if reader else 0) | (0o200 if writer else 0)
        super().__init__(name, stat.S_IFREG | mode)
        self.reader = reader
        self.writer = writer

    def size(self) -> int:
        return ATTR_FILE_SIZE


class Symlink(Node):
    """A symbolic link; ``target`` may be a callable evaluated on readlink."""

    def __init__(self, name: str, target: Union[str, Callable[[], str]]) -> None:
        super().__init__(name, stat.S_IFLNK | 0o777)
        self._target = target

    def target(self) -> str:
        return self._target() if callable(self._target) else self._target

    def size(self) -> int:
        return len(self.target().encode())


NodeT = Union[Node, Directory, AttributeFile, Symlink]


# --- mount helpers ------------------------------------------------------------

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(value: Optional[str]) -> Optional[bytes]:
    return None if value is None else value.encode()


def sys_mount(source: Optional[str], target: str, fstype: Optional[str],
              flags: int = 0, data: Optional[str] = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
           f"mount {target}")


def sys_umount(target: str, flags: int = MNT_DETACH) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount {target}")


def unshare_mount_namespace() -> None:
    """Give this process a private mount namespace (must run before threads)."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    sys_mount(None, "/", None, MS_REC | MS_PRIVATE)


def mount_private_tmpfs(path: str) -> None:
    os.makedirs(path, exist_ok=True)
    sys_mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")


# --- the server -------------------------------------------------------------

@dataclass
class _Handle:
    node: Node
    entries: List[Tuple[str, Node]] = field(default_factory=list)
    content: Optional[bytes] = None


class FuseServer:
    """Serve a :class:`Directory` tree on a FUSE mount."""

    def __init__(self, root: Directory, fsname: str = "pyfuse",
                 subtype: str = "pyfuse", logger: Optional[logging.Logger] = None,
                 max_write: int = 1 << 17) -> None:
        self.root = root
        self.fsname = fsname
        self.subtype = subtype
        self.log = logger or log
        self.max_write = max_write
        #: Guards the tree; callers hold it while they mutate nodes.
        self.lock = threading.RLock()
        self.mountpoint: Optional[str] = None
        self._fd = -1
        self._write_lock = threading.Lock()
        self._nodes: Dict[int, Node] = {}
        self._next_nodeid = FUSE_ROOT_ID
        self._handles: Dict[int, _Handle] = {}
        self._next_fh = 1
        self._pending: Dict[int, RequestContext] = {}
        self._pending_lock = threading.Lock()
        self._unmounted = threading.Event()
        self._stopping = False
        self._register(root)
        root.nlookup = 1

    # -- mounting ---------------------------------------------------------

    def mount(self, mountpoint: str) -> None:
        """Open /dev/fuse and mount it at ``mountpoint`` (which must exist)."""
        self._fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        rootmode = stat.S_IFDIR | (self.root.mode & 0o7777)
        opts = (f"fd={self._fd},rootmode={rootmode:o},user_id=0,group_id=0,"
                f"allow_other,default_permissions")
        sys_mount(self.fsname, mountpoint, f"fuse.{self.subtype}",
                  MS_NOSUID | MS_NODEV | MS_NOEXEC, opts)
        self.mountpoint = mountpoint

    def unmount(self) -> None:
        """Lazily unmount (idempotent); the serve loop then ends."""
        if self.mountpoint is None or self._unmounted.is_set():
            return
        self._unmounted.set()
        self._stopping = True
        self._release_pending()
        try:
            sys_umount(self.mountpoint, MNT_DETACH)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOENT):
                self.log.warning("unmount %s: %s", self.mountpoint, exc)

    def unmount_async(self) -> None:
        """Unmount from a helper thread (safe from a signal handler: the
        kernel may wait for our DESTROY reply, which this thread's loop sends)."""
        threading.Thread(target=self.unmount, name="fuse-unmount", daemon=True).start()

    def _release_pending(self) -> None:
        with self._pending_lock:
            for ctx in self._pending.values():
                ctx.interrupted.set()

    # -- main loop --------------------------------------------------------

    def serve(self) -> None:
        """Read and answer requests until the mount goes away."""
        bufsize = self.max_write + 8192
        while True:
            try:
                buf = os.read(self._fd, bufsize)
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.EINTR, errno.EAGAIN):
                    continue  # request vanished before we read it
                if exc.errno == errno.ENODEV:
                    break  # unmounted / connection aborted
                raise
            if not buf:
                break
            try:
                if self._dispatch(buf):
                    break
            except Exception:  # keep serving; never leak to stderr
                self.log.exception("internal error while dispatching a request")
        self._release_pending()
        try:
            os.close(self._fd)
        except OSError:
            pass

    def _dispatch(self, buf: bytes) -> bool:
        (length, opcode, unique, nodeid, uid, gid, pid, _extlen, _pad) = \
            IN_HEADER.unpack_from(buf)
        body = buf[IN_HEADER.size:length]
        ctx = RequestContext(unique, opcode, nodeid, uid, gid, pid)
        if opcode == OP_INIT:
            self._op_init(ctx, body)
        elif opcode == OP_DESTROY:
            self._reply(unique)
            return True
        elif opcode == OP_FORGET:
            self._forget(nodeid, struct.unpack_from("<Q", body)[0])
        elif opcode == OP_BATCH_FORGET:
            self._op_batch_forget(body)
        elif opcode == OP_INTERRUPT:
            self._op_interrupt(body)
        elif opcode in (OP_READ, OP_WRITE):
            self._start_io(ctx, body)
        else:
            handler = self._HANDLERS.get(opcode)
            if handler is None:
                self._reply(unique, errno.ENOSYS)
            else:
                self._call(ctx, lambda: handler(self, ctx, body))
        return False

    def _call(self, ctx: RequestContext, fn: Callable[[], bytes]) -> None:
        try:
            payload = fn()
        except FuseError as exc:
            self._reply(ctx.unique, exc.errno)
        except OSError as exc:
            self._reply(ctx.unique, exc.errno or errno.EIO)
        except Exception:
            self.log.exception("callback failed (opcode %d)", ctx.opcode)
            self._reply(ctx.unique, errno.EIO)
        else:
            self._reply(ctx.unique, 0, payload)

    def _reply(self, unique: int, err: int = 0, payload: bytes = b"") -> None:
        data = OUT_HEADER.pack(OUT_HEADER.size + len(payload), -err, unique) + payload
        with self._write_lock:
            try:
                os.write(self._fd, data)
            except OSError as exc:
                # ENOENT: the request was interrupted/aborted meanwhile.
                if exc.errno not in (errno.ENOENT, errno.ENODEV, errno.EBADF):
                    self.log.warning("reply to %d failed: %s", unique, exc)

    # -- node bookkeeping -----------------------------------------------------

    def _register(self, node: Node) -> int:
        if node.nodeid == 0:
            node.nodeid = self._next_nodeid
            self._next_nodeid += 1
            self._nodes[node.nodeid] = node
        return node.nodeid

    def _node(self, nodeid: int) -> Node:
        node = self._nodes.get(nodeid)
        if node is None or node.removed:
            raise FuseError(errno.ENOENT)
        return node

    def _dir(self, nodeid: int) -> Directory:
        node = self._node(nodeid)
        if not isinstance(node, Directory):
            raise FuseError(errno.ENOTDIR)
        return node

    def _forget(self, nodeid: int, count: int) -> None:
        with self.lock:
            node = self._nodes.get(nodeid)
            if node is None or nodeid == FUSE_ROOT_ID:
                return
            node.nlookup = max(0, node.nlookup - count)
            if node.nlookup == 0 and node.removed:
                del self._nodes[nodeid]

    def _attr(self, node: Node) -> bytes:
        nlink = 2 if isinstance(node, Directory) else 1
        sec = int(node.ctime)
        nsec = int((node.ctime - sec) * 1e9)
        return ATTR.pack(node.nodeid, node.size(), 0, sec, sec, sec, nsec, nsec, nsec,
                         node.mode, nlink, 0, 0, 0, 4096, 0)

    def _entry(self, node: Node) -> bytes:
        self._register(node)
        node.nlookup += 1
        return ENTRY_OUT.pack(node.nodeid, 0, 0, 0, 0, 0) + self._attr(node)

    def _new_handle(self, handle: _Handle) -> int:
        fh = self._next_fh
        self._next_fh += 1
        self._handles[fh] = handle
        return fh

    # -- request handlers -----------------------------------------------------

    def _op_init(self, ctx: RequestContext, body: bytes) -> None:
        major, minor, max_readahead, _flags = struct.unpack_from("<IIII", body)
        if major < FUSE_KERNEL_VERSION:
            self._reply(ctx.unique, errno.EPROTO)
            return
        out = INIT_OUT.pack(FUSE_KERNEL_VERSION, min(minor, FUSE_MAX_MINOR),
                            max_readahead, 0,  # no optional features requested
                            16, 12, self.max_write, 1, 0, 0, 0, 0, *([0] * 6))
        self._reply(ctx.unique, 0, out)

    def _op_batch_forget(self, body: bytes) -> None:
        count = struct.unpack_from("<I", body)[0]
        for i in range(count):
            nodeid, nlookup = struct.unpack_from("<QQ", body, 8 + 16 * i)
            self._forget(nodeid, nlookup)

    def _op_interrupt(self, body: bytes) -> None:
        target = struct.unpack_from("<Q", body)[0]
        with self._pending_lock:
            ctx = self._pending.get(target)
        if ctx is not None:
            ctx.interrupted.set()

    def _op_lookup(self, ctx: RequestContext, body: bytes) -> bytes:
        name = body.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        with self.lock:
            child = self._dir(ctx.nodeid).get(name)
            if child is None:
                raise FuseError(errno.ENOENT)
            return self._entry(child)

    def _op_getattr(self, ctx: RequestContext, body: bytes) -> bytes:
        with self.lock:
            return ATTR_OUT.pack(0, 0, 0) + self._attr(self._node(ctx.nodeid))

    def _op_setattr(self, ctx: RequestContext, body: bytes) -> bytes:
        # Like sysfs: truncation (``echo x > attr`` opens with O_TRUNC) and
        # time/mode updates are accepted and have no effect.
        with self.lock:
            return ATTR_OUT.pack(0, 0, 0) + self._attr(self._node(ctx.nodeid))

    def _op_readlink(self, ctx: RequestContext, body: bytes) -> bytes:
        with self.lock:
            node = self._node(ctx.nodeid)
            if not isinstance(node, Symlink):
                raise FuseError(errno.EINVAL)
            return node.target().encode()

    def _op_open(self, ctx: RequestContext, body: bytes) -> bytes:
        flags = struct.unpack_from("<I", body)[0]
        with self.lock:
            node = self._node(ctx.nodeid)
            if isinstance(node, Directory):
                raise FuseError(errno.EISDIR)
            if not isinstance(node, AttributeFile):
                raise FuseError(errno.EACCES)
            acc = flags & os.O_ACCMODE
            # kernfs_fop_open: even root gets EACCES for a missing show/store.
            if acc in (os.O_RDONLY, os.O_RDWR) and node.reader is None:
                raise FuseError(errno.EACCES)
            if acc in (os.O_WRONLY, os.O_RDWR) and node.writer is None:
                raise FuseError(errno.EACCES)
            fh = self._new_handle(_Handle(node))
        return OPEN_OUT.pack(fh, FOPEN_DIRECT_IO, 0)

    def _op_opendir(self, ctx: RequestContext, body: bytes) -> bytes:
        with self.lock:
            node = self._dir(ctx.nodeid)
            entries = [(".", node), ("..", node.parent or node)]
            entries += list(node.children.items())
            for _, child in entries:
                self._register(child)
            fh = self._new_handle(_Handle(node, entries))
        return OPEN_OUT.pack(fh, 0, 0)

    def _op_readdir(self, ctx: RequestContext, body: bytes) -> bytes:
        fh, offset, size = READ_IN.unpack_from(body)[:3]
        with self.lock:
            handle = self._handles.get(fh)
            if handle is None:
                raise FuseError(errno.EBADF)
            out = bytearray()
            for index in range(offset, len(handle.entries)):
                name, node = handle.entries[index]
                raw = name.encode("utf-8", "surrogateescape")
                entry = DIRENT_HEAD.pack(node.nodeid, index + 1, len(raw),
                                         stat.S_IFMT(node.mode) >> 12) + raw
                entry += b"\0" * (-len(entry) % 8)
                if len(out) + len(entry) > size:
                    break
                out += entry
        return bytes(out)

    def _op_release(self, ctx: RequestContext, body: bytes) -> bytes:
        fh = struct.unpack_from("<Q", body)[0]
        with self.lock:
            self._handles.pop(fh, None)
        return b""

    def _op_ok(self, ctx: RequestContext, body: bytes) -> bytes:
        return b""

    def _op_statfs(self, ctx: RequestContext, body: bytes) -> bytes:
        return KSTATFS.pack(0, 0, 0, 0, 0, 4096, 255, 4096, 0, *([0] * 6))

    def _op_xattr(self, ctx: RequestContext, body: bytes) -> bytes:
        raise FuseError(errno.ENOSYS)

    def _op_mkdir(self, ctx: RequestContext, body: bytes) -> bytes:
        name = body[8:].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        with self.lock:
            parent = self._dir(ctx.nodeid)
            if parent.on_mkdir is None:
                raise FuseError(errno.EPERM)
            return self._entry(parent.on_mkdir(ctx, name))

    def _op_rmdir(self, ctx: RequestContext, body: bytes) -> bytes:
        name = body.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        with self.lock:
            parent = self._dir(ctx.nodeid)
            if parent.on_rmdir is None:
                raise FuseError(errno.EPERM)
            parent.on_rmdir(ctx, name)
        return b""

    def _op_eacces(self, ctx: RequestContext, body: bytes) -> bytes:
        raise FuseError(errno.EACCES)  # sysfs directories cannot create files

    def _op_eperm(self, ctx: RequestContext, body: bytes) -> bytes:
        raise FuseError(errno.EPERM)  # sysfs refuses unlink/rename/link/symlink

    _HANDLERS: Dict[int, Callable[["FuseServer", RequestContext, bytes], bytes]] = {
        OP_LOOKUP: _op_lookup,
        OP_GETATTR: _op_getattr,
        OP_SETATTR: _op_setattr,
        OP_READLINK: _op_readlink,
        OP_OPEN: _op_open,
        OP_OPENDIR: _op_opendir,
        OP_READDIR: _op_readdir,
        OP_RELEASE: _op_release,
        OP_RELEASEDIR: _op_release,
        OP_FLUSH: _op_ok,
        OP_ACCESS: _op_ok,
        OP_STATFS: _op_statfs,
        OP_GETXATTR: _op_xattr,
        OP_LISTXATTR: _op_xattr,
        OP_MKDIR: _op_mkdir,
        OP_RMDIR: _op_rmdir,
        OP_CREATE: _op_eacces,
        OP_MKNOD: _op_eacces,
        OP_UNLINK: _op_eperm,
        OP_RENAME: _op_eperm,
        OP_RENAME2: _op_eperm,
        OP_LINK: _op_eperm,
        OP_SYMLINK: _op_eperm,
    }

    # -- attribute I/O (threaded, interruptible) ------------------------------

    def _start_io(self, ctx: RequestContext, body: bytes) -> None:
        with self._pending_lock:
            self._pending[ctx.unique] = ctx
            if self._stopping:
                ctx.interrupted.set()
        worker = threading.Thread(target=self._run_io, args=(ctx, body),
                                  name=f"fuse-io-{ctx.unique}", daemon=True)
        worker.start()

    def _run_io(self, ctx: RequestContext, body: bytes) -> None:
        try:
            if ctx.opcode == OP_READ:
                self._call(ctx, lambda: self._do_read(ctx, body))
            else:
                self._call(ctx, lambda: self._do_write(ctx, body))
        finally:
            with self._pending_lock:
                self._pending.pop(ctx.unique, None)

    def _io_handle(self, fh: int) -> Tuple[_Handle, AttributeFile]:
        with self.lock:
            handle = self._handles.get(fh)
            if handle is None or not isinstance(handle.node, AttributeFile):
                raise FuseError(errno.EBADF)
            if handle.node.removed:
                raise FuseError(errno.ENODEV)  # like a deleted sysfs attribute
            return handle, handle.node

    def _do_read(self, ctx: RequestContext, body: bytes) -> bytes:
        fh, offset, size = READ_IN.unpack_from(body)[:3]
        handle, node = self._io_handle(fh)
        if node.reader is None:
            raise FuseError(errno.EACCES)
        if offset == 0 or handle.content is None:
            handle.content = node.reader(ctx)
        return handle.content[offset:offset + size]

    def _do_write(self, ctx: RequestContext, body: bytes) -> bytes:
        fh, _offset, size = READ_IN.unpack_from(body)[:3]
        data = body[READ_IN.size:READ_IN.size + size]
        _handle, node = self._io_handle(fh)
        if node.writer is None:
            raise FuseError(errno.EACCES)
        node.writer(ctx, data)
        return WRITE_OUT.pack(len(data), 0)
