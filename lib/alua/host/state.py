"""Small per-instance state kept between actions in HA_RSCTMP (a tmpfs: gone at reboot).

Agents remember here what they last told the cluster (the promotion score)
and what they last wrote for the peers, so that a recurring monitor can
compare without running a tool.  A plain "key value" text format keeps
monitor from importing json.
"""

from __future__ import annotations

import os


class StateFile:
    """A tiny key/value file; every write replaces the file atomically."""

    def __init__(self, directory: str, instance: str) -> None:
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in instance)
        self.path = os.path.join(directory, f"alua-{safe}.state")
        self._values: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._values is None:
            values: dict[str, str] = {}
            try:
                with open(self.path, encoding="utf-8") as f:
                    for line in f:
                        key, _, value = line.rstrip("\n").partition(" ")
                        if key:
                            values[key] = value
            except OSError:
                pass
            self._values = values
        return self._values

    def get(self, key: str) -> str | None:
        return self._load().get(key)

    def items(self, prefix: str) -> dict[str, str]:
        """All keys starting with prefix, with the prefix removed."""
        n = len(prefix)
        return {k[n:]: v for k, v in self._load().items() if k.startswith(prefix)}

    def update(self, changes: dict[str, str | None]) -> None:
        """Set (or, with None, remove) keys and write the file once."""
        values = dict(self._load())
        for key, value in changes.items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        if values == self._values:
            return
        self._values = values
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            tmp = f"{self.path}.{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(f"{k} {v}\n" for k, v in sorted(values.items()))
            os.replace(tmp, self.path)
        except OSError:
            pass  # losing this cache costs one extra tool call later, nothing more

    def remove(self) -> None:
        self._values = {}
        try:
            os.unlink(self.path)
        except OSError:
            pass


class FencedPeers:
    """Marker files DIRECTORY/NODE that alua-alert (a Pacemaker alert agent, run as hacluster)
    writes when a node was fenced; a marker's modification time tells one fencing from the
    next, so the agents apply each once."""

    SUBDIR = "alua-fenced"  # below HA_RSCTMP
    GROUP = "haclient"  # Pacemaker runs alert agents as hacluster, of this group

    def __init__(self, directory: str) -> None:
        self.dir = directory

    @classmethod
    def below(cls, rsctmp: str) -> FencedPeers:
        return cls(os.path.join(rsctmp, cls.SUBDIR))

    def marked(self, node: str) -> str:
        """When `node` was last marked (an opaque stamp), '' if never: one stat, for monitor."""
        try:
            return str(os.stat(os.path.join(self.dir, node)).st_mtime_ns)
        except OSError:
            return ""

    def mark(self, node: str, text: str) -> None:
        path = os.path.join(self.dir, node)
        tmp = os.path.join(self.dir, f".{node}.{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, path)

    def ensure(self) -> None:
        """Create the directory, writable by root and the alert agent's group only."""
        import grp

        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        try:
            gid = grp.getgrnam(self.GROUP).gr_gid
        except KeyError:
            return  # no Pacemaker user here: root only (the alert then reports it cannot write)
        os.chown(self.dir, -1, gid)
        os.chmod(self.dir, 0o1770)
