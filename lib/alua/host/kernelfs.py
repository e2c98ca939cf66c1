"""Kernel attribute trees (sysfs, configfs): the one way agents read and write them.

A kernel attribute store is one write(2): the value goes out whole, with
the trailing newline ``echo`` adds, and a value containing a newline is
refused before it could become a second command.  Every failure raises the
tree's own error class with the path, the value and the errno in its reason.
"""

from __future__ import annotations

import errno
import os
import stat

from alua.ocf.errors import OcfError


def strerror(e: OSError) -> str:
    """'Invalid argument (EINVAL)': the message and the name admins search for."""
    name = errno.errorcode.get(e.errno or 0, "")
    return f"{e.strerror} ({name})" if name else str(e.strerror)


class KernelTree:
    """Paths under one kernel interface root, read and written with the kernel's conventions."""

    Error: type[OcfError] = OcfError
    ROOT = ""  # where the interface lives; a subclass names its own

    def __init__(self, root: str | None = None) -> None:
        self.root = self.ROOT if root is None else root

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def _mode(self, parts: tuple[str, ...]) -> int | None:
        """The entry's own mode (symlinks not followed), None when absent: one lstat."""
        try:
            return os.lstat(self.path(*parts)).st_mode
        except FileNotFoundError:
            return None
        except OSError as e:
            raise self.Error(f"cannot look at {self.path(*parts)}: {strerror(e)}") from e

    def exists(self, *parts: str) -> bool:
        return self._mode(parts) is not None

    def is_link(self, *parts: str) -> bool:
        mode = self._mode(parts)
        return mode is not None and stat.S_ISLNK(mode)

    def is_dir(self, *parts: str) -> bool:
        mode = self._mode(parts)
        return mode is not None and stat.S_ISDIR(mode)

    def entries(self, *parts: str) -> list[str] | None:
        """A directory's names, sorted; None when it does not exist."""
        try:
            return sorted(os.listdir(self.path(*parts)))
        except FileNotFoundError:
            return None
        except OSError as e:
            raise self.Error(f"cannot list {self.path(*parts)}: {strerror(e)}") from e

    def readlink(self, *parts: str) -> str | None:
        """A symlink's target; None when the entry is missing or not a link."""
        if not self.is_link(*parts):
            return None
        try:
            return os.readlink(self.path(*parts))
        except OSError as e:
            raise self.Error(f"cannot read link {self.path(*parts)}: {strerror(e)}") from e

    def read_text(self, *parts: str) -> str | None:
        """An attribute's whole text (NULs dropped: some lists end lines with one); None if absent."""
        path = self.path(*parts)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise self.Error(f"cannot open {path}: {strerror(e)}") from e
        try:
            chunks = []
            while True:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError as e:
            raise self.Error(f"cannot read {path}: {strerror(e)}") from e
        finally:
            os.close(fd)
        return b"".join(chunks).replace(b"\0", b"").decode("utf-8", "replace")

    def read(self, *parts: str) -> str | None:
        """An attribute's value: its first line, stripped; None if absent."""
        text = self.read_text(*parts)
        return None if text is None else text.split("\n", 1)[0].strip()

    def write(self, value: str, *parts: str) -> None:
        """Store value in one write(2), as ``echo value > path`` does."""
        path = self.path(*parts)
        if "\n" in value or "\r" in value:
            raise self.Error(f"refusing to write {value!r} to {path}: it contains a newline")
        data = (value + "\n").encode()
        try:
            fd = os.open(path, os.O_WRONLY)
        except OSError as e:
            raise self.Error(f"cannot open {path} to write {value!r}: {strerror(e)}") from e
        try:
            written = os.write(fd, data)
        except BlockingIOError as e:
            self.finished_later(value, path, e)
            return
        except OSError as e:
            raise self.Error(f"writing {value!r} to {path} failed: {strerror(e)}") from e
        finally:
            os.close(fd)
        if written != len(data):
            raise self.Error(f"writing {value!r} to {path} was cut short ({written} of {len(data)} bytes)")

    def finished_later(self, value: str, path: str, error: BlockingIOError) -> None:
        """The kernel answered EAGAIN: by default a failure; an interface that finishes later says how."""
        raise self.Error(f"writing {value!r} to {path} failed: {strerror(error)}") from error

    def mkdir(self, *parts: str) -> None:
        """configfs creates a kernel object on mkdir."""
        try:
            os.mkdir(self.path(*parts))
        except OSError as e:
            raise self.Error(f"cannot create {self.path(*parts)}: {strerror(e)}") from e

    def rmdir(self, *parts: str) -> None:
        """configfs destroys a kernel object on rmdir; an absent one is already gone."""
        try:
            os.rmdir(self.path(*parts))
        except FileNotFoundError:
            return
        except OSError as e:
            raise self.Error(f"cannot remove {self.path(*parts)}: {strerror(e)}") from e
