"""Model training in a child process, so a timeout can stop it.

scikit-learn and scipy cannot be interrupted from another thread, so a fit
that runs too long is stopped by ending its process. Children are forked
from a forkserver that imported the numeric stack once, which makes starting
one cheap (milliseconds, not the seconds a fresh interpreter needs).

The function runs on a pickled copy of its arguments and returns a pickled
result: it must be a module-level function and must not write anything the
parent relies on. The caller stores what comes back, so a fit that is
stopped leaves nothing behind.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
from collections.abc import Callable
from typing import Any, TypeVar

from analytics.errors import AnalyticsError

T = TypeVar("T")

# The modules whose functions run in children: imported once by the forkserver.
_PRELOAD = ["numpy", "pandas", "scipy.optimize", "sklearn.cluster", "sklearn.ensemble",
            "analytics.churn", "analytics.segmentation"]  # fmt: skip
_context: Any = None


class TrainingTimeoutError(AnalyticsError):
    code = "TIMEOUT"


class TrainingFailedError(RuntimeError):
    """The child process died without a result (killed, out of memory, crashed)."""


def _get_context() -> Any:
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        _context = context
    return _context


def run_with_timeout(function: Callable[..., T], *args: Any, timeout: float) -> T:
    """``function(*args)`` in a child process; stop it after ``timeout`` seconds.

    Raises
    ------
    TrainingTimeoutError
        When the child has not finished in time (it is killed).
    TrainingFailedError
        When the child died without sending a result.
    Exception
        Whatever ``function`` raised, re-raised here.
    """
    context = _get_context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, function, args), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise TrainingTimeoutError(
                f"training took longer than {timeout:g} s and was stopped; "
                "raise SALESCOPE_TRAINING_TIMEOUT or train on fewer customers"
            )
        try:
            succeeded, payload = receiver.recv()
        except EOFError:
            process.join(5)
            raise TrainingFailedError(
                f"training process ended without a result (exit code {process.exitcode})"
            ) from None
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join(5)
    if succeeded:
        return payload
    raise payload


def _child(
    sender: multiprocessing.connection.Connection,
    function: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    try:
        outcome: tuple[bool, Any] = (True, function(*args))
    except BaseException as error:
        outcome = (False, error)
    try:
        sender.send(outcome)
    except Exception as error:
        # An unpicklable result or exception still reaches the caller as a message.
        sender.send((False, TrainingFailedError(f"training result could not be sent: {error!r}")))
    finally:
        sender.close()
