"""pytest fixture for the LIO configfs emulator (the counterpart of fixtures.scst_emulator).

``lio_emulator`` is a factory: each call starts one emulator in its own
state directory under tmp_path; every emulator it started is stopped at
teardown, even when the test failed.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Callable

import pytest

from .lio_client import LioEmulator

LioEmulatorFactory = Callable[..., LioEmulator]


@pytest.fixture
def lio_emulator(tmp_path: Path) -> Iterator[LioEmulatorFactory]:
    started: list[LioEmulator] = []

    def factory(config: Mapping[str, Any] | None = None, name: str | None = None,
                **kwargs: Any) -> LioEmulator:
        emulator = LioEmulator(tmp_path / (name or f"lio{len(started)}"), config or {}, **kwargs)
        started.append(emulator)
        return emulator.start()

    yield factory
    for emulator in reversed(started):
        emulator.stop()
