"""Filter, sort and page the customer directory."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

import pandas as pd

from analytics.errors import InvalidArgumentError

MAX_PAGE_SIZE = 500


class CustomerSortField(enum.StrEnum):
    ID = "external_id"
    NAME = "name"
    LIFETIME_VALUE = "lifetime_value"
    ORDER_COUNT = "order_count"
    LAST_ORDER_DATE = "last_order_date"
    SIGNUP_DATE = "signup_date"
    SATISFACTION = "satisfaction_score"


@dataclass(frozen=True)
class CustomerFilterSpec:
    """Conditions a customer must all meet; ``None`` means no condition."""

    search: str | None = None
    region: str | None = None
    country: str | None = None
    min_lifetime_value: float | None = None
    max_lifetime_value: float | None = None
    min_orders: int | None = None
    signed_up_after: dt.date | None = None
    signed_up_before: dt.date | None = None


@dataclass(frozen=True)
class CustomerPage:
    rows: pd.DataFrame
    total_count: int
    offset: int

    @property
    def has_next_page(self) -> bool:
        return self.offset + len(self.rows) < self.total_count


def list_customers(
    summary: pd.DataFrame,
    filter_spec: CustomerFilterSpec | None = None,
    sort_field: CustomerSortField = CustomerSortField.ID,
    descending: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> CustomerPage:
    """Return one page of the customer summary (see ``summarize_customers``).

    Rows are sorted by ``sort_field`` with the external id as tie-breaker, so
    pages are stable; missing values sort last in both directions.

    Raises
    ------
    InvalidArgumentError
        When ``limit`` is outside ``1..MAX_PAGE_SIZE`` or ``offset`` is negative.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidArgumentError(f"first: expected 1..{MAX_PAGE_SIZE}, got {limit}")
    if offset < 0:
        raise InvalidArgumentError(
            f"after: expected a cursor from this listing, got offset {offset}"
        )
    selected = summary[_mask(summary, filter_spec)] if filter_spec else summary
    ordered = selected.sort_values(
        [sort_field.value, "external_id"],
        ascending=[not descending, True],
        na_position="last",
        kind="stable",
    )
    return CustomerPage(
        rows=ordered.iloc[offset : offset + limit], total_count=len(ordered), offset=offset
    )


def _mask(summary: pd.DataFrame, spec: CustomerFilterSpec) -> pd.Series:
    mask = pd.Series(True, index=summary.index)
    if spec.search:
        needle = spec.search.strip().lower()
        text = (
            summary["external_id"].astype("str").str.lower()
            + "\n"
            + summary["name"].fillna("").astype("str").str.lower()
            + "\n"
            + summary["email"].fillna("").astype("str").str.lower()
        )
        mask &= text.str.contains(needle, regex=False)
    if spec.region is not None:
        mask &= summary["region"].str.lower() == spec.region.lower()
    if spec.country is not None:
        mask &= summary["country"].str.lower() == spec.country.lower()
    if spec.min_lifetime_value is not None:
        mask &= summary["lifetime_value"] >= spec.min_lifetime_value
    if spec.max_lifetime_value is not None:
        mask &= summary["lifetime_value"] <= spec.max_lifetime_value
    if spec.min_orders is not None:
        mask &= summary["order_count"] >= spec.min_orders
    if spec.signed_up_after is not None:
        mask &= summary["signup_date"] >= pd.Timestamp(spec.signed_up_after)
    if spec.signed_up_before is not None:
        mask &= summary["signup_date"] <= pd.Timestamp(spec.signed_up_before)
    return mask.fillna(False).astype(bool)
