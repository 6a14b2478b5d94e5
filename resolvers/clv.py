from __future__ import annotations

import datetime as dt
from functools import partial

from analytics.clv import ClvResult, ClvSortField, CustomerClv, predict_lifetime_value
from resolvers._utils import compute, off_loop
from resolvers.context import Context


async def resolve_lifetime_value(
    context: Context,
    dataset: str | None,
    horizon_months: int,
    discount_rate: float,
    as_of: dt.date | None = None,
) -> ClvResult:
    return await compute(
        context,
        dataset,
        ("lifetime_value", horizon_months, discount_rate, as_of),
        partial(
            predict_lifetime_value,
            horizon_months=horizon_months,
            discount_rate=discount_rate,
            as_of=as_of,
        ),
    )


async def resolve_clv_customers(
    result: ClvResult, first: int, offset: int, sort: ClvSortField, descending: bool
) -> tuple[CustomerClv, ...]:
    """A page of a cached result, off the loop: any but the default order sorts every customer."""
    return await off_loop(result.page, first, offset, sort, descending)
