from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_robot import Server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real ``salescope serve`` process on its own data dir and port."""
    running = Server(tmp_path)
    running.start()
    yield running
    running.stop()
