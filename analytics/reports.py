"""One customer's report: value, order history, spend over time and favourites."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

import pandas as pd

from analytics import charts
from analytics.errors import CustomerNotFoundError, InvalidArgumentError
from analytics.frames import DatasetFrames
from analytics.kpis import average_order_value, line_revenue

UNKNOWN = "Unknown"
FAVOURITE_PRODUCTS = 5


class MonthlySpend(NamedTuple):
    month: dt.date
    revenue: float


class FavouriteProduct(NamedTuple):
    sku: str | None
    name: str | None
    quantity: float
    revenue: float


class FavouriteCategory(NamedTuple):
    category: str
    revenue: float
    share: float


@dataclass(frozen=True)
class CustomerReportResult:
    customer_id: str
    name: str | None
    email: str | None
    region: str | None
    country: str | None
    signup_date: dt.date | None
    satisfaction_score: float | None
    lifetime_value: float
    order_count: int
    average_order_value: float | None
    first_order_date: dt.date | None
    last_order_date: dt.date | None
    days_since_last_order: int | None
    monthly_spend: tuple[MonthlySpend, ...]
    favourite_products: tuple[FavouriteProduct, ...]
    favourite_categories: tuple[FavouriteCategory, ...]
    figure: charts.Figure
    as_of: dt.date | None = None


def _optional_str(value: Any) -> str | None:
    return None if pd.isna(value) else str(value)


def _optional_date(value: Any) -> dt.date | None:
    return None if pd.isna(value) else pd.Timestamp(value).date()


def build_customer_report(frames: DatasetFrames, customer_id: str) -> CustomerReportResult:
    """Build the report of one customer.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset.
    customer_id : str
        The customer's id in the source data (``external_id``).

    Returns
    -------
    CustomerReportResult
        ``days_since_last_order`` counts from the dataset's default ``asOf``
        (the day after its latest order). ``monthly_spend`` covers every
        calendar month from the first to the last order, empty months as 0.
        ``favourite_products`` are the top 5 products by revenue (ties by
        sku); ``favourite_categories`` are all categories by revenue with
        their share (0..1) of the customer's lifetime value.

    Raises
    ------
    CustomerNotFoundError
        When the dataset has no customer with that id.
    """
    if not isinstance(customer_id, str) or not customer_id:
        raise InvalidArgumentError(f"customer_id: expected a non-empty string, got {customer_id!r}")
    customers = frames.customers
    matches = customers[customers["external_id"].astype("str") == customer_id]
    if matches.empty:
        raise CustomerNotFoundError(frames.dataset_id, customer_id)
    customer = matches.iloc[0]

    lines = frames.lines[frames.lines["customer_id"] == customer["customer_id"]]
    revenue = line_revenue(lines)
    lifetime_value = float(revenue.sum())
    order_count = int(lines["order_id"].nunique())
    first_order = _optional_date(lines["order_date"].min()) if order_count else None
    last_order = _optional_date(lines["order_date"].max()) if order_count else None
    as_of = frames.default_as_of

    monthly_spend = _monthly_spend(lines["order_date"], revenue)
    favourite_products = _favourite_products(frames, lines, revenue)
    favourite_categories = _favourite_categories(lines, revenue, lifetime_value)
    name = _optional_str(customer["name"])
    figure = charts.bar_figure(
        [month.month for month in monthly_spend],
        [month.revenue for month in monthly_spend],
        title=f"Monthly spend of {name or customer_id}",
        x_title="Month",
        y_title="Revenue",
    )
    score = customer["satisfaction_score"]
    return CustomerReportResult(
        customer_id=customer_id,
        name=name,
        email=_optional_str(customer["email"]),
        region=_optional_str(customer["region"]),
        country=_optional_str(customer["country"]),
        signup_date=_optional_date(customer["signup_date"]),
        satisfaction_score=None if pd.isna(score) else float(score),
        lifetime_value=lifetime_value,
        order_count=order_count,
        average_order_value=average_order_value(lifetime_value, order_count),
        first_order_date=first_order,
        last_order_date=last_order,
        days_since_last_order=None if last_order is None else (as_of - last_order).days,
        monthly_spend=monthly_spend,
        favourite_products=favourite_products,
        favourite_categories=favourite_categories,
        figure=figure,
        as_of=as_of,
    )


def _monthly_spend(dates: pd.Series, revenue: pd.Series) -> tuple[MonthlySpend, ...]:
    if dates.empty:
        return ()
    months = dates.dt.to_period("M")
    totals = revenue.groupby(months).sum()
    span = pd.period_range(totals.index.min(), totals.index.max(), freq="M")
    totals = totals.reindex(span, fill_value=0.0)
    return tuple(
        MonthlySpend(period.start_time.date(), float(value))
        for period, value in zip(totals.index, totals, strict=True)
    )


def _favourite_products(
    frames: DatasetFrames, lines: pd.DataFrame, revenue: pd.Series
) -> tuple[FavouriteProduct, ...]:
    bought = pd.DataFrame(
        {
            "product_id": lines["product_id"],
            "quantity": lines["quantity"].fillna(0.0),
            "revenue": revenue,
        }
    )
    bought = bought[bought["product_id"].notna()]
    totals = bought.groupby("product_id").agg(
        quantity=("quantity", "sum"), revenue=("revenue", "sum")
    )
    products = frames.products.set_index("product_id")
    totals["sku"] = products["sku"].reindex(totals.index).to_numpy()
    totals["name"] = products["name"].reindex(totals.index).to_numpy()
    totals["sort_sku"] = totals["sku"].astype("str")
    top = totals.sort_values(["revenue", "sort_sku"], ascending=[False, True], kind="stable").head(
        FAVOURITE_PRODUCTS
    )
    return tuple(
        FavouriteProduct(_optional_str(sku), _optional_str(name), float(quantity), float(value))
        for sku, name, quantity, value in zip(
            top["sku"], top["name"], top["quantity"], top["revenue"], strict=True
        )
    )


def _favourite_categories(
    lines: pd.DataFrame, revenue: pd.Series, lifetime_value: float
) -> tuple[FavouriteCategory, ...]:
    category = lines["category"]
    labels = category.astype("object").where(category.notna(), UNKNOWN).astype("str")
    totals = revenue.groupby(labels).sum()
    ordered = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return tuple(
        FavouriteCategory(
            str(name), float(value), float(value) / lifetime_value if lifetime_value else 0.0
        )
        for name, value in ordered
    )
