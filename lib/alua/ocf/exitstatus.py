"""OCF exit codes, named as Pacemaker names them (enum ocf_exitcode).

Plain int constants with names rather than an IntEnum: ``import enum`` pulls
in functools and collections, about 3.6 ms of a monitor that Pacemaker runs
every few seconds on every node (a third of a bare interpreter's start-up).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar


class ExitStatus(int):
    """Every exit code an agent may return; shell agents call them OCF_<...>.

    ``str()`` and ``format()`` give the number, as IntEnum does; ``repr()`` and
    ``name`` the name.
    """

    __slots__ = ()
    _names: ClassVar[dict[int, str]] = {}

    OK: ClassVar[ExitStatus]  # OCF_SUCCESS
    UNKNOWN_ERROR: ClassVar[ExitStatus]  # OCF_ERR_GENERIC: soft, restart in place
    INVALID_PARAM: ClassVar[ExitStatus]  # OCF_ERR_ARGS: hard, banned from this node
    UNIMPLEMENT_FEATURE: ClassVar[ExitStatus]  # OCF_ERR_UNIMPLEMENTED
    INSUFFICIENT_PRIV: ClassVar[ExitStatus]  # OCF_ERR_PERM
    NOT_INSTALLED: ClassVar[ExitStatus]  # OCF_ERR_INSTALLED: hard, banned from this node
    NOT_CONFIGURED: ClassVar[ExitStatus]  # OCF_ERR_CONFIGURED: fatal, stopped everywhere
    NOT_RUNNING: ClassVar[ExitStatus]  # OCF_NOT_RUNNING
    RUNNING_PROMOTED: ClassVar[ExitStatus]  # OCF_RUNNING_MASTER
    FAILED_PROMOTED: ClassVar[ExitStatus]  # OCF_FAILED_MASTER
    DEGRADED: ClassVar[ExitStatus]
    DEGRADED_PROMOTED: ClassVar[ExitStatus]

    @property
    def name(self) -> str:
        return self._names[int(self)]

    def __repr__(self) -> str:
        return f"<ExitStatus.{self.name}: {int(self)}>"

    __str__ = int.__repr__

    def __reduce__(self) -> tuple[object, tuple[int]]:
        return int, (int(self),)


for _name, _value in (
    ("OK", 0),
    ("UNKNOWN_ERROR", 1),
    ("INVALID_PARAM", 2),
    ("UNIMPLEMENT_FEATURE", 3),
    ("INSUFFICIENT_PRIV", 4),
    ("NOT_INSTALLED", 5),
    ("NOT_CONFIGURED", 6),
    ("NOT_RUNNING", 7),
    ("RUNNING_PROMOTED", 8),
    ("FAILED_PROMOTED", 9),
    ("DEGRADED", 190),
    ("DEGRADED_PROMOTED", 191),
):
    assert _value not in ExitStatus._names, _value  # one name per code, as @unique did
    ExitStatus._names[_value] = _name
    setattr(ExitStatus, _name, int.__new__(ExitStatus, _value))
del _name, _value
