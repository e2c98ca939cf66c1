"""The DLM's kernel side and its configuration file: configfs, the dlm module, kernel lockspaces, dlm.conf.

Read from sysfs and procfs; the only commands are modprobe and mount, when start needs them.
"""

from __future__ import annotations

import os

from alua.ocf.errors import NotInstalledError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from alua.host.run import CommandRunner
    from alua.ocf.log import Logger

CONFFILE = "/etc/dlm/dlm.conf"
CONFIGFS = "/sys/kernel/config"
KERNEL_LOCKSPACES = "/sys/kernel/dlm"
MODULES = "/sys/module"
MOUNTS = "/proc/self/mounts"


def read_conf(path: str = CONFFILE) -> dict[str, str]:
    """dlm.conf's ``key=value`` settings (comments and sections ignored)."""
    settings: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for raw in f:
                line = raw.split("#", 1)[0].strip()
                key, sep, value = line.partition("=")
                if sep and key.strip() and " " not in key.strip():
                    settings[key.strip()] = value.strip()
    except OSError:
        pass
    return settings


# --- kernel ------------------------------------------------------------------------------


class DlmKernel:
    """configfs, the dlm module and the lockspaces the kernel holds (sysfs/procfs, no tools)."""

    def __init__(
        self, *, configfs: str = CONFIGFS, lockspace_dir: str = KERNEL_LOCKSPACES, modules: str = MODULES,
        mounts: str = MOUNTS,
    ) -> None:
        self.configfs, self.lockspace_dir, self.modules, self.mounts = configfs, lockspace_dir, modules, mounts

    def configfs_mounted(self) -> bool:
        try:
            with open(self.mounts, encoding="utf-8", errors="replace") as f:
                for line in f:
                    fields = line.split()
                    if len(fields) >= 3 and fields[2] == "configfs" and fields[1] == self.configfs:
                        return True
        except OSError:
            pass
        return False

    def dlm_loaded(self) -> bool:
        return os.path.isdir(os.path.join(self.configfs, "dlm")) or os.path.isdir(os.path.join(self.modules, "dlm"))

    def lockspaces(self) -> list[str]:
        """Lockspaces the kernel still holds (/sys/kernel/dlm/<name>), with or without a daemon."""
        try:
            names = os.listdir(self.lockspace_dir)
        except OSError:
            return []
        return sorted(n for n in names if os.path.isdir(os.path.join(self.lockspace_dir, n)))

    def prepare(self, runner: CommandRunner, log: Logger, timeout: float | None = None) -> None:
        """Mount configfs and load the dlm module when they are missing."""
        if not self.configfs_mounted():
            if not os.path.isdir(self.configfs):
                result = runner.run(["modprobe", "configfs"], timeout=timeout)
                if not result.ok:
                    raise NotInstalledError(f"configfs is not available: modprobe configfs: {result.tail()}")
            result = runner.run(["mount", "-t", "configfs", "configfs", self.configfs], timeout=timeout)
            if not result.ok:
                raise NotInstalledError(f"cannot mount configfs on {self.configfs}: {result.tail()}")
            log.info(f"mounted configfs on {self.configfs}")
        if not self.dlm_loaded():
            result = runner.run(["modprobe", "dlm"], timeout=timeout)
            if not result.ok:
                raise NotInstalledError(f"the dlm kernel module cannot be loaded: {result.tail()}")
            log.info("loaded the dlm kernel module")
