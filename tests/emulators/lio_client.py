"""Python API for driving the LIO configfs emulator from tests.

The same child-process, control-socket and write-log handling as the SCST
emulator's client; only the program, its mount point and the operations
that exist in LIO differ.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .client import PYTHON, EmulatorError, PathLike, ScstEmulator

__all__ = ["CONFIGFS", "EmulatorError", "LioEmulator"]

CONFIGFS = "/sys/kernel/config"


class LioEmulator(ScstEmulator):
    """One emulated LIO configfs tree (``target/`` under /sys/kernel/config) served by a child process."""

    script = Path(__file__).resolve().parent / "lio_configfs.py"

    def __init__(self, state_dir: PathLike, config: Mapping[str, Any] | None = None,
                 new_namespace: bool = True, mountpoint: str = CONFIGFS,
                 launcher: Sequence[str] = (), python: str = PYTHON,
                 ready_timeout: float = 15.0) -> None:
        super().__init__(state_dir, config, new_namespace=new_namespace, mountpoint=mountpoint,
                         launcher=launcher, python=python, ready_timeout=ready_timeout)

    def remove_lun(self, target: str, lun: int = 0, tpgt: int = 1, fabric: str = "iscsi") -> None:
        """The admin deletes a LUN (its group membership goes with it)."""
        self.request({"op": "remove_lun", "fabric": fabric, "target": target, "tpgt": tpgt, "lun": lun})

    def remove_target(self, target: str, fabric: str = "iscsi") -> None:
        """The admin (or ocf:heartbeat:iSCSITarget stop) deletes a target with its TPGs, LUNs and portals."""
        self.request({"op": "remove_target", "fabric": fabric, "target": target})

    def portals(self, target: str, tpgt: int = 1, fabric: str = "iscsi") -> list[str]:
        """The TPG's network portals (``tpgt_N/np`` names) in creation order; [] when the target is gone."""
        tpg = self.dump()["targets"].get(fabric, {}).get(target, {}).get("tpgs", {}).get(str(tpgt))
        return [] if tpg is None else list(tpg["portals"])

    # SCST-only operations do not exist here.
    def unregister_target(self, *args: Any, **kwargs: Any) -> None:
        raise EmulatorError("LIO has no target registration; remove the LUN or move it to another group")

    register_target = unregister_target  # type: ignore[assignment]
    remove_device = unregister_target  # type: ignore[assignment]
