from __future__ import annotations

import datetime as dt

from analytics.churn import (
    DEFAULT_HORIZON_DAYS,
    ChurnResult,
    CustomerChurnRisk,
    check_top,
    churn_risk,
)
from resolvers._utils import off_loop, once_per_request
from resolvers.context import Context


async def resolve_churn_risk(
    context: Context, dataset: str | None, as_of: dt.date | None, horizon_days: int, top: int
) -> tuple[ChurnResult, tuple[CustomerChurnRisk, ...]]:
    """The churn analysis (trained in a child process, cached per version) and its top at risk.

    ``top`` is checked first so a bad argument never waits for a fit.
    """
    check_top(top)
    result = await _churn_result(context, dataset, as_of, horizon_days)
    return result, await off_loop(result.top_at_risk, top)


async def resolve_customer_churn(
    context: Context, dataset: str | None, customer_id: str
) -> CustomerChurnRisk | None:
    """One customer's churn risk at the default asOf and horizon, by source id.

    ``None`` when the customer is not scored: in a dataset of orders, one
    without an order in the last 365 days (already lapsed) or never ordered.
    Shares the cached fit of ``churnRisk`` with default arguments.
    """
    result = await _churn_result(context, dataset, None, DEFAULT_HORIZON_DAYS)
    return await off_loop(result.customer_risk, customer_id)


async def _churn_result(
    context: Context, dataset: str | None, as_of: dt.date | None, horizon_days: int
) -> ChurnResult:
    dataset_id = context.dataset_id(dataset)
    return await once_per_request(
        context,
        ("churn", dataset_id, as_of, horizon_days),
        churn_risk,
        context.store,
        dataset_id,
        as_of,
        horizon_days,
        timeout=context.training_timeout,
    )
