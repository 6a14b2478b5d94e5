"""Revenue over time, top customers, category and sales-rep performance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

from analytics import charts
from analytics.customers import summarize_customers
from analytics.errors import InvalidArgumentError
from analytics.frames import DatasetFrames
from analytics.kpis import average_order_value, count_orders, line_revenue
from analytics.periods import DateRange

UNKNOWN = "Unknown"
MAX_LIMIT = 1000


class Granularity(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    QUARTER = "QUARTER"
    YEAR = "YEAR"


class RevenueGroupBy(StrEnum):
    CATEGORY = "CATEGORY"
    REGION = "REGION"
    SALES_REP = "SALES_REP"


# Period frequencies whose start_time is the bucket start (W-SUN weeks start Monday).
_PERIOD_FREQ = {
    Granularity.DAY: "D",
    Granularity.WEEK: "W-SUN",
    Granularity.MONTH: "M",
    Granularity.QUARTER: "Q-DEC",
    Granularity.YEAR: "Y-DEC",
}


@dataclass(frozen=True)
class RevenuePoint:
    period_start: dt.date
    revenue: float
    orders: int
    group: str | None = None


@dataclass(frozen=True)
class RevenueSeriesResult:
    granularity: Granularity
    group_by: RevenueGroupBy | None
    points: tuple[RevenuePoint, ...]
    total_revenue: float
    figure: charts.Figure


@dataclass(frozen=True)
class CustomerValue:
    customer_id: str
    name: str | None
    lifetime_value: float
    order_count: int


@dataclass(frozen=True)
class TopCustomersResult:
    items: tuple[CustomerValue, ...]
    figure: charts.Figure


@dataclass(frozen=True)
class CategoryPerformance:
    category: str
    revenue: float
    orders: int
    quantity: float
    customers: int
    revenue_share: float
    average_order_value: float | None


@dataclass(frozen=True)
class CategoryPerformanceResult:
    items: tuple[CategoryPerformance, ...]
    total_revenue: float
    figure: charts.Figure


@dataclass(frozen=True)
class SalesRepPerformance:
    sales_rep_id: int
    name: str | None
    region: str | None
    orders_closed: int
    revenue: float
    customers: int
    average_order_value: float | None


@dataclass(frozen=True)
class SalesRepPerformanceResult:
    items: tuple[SalesRepPerformance, ...]
    figure: charts.Figure


def bucket_starts(dates: pd.Series, granularity: Granularity) -> pd.Series:
    """The first day of the bucket each ``datetime64`` value falls in.

    Weeks start on Monday; months, quarters and years on their calendar start.
    """
    return dates.dt.to_period(_PERIOD_FREQ[granularity]).dt.start_time


def _lines_in(frames: DatasetFrames, period: DateRange | None) -> pd.DataFrame:
    lines = frames.lines
    if period is None:
        return lines
    if not isinstance(period, DateRange):
        raise InvalidArgumentError(f"period: expected a DateRange, got {type(period).__name__}")
    return lines[period.mask(lines["order_date"])]


def _group_labels(
    frames: DatasetFrames, lines: pd.DataFrame, group_by: RevenueGroupBy
) -> pd.Series:
    if group_by is RevenueGroupBy.CATEGORY:
        labels = lines["category"]
    elif group_by is RevenueGroupBy.REGION:
        labels = lines["region"]
    else:
        names = frames.sales_reps.set_index("sales_rep_id")["name"]
        labels = lines["sales_rep_id"].map(names)
    return labels.astype("object").where(labels.notna(), UNKNOWN).astype("str")


def _date(value: Any) -> dt.date:
    return pd.Timestamp(value).date()


def compute_revenue_series(
    frames: DatasetFrames,
    granularity: Granularity = Granularity.MONTH,
    period: DateRange | None = None,
    group_by: RevenueGroupBy | None = None,
) -> RevenueSeriesResult:
    """Revenue and distinct orders per time bucket, optionally split by a dimension.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset.
    granularity : Granularity, default MONTH
        Bucket size. Weeks start on Monday; months, quarters and years on
        their calendar start.
    period : DateRange, optional
        Only lines dated inside it. An ungrouped series then spans the whole
        period; otherwise it spans the first to the last bucket with data.
    group_by : RevenueGroupBy, optional
        Split each bucket by category, the customer's region or sales rep
        (missing values are ``"Unknown"``). Grouped series list only the
        (bucket, group) pairs that have lines.

    Returns
    -------
    RevenueSeriesResult
        Points sorted by bucket start (then group). Ungrouped series include
        empty buckets as 0.
    """
    try:
        granularity = Granularity(granularity)
    except ValueError:
        raise InvalidArgumentError(f"granularity: unknown value {granularity!r}") from None
    if group_by is not None:
        try:
            group_by = RevenueGroupBy(group_by)
        except ValueError:
            raise InvalidArgumentError(f"group_by: unknown value {group_by!r}") from None
    lines = _lines_in(frames, period)
    table = pd.DataFrame(
        {
            "start": bucket_starts(lines["order_date"], granularity),
            "revenue": line_revenue(lines),
            "order_id": lines["order_id"],
        }
    )
    if group_by is None:
        grouped = table.groupby("start").agg(revenue=("revenue", "sum"))
        grouped["orders"] = count_orders(table, ["start"], keys_follow_order=True)
        grouped.index = pd.DatetimeIndex(grouped.index).as_unit("us")
        grouped = grouped.reindex(_span(grouped.index, period, granularity), fill_value=0)
        points = tuple(
            RevenuePoint(_date(start), float(revenue), int(orders))
            for start, revenue, orders in zip(
                grouped.index, grouped["revenue"], grouped["orders"], strict=True
            )
        )
        figure = charts.line_figure(
            [p.period_start for p in points],
            {"Revenue": [p.revenue for p in points]},
            title=f"Revenue by {granularity.value.lower()}",
            x_title="Period",
            y_title="Revenue",
        )
    else:
        table["group"] = _group_labels(frames, lines, group_by)
        grouped = table.groupby(["start", "group"]).agg(revenue=("revenue", "sum"))
        grouped["orders"] = count_orders(table, ["start", "group"])
        grouped = grouped.reset_index().sort_values(["start", "group"])
        points = tuple(
            RevenuePoint(_date(start), float(revenue), int(orders), str(group))
            for start, group, revenue, orders in zip(
                grouped["start"],
                grouped["group"],
                grouped["revenue"],
                grouped["orders"],
                strict=True,
            )
        )
        series: dict[str, list[float]] = {}
        xs: dict[str, list[dt.date]] = {}
        for point in points:
            label = point.group or UNKNOWN
            series.setdefault(label, []).append(point.revenue)
            xs.setdefault(label, []).append(point.period_start)
        figure = charts.line_figure(
            [],
            dict(sorted(series.items())),
            xs=xs,
            title=f"Revenue by {granularity.value.lower()} and {group_by.value.lower()}",
            x_title="Period",
            y_title="Revenue",
        )
    return RevenueSeriesResult(
        granularity=granularity,
        group_by=group_by,
        points=points,
        total_revenue=float(table["revenue"].sum()),
        figure=figure,
    )


def _span(starts: pd.Index, period: DateRange | None, granularity: Granularity) -> pd.Index:
    freq = _PERIOD_FREQ[granularity]
    if period is not None:
        first, last = pd.Timestamp(period.start), pd.Timestamp(period.end)
    elif len(starts):
        first, last = starts.min(), starts.max()
    else:
        return pd.DatetimeIndex([], name="start")
    buckets = pd.period_range(first.to_period(freq), last.to_period(freq), freq=freq)
    return pd.DatetimeIndex(buckets.start_time.as_unit("us"), name="start")


def rank_top_customers(frames: DatasetFrames, limit: int = 10) -> TopCustomersResult:
    """The customers with the highest lifetime value.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset.
    limit : int, default 10
        How many customers to return, 1 to 1000.

    Returns
    -------
    TopCustomersResult
        Customers with at least one order, by lifetime value descending; ties
        are broken by external id ascending.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgumentError(
            f"limit: expected an integer from 1 to {MAX_LIMIT}, got {limit!r}"
        )
    summary = summarize_customers(frames)
    top = summary[summary["order_count"] > 0].sort_values(
        ["lifetime_value", "external_id"], ascending=[False, True], kind="stable"
    )
    top = top.head(limit)
    items = tuple(
        CustomerValue(
            customer_id=str(external_id),
            name=None if pd.isna(name) else str(name),
            lifetime_value=float(value),
            order_count=int(orders),
        )
        for external_id, name, value, orders in zip(
            top["external_id"], top["name"], top["lifetime_value"], top["order_count"], strict=True
        )
    )
    figure = charts.bar_figure(
        [item.name or item.customer_id for item in items],
        [item.lifetime_value for item in items],
        title=f"Top {len(items)} customers by lifetime value",
        x_title="Customer",
        y_title="Lifetime value",
        horizontal=True,
    )
    return TopCustomersResult(items=items, figure=figure)


def summarize_categories(
    frames: DatasetFrames, period: DateRange | None = None
) -> CategoryPerformanceResult:
    """Revenue, orders, quantity and customers per product category.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset.
    period : DateRange, optional
        Only lines dated inside it.

    Returns
    -------
    CategoryPerformanceResult
        Categories by revenue descending (ties by name); lines without a
        category are ``"Unknown"``. ``revenue_share`` is the category's share
        (0..1) of the total revenue, 0 when the total is 0.
    """
    lines = _lines_in(frames, period)
    category = lines["category"]
    table = pd.DataFrame(
        {
            "category": category.astype("object").where(category.notna(), UNKNOWN).astype("str"),
            "revenue": line_revenue(lines),
            "order_id": lines["order_id"],
            "quantity": lines["quantity"].fillna(0.0),
            "customer_id": lines["customer_id"],
        }
    )
    grouped = table.groupby("category").agg(
        revenue=("revenue", "sum"),
        quantity=("quantity", "sum"),
        customers=("customer_id", "nunique"),
    )
    grouped["orders"] = count_orders(table, ["category"])
    grouped = grouped.reset_index().sort_values(
        ["revenue", "category"], ascending=[False, True], kind="stable"
    )
    total = float(table["revenue"].sum())
    items = tuple(
        CategoryPerformance(
            category=str(row["category"]),
            revenue=float(row["revenue"]),
            orders=int(row["orders"]),
            quantity=float(row["quantity"]),
            customers=int(row["customers"]),
            revenue_share=float(row["revenue"]) / total if total else 0.0,
            average_order_value=average_order_value(float(row["revenue"]), int(row["orders"])),
        )
        for row in grouped.to_dict("records")
    )
    figure = charts.bar_figure(
        [item.category for item in items],
        [item.revenue for item in items],
        title="Revenue by category",
        x_title="Category",
        y_title="Revenue",
    )
    return CategoryPerformanceResult(items=items, total_revenue=total, figure=figure)


def summarize_sales_reps(
    frames: DatasetFrames, period: DateRange | None = None
) -> SalesRepPerformanceResult:
    """Orders closed, revenue and customers per sales rep.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset.
    period : DateRange, optional
        Only lines dated inside it.

    Returns
    -------
    SalesRepPerformanceResult
        Every sales rep (those without sales with zeros), by revenue
        descending then id. Lines without a sales rep are left out.
    """
    lines = _lines_in(frames, period)
    lines = lines[lines["sales_rep_id"].notna()]
    table = pd.DataFrame(
        {
            "sales_rep_id": lines["sales_rep_id"].astype("int64"),
            "revenue": line_revenue(lines),
            "order_id": lines["order_id"],
            "customer_id": lines["customer_id"],
        }
    )
    grouped = table.groupby("sales_rep_id").agg(
        revenue=("revenue", "sum"), customers=("customer_id", "nunique")
    )
    grouped["orders_closed"] = count_orders(table, ["sales_rep_id"], keys_follow_order=True)
    grouped = grouped.reset_index()
    reps = frames.sales_reps[["sales_rep_id", "name", "region"]].copy()
    reps["sales_rep_id"] = reps["sales_rep_id"].astype("int64")
    merged = (
        reps.merge(grouped, on="sales_rep_id", how="outer")
        .fillna({"revenue": 0.0, "orders_closed": 0, "customers": 0})
        .sort_values(["revenue", "sales_rep_id"], ascending=[False, True], kind="stable")
    )
    items = tuple(
        SalesRepPerformance(
            sales_rep_id=int(row["sales_rep_id"]),
            name=None if pd.isna(row["name"]) else str(row["name"]),
            region=None if pd.isna(row["region"]) else str(row["region"]),
            orders_closed=int(row["orders_closed"]),
            revenue=float(row["revenue"]),
            customers=int(row["customers"]),
            average_order_value=average_order_value(
                float(row["revenue"]), int(row["orders_closed"])
            ),
        )
        for row in merged.to_dict("records")
    )
    figure = charts.bar_figure(
        [item.name or f"Rep {item.sales_rep_id}" for item in items],
        [item.revenue for item in items],
        title="Revenue by sales rep",
        x_title="Sales rep",
        y_title="Revenue",
    )
    return SalesRepPerformanceResult(items=items, figure=figure)
