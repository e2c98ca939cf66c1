"""pytest fixtures for the SCST sysfs emulator.

Import the fixture into a test module (``from .fixtures import scst_emulator``)
or a conftest.  ``scst_emulator`` is a factory: each call starts one emulator
in its own state directory under tmp_path; every emulator it started is
stopped at teardown, even when the test failed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, List, Mapping, Optional

import pytest

from .client import ScstEmulator

ScstEmulatorFactory = Callable[..., ScstEmulator]


@pytest.fixture
def scst_emulator(tmp_path: Path) -> Iterator[ScstEmulatorFactory]:
    started: List[ScstEmulator] = []

    def factory(config: Optional[Mapping[str, Any]] = None, name: Optional[str] = None,
                **kwargs: Any) -> ScstEmulator:
        state_dir = tmp_path / (name or f"scst{len(started)}")
        emulator = ScstEmulator(state_dir, config or {}, **kwargs)
        started.append(emulator)
        return emulator.start()

    yield factory
    for emulator in reversed(started):
        emulator.stop()
