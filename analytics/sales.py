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
# An ungrouped series has a point per bucket of its period, data or not.
MAX_SERIES_POINTS = 10_000
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
)  # fmt: skip
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


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
        period, at most ``MAX_SERIES_POINTS`` buckets; otherwise it spans the
        first to the last bucket with data.
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
    if period is not None:
        count = (last.to_period(freq) - first.to_period(freq)).n + 1
        if count > MAX_SERIES_POINTS:
            raise InvalidArgumentError(
                f"period: {count} {granularity.value.lower()}s exceed the {MAX_SERIES_POINTS} "
                "points a series may have; shorten the period or coarsen the granularity"
            )
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


@dataclass(frozen=True)
class ProductSales:
    sku: str | None
    name: str | None
    category: str | None
    revenue: float
    quantity: float
    orders: int
    revenue_share: float


@dataclass(frozen=True)
class TopProductsResult:
    items: tuple[ProductSales, ...]
    total_revenue: float
    figure: charts.Figure


def rank_top_products(
    frames: DatasetFrames, limit: int = 10, period: DateRange | None = None
) -> TopProductsResult:
    """The products with the highest revenue.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset.
    limit : int, default 10
        How many products to return, 1 to 1000.
    period : DateRange, optional
        Only lines dated inside it.

    Returns
    -------
    TopProductsResult
        Products with at least one line, by revenue descending; ties by sku.
        ``orders`` counts distinct orders, ``revenue_share`` is the product's
        share (0..1) of all the lines' revenue (0 when that is 0). Lines
        without a product count in the total only.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgumentError(
            f"limit: expected an integer from 1 to {MAX_LIMIT}, got {limit!r}"
        )
    lines = _lines_in(frames, period)
    revenue = line_revenue(lines)
    total = float(revenue.sum())
    known = lines["product_id"].notna()
    table = pd.DataFrame(
        {
            "product_id": lines.loc[known, "product_id"].astype("int64"),
            "revenue": revenue[known],
            "quantity": lines.loc[known, "quantity"].fillna(0.0),
            "order_id": lines.loc[known, "order_id"],
        }
    )
    grouped = table.groupby("product_id").agg(
        revenue=("revenue", "sum"), quantity=("quantity", "sum")
    )
    grouped["orders"] = count_orders(table, ["product_id"])
    products = frames.products[["product_id", "sku", "name", "category"]].copy()
    products["product_id"] = products["product_id"].astype("int64")
    ranked = (
        grouped.reset_index()
        .merge(products, on="product_id", how="left")
        .sort_values(["revenue", "sku"], ascending=[False, True], na_position="last", kind="stable")
        .head(limit)
    )
    items = tuple(
        ProductSales(
            sku=_text_or_none(row["sku"]),
            name=_text_or_none(row["name"]),
            category=_text_or_none(row["category"]),
            revenue=float(row["revenue"]),
            quantity=float(row["quantity"]),
            orders=int(row["orders"]),
            revenue_share=float(row["revenue"]) / total if total else 0.0,
        )
        for row in ranked.to_dict("records")
    )
    figure = charts.bar_figure(
        [_product_label(item) for item in items],
        [item.revenue for item in items],
        title=f"Top {len(items)} products by revenue",
        x_title="Product",
        y_title="Revenue",
        horizontal=True,
    )
    return TopProductsResult(items=items, total_revenue=total, figure=figure)


def _text_or_none(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _product_label(item: ProductSales) -> str:
    """Names repeat across products, so the sku keeps each bar apart."""
    if item.name and item.sku:
        return f"{item.name} ({item.sku})"
    return item.name or item.sku or UNKNOWN


@dataclass(frozen=True)
class MonthOfYearRevenue:
    """Revenue of one calendar month (1 = January) summed over every year."""

    month: int
    name: str
    revenue: float
    periods: int
    average: float | None
    index: float | None


@dataclass(frozen=True)
class WeekdayRevenue:
    """Revenue of one weekday (``day`` 1 = Monday .. 7 = Sunday) summed over every week."""

    weekday: str
    day: int
    revenue: float
    periods: int
    average: float | None
    index: float | None


@dataclass(frozen=True)
class SeasonalityResult:
    first_day: dt.date | None
    last_day: dt.date | None
    by_month: tuple[MonthOfYearRevenue, ...]
    by_weekday: tuple[WeekdayRevenue, ...]
    month_figure: charts.Figure
    weekday_figure: charts.Figure


def profile_seasonality(
    frames: DatasetFrames, period: DateRange | None = None
) -> SeasonalityResult:
    """Revenue by month of year and by weekday, with a seasonal index for each.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset.
    period : DateRange, optional
        Only lines dated inside it; the span is then the period itself.

    Returns
    -------
    SeasonalityResult
        All 12 months and all 7 weekdays, in calendar order, zeros included.
        The span runs from the first to the last order day (or is
        ``period``); ``periods`` counts how many times the month or weekday
        occurs in it (a partly covered month counts once), ``average`` is
        revenue / periods (``None`` when 0), and ``index`` is the average
        divided by the mean of the averages, so 1.2 means 20% above a
        typical month or weekday (``None`` when there is nothing to compare).
    """
    lines = _lines_in(frames, period)
    daily = line_revenue(lines).groupby(lines["order_date"].to_numpy()).sum()
    days = pd.DatetimeIndex(daily.index)
    if period is not None:
        first, last = pd.Timestamp(period.start), pd.Timestamp(period.end)
    elif len(days):
        first, last = days.min(), days.max()
    else:
        first = last = None
    if first is None or last is None:
        month_counts = pd.Series(0, index=range(1, 13))
        weekday_counts = pd.Series(0, index=range(7))
    else:
        months = pd.period_range(first.to_period("M"), last.to_period("M"), freq="M").month
        month_counts = pd.Series(months).value_counts().reindex(range(1, 13), fill_value=0)
        weekdays = pd.date_range(first, last, freq="D").day_of_week
        weekday_counts = pd.Series(weekdays).value_counts().reindex(range(7), fill_value=0)
    month_revenue = daily.groupby(days.month).sum().reindex(range(1, 13), fill_value=0.0)
    weekday_revenue = daily.groupby(days.day_of_week).sum().reindex(range(7), fill_value=0.0)

    month_rows = _seasonal_rows(month_revenue, month_counts)
    by_month = tuple(
        MonthOfYearRevenue(month, MONTH_NAMES[month - 1], *row)
        for month, row in zip(range(1, 13), month_rows, strict=True)
    )
    weekday_rows = _seasonal_rows(weekday_revenue, weekday_counts)
    by_weekday = tuple(
        WeekdayRevenue(WEEKDAY_NAMES[day], day + 1, *row)
        for day, row in zip(range(7), weekday_rows, strict=True)
    )
    return SeasonalityResult(
        first_day=None if first is None else first.date(),
        last_day=None if last is None else last.date(),
        by_month=by_month,
        by_weekday=by_weekday,
        month_figure=charts.bar_figure(
            [m.name for m in by_month],
            [m.average or 0.0 for m in by_month],
            title="Average revenue by month of year",
            x_title="Month",
            y_title="Revenue per month",
        ),
        weekday_figure=charts.bar_figure(
            [d.weekday for d in by_weekday],
            [d.average or 0.0 for d in by_weekday],
            title="Average revenue by weekday",
            x_title="Weekday",
            y_title="Revenue per day",
        ),
    )


def _seasonal_rows(
    revenue: pd.Series, counts: pd.Series
) -> list[tuple[float, int, float | None, float | None]]:
    averages = [
        float(total) / int(count) if count else None
        for total, count in zip(revenue, counts, strict=True)
    ]
    known = [average for average in averages if average is not None]
    mean = sum(known) / len(known) if known else 0.0
    return [
        (
            float(total),
            int(count),
            average,
            average / mean if average is not None and mean else None,
        )
        for total, count, average in zip(revenue, counts, averages, strict=True)
    ]
