from __future__ import annotations

import asyncio
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


async def once_per_request(
    context: Context, key: Hashable, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """``function(*args, **kwargs)`` off the loop, run once per request under ``key``.

    Nested fields (``Customer.rfm`` on a page of 100 customers) all await the
    first call instead of each asking the store (and the database for the
    dataset's version) again.
    """
    memo_key = ("once_per_request", key)
    pending = context.extras.get(memo_key)
    if pending is None:
        pending = asyncio.ensure_future(off_loop(function, *args, **kwargs))
        context.extras[memo_key] = pending
    result: T = await pending
    return result


async def compute(
    context: Context,
    dataset: str | None,
    key: Hashable,
    analysis: Callable[[DatasetFrames], T],
) -> T:
    """``analysis`` over the dataset's frames, cached per version under ``key``, off the loop."""
    dataset_id = context.dataset_id(dataset)
    return await once_per_request(
        context, (dataset_id, key), context.store.compute, dataset_id, key, analysis
    )
