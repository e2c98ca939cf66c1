"""alua: Pacemaker OCF resource agents for highly available iSCSI ALUA storage.

The package has no side effects at import: agents import only what the
action they run needs (``monitor`` never imports lxml).
"""

from __future__ import annotations

__version__ = "0.1.0"


class Record:
    """The base of the library's small values (a parsed parameter entry, a tool's report line),
    here at the package root so every layer shares it without one more import on the monitor
    path. Its repr names every field of ``__slots__``; dataclasses and typing.NamedTuple would
    cost milliseconds of import there."""

    __slots__: tuple[str, ...] = ()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name, None)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"
