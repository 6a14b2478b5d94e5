from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from anyio import to_thread

P = ParamSpec("P")
T = TypeVar("T")


async def off_loop(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking work (SQL, pandas, scikit-learn) in a worker thread."""
    return await to_thread.run_sync(lambda: function(*args, **kwargs))
