"""Headline KPIs: revenue, orders, AOV, lifetime value, retention, customers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from analytics.errors import InvalidArgumentError
from analytics.frames import DatasetFrames
from analytics.periods import DateRange, window_ending


@dataclass(frozen=True)
class KpisResult:
    """Headline numbers of a dataset for one window (see ``compute_kpis``)."""

    as_of: dt.date
    period: DateRange
    previous_period: DateRange
    total_customers: int
    total_revenue: float
    total_lifetime_value: float
    order_count: int
    average_order_value: float | None
    retention_rate: float | None
    active_customers: int
    average_lifetime_value: float | None
    previous_active_customers: int
    retained_customers: int


def line_revenue(lines: pd.DataFrame) -> pd.Series:
    """Revenue of each order line: its ``amount`` as given (negatives count negative).

    A line without an amount falls back to quantity x unit price, then to 0.
    """
    amount = lines["amount"]
    if amount.isna().any():
        amount = amount.fillna(lines["quantity"] * lines["unit_price"]).fillna(0.0)
    return amount.astype("float64")


def count_orders(
    table: pd.DataFrame, by: list[str], *, keys_follow_order: bool = False
) -> pd.Series:
    """Distinct ``order_id`` per combination of the ``by`` columns of ``table``.

    ``keys_follow_order`` says every line of an order has the same ``by`` values
    (customer, date bucket, sales rep), so an order's first line stands for it.
    """
    # Dropping repeated orders then counting is several times faster than
    # groupby(...).nunique() on a million lines.
    columns = ["order_id"] if keys_follow_order else ["order_id", *by]
    first = ~table.duplicated(columns)
    return table.loc[first].groupby(by).size()


def lines_before(lines: pd.DataFrame, day: dt.date) -> pd.Series:
    """Boolean mask of the lines dated strictly before ``day``."""
    return lines["order_date"] < pd.Timestamp(day)


def average_order_value(revenue: float, orders: int) -> float | None:
    """Revenue per distinct order; ``None`` when there are no orders."""
    return revenue / orders if orders else None


def compute_kpis(
    frames: DatasetFrames,
    period: DateRange | None = None,
    as_of: dt.date | None = None,
) -> KpisResult:
    """Compute the dataset's headline KPIs.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset.
    period : DateRange, optional
        The current window. Revenue, orders and AOV are then computed over it
        alone. Without it the current window is the 365 days ending the day
        before ``as_of``, and revenue and orders cover all data before
        ``as_of``.
    as_of : date, optional
        Analysis date; defaults to the day after the latest order.

    Returns
    -------
    KpisResult
        ``retention_rate`` is the share (%) of the customers who ordered in the
        previous window (the window of equal length just before the current
        one) who ordered again in the current window; ``None`` when nobody
        ordered in the previous window.
    """
    if period is not None and not isinstance(period, DateRange):
        raise InvalidArgumentError(f"period: expected a DateRange, got {type(period).__name__}")
    if as_of is not None and not isinstance(as_of, dt.date):
        raise InvalidArgumentError(f"as_of: expected a date, got {type(as_of).__name__}")
    as_of = frames.default_as_of if as_of is None else as_of
    current = window_ending(as_of) if period is None else period
    previous = current.previous()

    lines = frames.lines
    revenue = line_revenue(lines)
    dates = lines["order_date"]
    in_scope = lines_before(lines, as_of) if period is None else current.mask(dates)
    total_revenue = float(revenue[in_scope].sum())
    order_count = int(lines.loc[in_scope, "order_id"].nunique())
    total_lifetime_value = float(
        revenue[dates < pd.Timestamp(current.end) + pd.Timedelta(days=1)].sum()
    )

    current_buyers = pd.Index(lines.loc[current.mask(dates), "customer_id"].unique())
    previous_buyers = pd.Index(lines.loc[previous.mask(dates), "customer_id"].unique())
    retained = previous_buyers.intersection(current_buyers)
    retention_rate = 100.0 * len(retained) / len(previous_buyers) if len(previous_buyers) else None

    total_customers = _count_customers(frames, None if period is None else current.end)
    return KpisResult(
        as_of=as_of,
        period=current,
        previous_period=previous,
        total_customers=total_customers,
        total_revenue=total_revenue,
        total_lifetime_value=total_lifetime_value,
        order_count=order_count,
        average_order_value=average_order_value(total_revenue, order_count),
        retention_rate=retention_rate,
        active_customers=len(current_buyers),
        average_lifetime_value=(
            total_lifetime_value / total_customers if total_customers else None
        ),
        previous_active_customers=len(previous_buyers),
        retained_customers=len(retained),
    )


def _count_customers(frames: DatasetFrames, end: dt.date | None) -> int:
    """Customers in the dataset, or those who existed by ``end``.

    A customer exists by ``end`` when they signed up or first ordered by then;
    one with neither a signup date nor orders cannot be placed in time and
    always counts.
    """
    customers = frames.customers
    if end is None:
        return len(customers)
    cutoff = pd.Timestamp(end)
    first_order = frames.lines.groupby("customer_id")["order_date"].min()
    first = pd.Series(first_order.reindex(customers["customer_id"]).to_numpy())
    signup = customers["signup_date"].reset_index(drop=True)
    exists = (signup <= cutoff) | (first <= cutoff) | (signup.isna() & first.isna())
    return int(exists.sum())
