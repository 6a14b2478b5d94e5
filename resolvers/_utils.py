from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from anyio import to_thread

from analytics.frames import DatasetFrames

if TYPE_CHECKING:
    from resolvers.context import Context

P = ParamSpec("P")
T = TypeVar("T")


async def off_loop(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking work (SQL, pandas, scikit-learn) in a worker thread."""
    return await to_thread.run_sync(lambda: function(*args, **kwargs))


async def compute(
    context: Context,
    dataset: str | None,
    key: Hashable,
    analysis: Callable[[DatasetFrames], T],
) -> T:
    """``analysis`` over the dataset's frames, cached per version under ``key``, off the loop."""
    return await off_loop(context.store.compute, context.dataset_id(dataset), key, analysis)
