"""Per-customer summaries and customer satisfaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from analytics import charts
from analytics.frames import DatasetFrames
from analytics.kpis import count_orders, line_revenue

UNKNOWN = "Unknown"

CUSTOMER_SUMMARY_COLUMNS = [
    "customer_id", "external_id", "name", "email", "region", "country", "signup_date",
    "satisfaction_score", "lifetime_value", "order_count", "first_order_date",
    "last_order_date",
]  # fmt: skip


class SatisfactionBucket(NamedTuple):
    score: str
    count: int  # type: ignore[assignment]  # shadows tuple.count on purpose: the API field


class RegionSatisfaction(NamedTuple):
    region: str
    average: float
    count: int  # type: ignore[assignment]  # shadows tuple.count on purpose: the API field


@dataclass(frozen=True)
class SatisfactionResult:
    average: float | None
    median: float | None
    respondents: int
    distribution: tuple[SatisfactionBucket, ...]
    by_region: tuple[RegionSatisfaction, ...]
    figure: charts.Figure


def summarize_customers(frames: DatasetFrames) -> pd.DataFrame:
    """One row per customer with their lifetime value and order history.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset.

    Returns
    -------
    pandas.DataFrame
        Every customer, in the order of ``frames.customers``, with the columns
        customer_id, external_id, name, email, region, country, signup_date,
        satisfaction_score, lifetime_value (all-time revenue, 0 without
        orders), order_count (distinct orders), first_order_date and
        last_order_date (``NaT`` without orders).
    """
    lines = frames.lines
    per_line = pd.DataFrame(
        {
            "customer_id": lines["customer_id"],
            "revenue": line_revenue(lines),
            "order_date": lines["order_date"],
        }
    )
    history = per_line.groupby("customer_id").agg(
        lifetime_value=("revenue", "sum"),
        first_order_date=("order_date", "min"),
        last_order_date=("order_date", "max"),
    )
    history["order_count"] = count_orders(
        lines[["customer_id", "order_id"]], ["customer_id"], keys_follow_order=True
    )

    customers = frames.customers
    summary = customers[CUSTOMER_SUMMARY_COLUMNS[:8]].copy()
    # reindex rather than Series.map: map cannot look up in an empty datetime Series.
    per_customer = history.reindex(summary["customer_id"])
    summary["lifetime_value"] = per_customer["lifetime_value"].fillna(0.0).to_numpy("float64")
    summary["order_count"] = per_customer["order_count"].fillna(0).to_numpy("int64")
    summary["first_order_date"] = per_customer["first_order_date"].to_numpy()
    summary["last_order_date"] = per_customer["last_order_date"].to_numpy()
    return summary


def _half_up(scores: pd.Series) -> pd.Series:
    # numpy rounds halves to even; a 4.5 satisfaction score reads as a 5.
    return np.floor(scores + 0.5).astype("int64")


def summarize_satisfaction(frames: DatasetFrames) -> SatisfactionResult:
    """Satisfaction scores: average, median, distribution and averages by region.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset.

    Returns
    -------
    SatisfactionResult
        Over the customers with a score (``respondents``). ``distribution``
        counts scores rounded half up to whole numbers, by score ascending;
        ``by_region`` averages per customer region (``"Unknown"`` when
        missing), by region name. Averages are ``None`` without respondents.
    """
    customers = frames.customers
    rated = customers[customers["satisfaction_score"].notna()]
    scores = rated["satisfaction_score"].astype("float64")
    respondents = len(scores)

    counts = _half_up(scores).value_counts().sort_index()
    distribution = tuple(
        SatisfactionBucket(str(score), int(count))
        for score, count in zip(counts.index, counts, strict=True)
    )
    region = rated["region"]
    by_region_frame = (
        pd.DataFrame(
            {
                "region": region.astype("object").where(region.notna(), UNKNOWN).astype("str"),
                "score": scores,
            }
        )
        .groupby("region")["score"]
        .agg(["mean", "count"])
        .sort_index()
    )
    by_region = tuple(
        RegionSatisfaction(str(name), float(mean), int(count))
        for name, mean, count in zip(
            by_region_frame.index, by_region_frame["mean"], by_region_frame["count"], strict=True
        )
    )
    figure = charts.bar_figure(
        [bucket.score for bucket in distribution],
        [bucket.count for bucket in distribution],
        title="Satisfaction scores",
        x_title="Score",
        y_title="Customers",
    )
    return SatisfactionResult(
        average=float(scores.mean()) if respondents else None,
        median=float(scores.median()) if respondents else None,
        respondents=respondents,
        distribution=distribution,
        by_region=by_region,
        figure=figure,
    )
