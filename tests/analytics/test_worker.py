from __future__ import annotations

import os
import time

import pytest

from analytics.errors import InvalidArgumentError
from analytics.worker import TrainingFailedError, TrainingTimeoutError, run_with_timeout


def _square_in_child(value: int) -> tuple[int, int]:
    return value * value, os.getpid()


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _refuse(name: str) -> None:
    raise InvalidArgumentError(f"{name}: expected something else")


def _die() -> None:
    os._exit(3)


def test_result_comes_back_from_another_process() -> None:
    square, pid = run_with_timeout(_square_in_child, 7, timeout=60)

    assert square == 49
    assert pid != os.getpid()


def test_a_slow_fit_is_stopped_at_the_timeout() -> None:
    started = time.monotonic()

    with pytest.raises(TrainingTimeoutError, match=r"longer than 0\.5 s"):
        run_with_timeout(_sleep, 30, timeout=0.5)

    assert time.monotonic() - started < 10


def test_errors_raised_in_the_child_reach_the_caller() -> None:
    with pytest.raises(InvalidArgumentError, match="k: expected something else"):
        run_with_timeout(_refuse, "k", timeout=60)


def test_a_child_that_dies_is_reported() -> None:
    with pytest.raises(TrainingFailedError, match="exit code 3"):
        run_with_timeout(_die, timeout=60)
