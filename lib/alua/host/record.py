"""Record: the base of the library's small values (a parsed parameter entry, a tool's report line).

Its repr names every field of ``__slots__``. dataclasses and typing.NamedTuple would cost
milliseconds of import on the monitor path; this costs nothing.
"""

from __future__ import annotations


class Record:
    __slots__: tuple[str, ...] = ()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name, None)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"
