"""OCF exit codes, named as Pacemaker names them (enum ocf_exitcode)."""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitStatus(IntEnum):
    """Every exit code an agent may return; shell agents call them OCF_<...>."""

    OK = 0  # OCF_SUCCESS
    UNKNOWN_ERROR = 1  # OCF_ERR_GENERIC: soft, restart in place
    INVALID_PARAM = 2  # OCF_ERR_ARGS: hard, banned from this node
    UNIMPLEMENT_FEATURE = 3  # OCF_ERR_UNIMPLEMENTED
    INSUFFICIENT_PRIV = 4  # OCF_ERR_PERM
    NOT_INSTALLED = 5  # OCF_ERR_INSTALLED: hard, banned from this node
    NOT_CONFIGURED = 6  # OCF_ERR_CONFIGURED: fatal, stopped everywhere
    NOT_RUNNING = 7  # OCF_NOT_RUNNING
    RUNNING_PROMOTED = 8  # OCF_RUNNING_MASTER
    FAILED_PROMOTED = 9  # OCF_FAILED_MASTER
    DEGRADED = 190
    DEGRADED_PROMOTED = 191
