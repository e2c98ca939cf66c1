"""The moment an action must be done by: Pacemaker's op timeout less headroom.

Part of the contract, not of the host: the dispatcher starts it with the
action's alarm, and everything that waits (a command, a poll) asks it how
long is left.
"""

from __future__ import annotations

import time

class Deadline:
    """The moment the current action must be done by."""

    __slots__ = ("_end",)

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(self._end - time.monotonic(), 0.0)

    def expired(self) -> bool:
        return self.remaining() <= 0.0
