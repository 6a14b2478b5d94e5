"""RFM: recency, frequency and monetary value per customer, scored 1..5 by quintile."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics import charts
from analytics.frames import DatasetFrames
from analytics.kpis import count_orders, line_revenue, lines_before

# The R/F grid of DESIGN.md: (recency scores, frequency scores) -> segment.
SEGMENT_GRID: tuple[tuple[str, frozenset[int], frozenset[int]], ...] = (
    ("Champions", frozenset({5}), frozenset({4, 5})),
    ("Loyal", frozenset({3, 4}), frozenset({4, 5})),
    ("Potential Loyalists", frozenset({4, 5}), frozenset({2, 3})),
    ("New Customers", frozenset({5}), frozenset({1})),
    ("Promising", frozenset({4}), frozenset({1})),
    ("Need Attention", frozenset({3}), frozenset({3})),
    ("About to Sleep", frozenset({3}), frozenset({1, 2})),
    ("At Risk", frozenset({1, 2}), frozenset({3, 4})),
    ("Can't Lose Them", frozenset({1, 2}), frozenset({5})),
    ("Hibernating", frozenset({1, 2}), frozenset({1, 2})),
)
SEGMENTS: tuple[str, ...] = tuple(name for name, _, _ in SEGMENT_GRID)

# The 3D scatter shows at most this many customers (a fixed sample) so a
# 100,000-customer dataset still gives a figure a browser can draw.
FIGURE_POINTS = 3000


def segment_name(recency_score: int, frequency_score: int) -> str:
    """The named segment of an R/F score pair (both 1..5)."""
    for name, recency, frequency in SEGMENT_GRID:
        if recency_score in recency and frequency_score in frequency:
            return name
    raise ValueError(f"scores must be 1..5, got R={recency_score} F={frequency_score}")


_SEGMENT_LOOKUP = np.array(
    [[segment_name(r, f) if r and f else "" for f in range(6)] for r in range(6)], dtype=object
)


def compute_rfm_values(frames: DatasetFrames, as_of: dt.date) -> pd.DataFrame:
    """Raw recency, frequency and monetary value of every customer who ordered before ``as_of``.

    Returns a frame indexed by ``customer_id`` (in the order of
    :func:`customer_id_order`) with ``recency`` (days from the last order to
    ``as_of``), ``frequency`` (distinct orders), ``monetary`` (revenue),
    ``first_order_date`` and ``last_order_date``.
    """
    lines = frames.lines.loc[lines_before(frames.lines, as_of)]
    lines = lines.assign(revenue=line_revenue(lines))
    grouped = lines.groupby("customer_id")
    values = pd.DataFrame(
        {
            "first_order_date": grouped["order_date"].min(),
            "last_order_date": grouped["order_date"].max(),
            "frequency": count_orders(lines, ["customer_id"], keys_follow_order=True),
            "monetary": grouped["revenue"].sum(),
        }
    )
    values["recency"] = (pd.Timestamp(as_of) - values["last_order_date"]).dt.days
    values["frequency"] = values["frequency"].astype("int64")
    order = customer_id_order(frames.customers)
    values = values.reindex(order[order.isin(values.index)])
    return values[["recency", "frequency", "monetary", "first_order_date", "last_order_date"]]


def customer_id_order(customers: pd.DataFrame) -> pd.Index:
    """Customer ids sorted by their id in the source data.

    Source ids compare as numbers when every one is an integer ("2" before
    "10"), else as text. This is the order that breaks ties between equal values.
    """
    external = customers["external_id"].astype("str")
    numeric = pd.to_numeric(external, errors="coerce")
    if numeric.notna().all():
        keys: pd.Series = numeric
    else:
        keys = external
    order = np.argsort(keys.to_numpy(), kind="stable")
    return pd.Index(customers["customer_id"].to_numpy()[order], name="customer_id")


def quintile_scores(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    """Scores 1..5 by quintile of ``values``; 5 is best.

    Ties are broken by position in ``values`` (callers pass customers in id
    order), so every quintile holds a fifth of the customers. A customer's
    score is ``ceil(5 * rank / n)`` with rank 1 the worst value.
    """
    count = len(values)
    if count == 0:
        return pd.Series([], index=values.index, dtype="int64")
    ordered = values if higher_is_better else -values
    ranks = ordered.rank(method="first").to_numpy()
    scores = np.ceil(ranks * 5 / count).astype("int64")
    return pd.Series(scores, index=values.index, name=values.name)


@dataclass(frozen=True)
class RfmSegmentSummary:
    segment: str
    customers: int
    revenue: float
    revenue_share: float | None
    average_recency: float | None
    average_frequency: float | None
    average_monetary: float | None


@dataclass(frozen=True)
class RfmResult:
    """RFM scores of a dataset's customers at ``as_of``.

    ``customers`` is indexed by ``customer_id`` (source-id order) with
    external_id, name, recency, frequency, monetary, r_score, f_score,
    m_score, rfm_score (e.g. "545") and segment. Customers who never ordered
    before ``as_of`` are not scored.
    """

    as_of: dt.date
    customers: pd.DataFrame
    segments: tuple[RfmSegmentSummary, ...]

    @property
    def customer_count(self) -> int:
        return len(self.customers)

    @cached_property
    def figure(self) -> charts.Figure:
        """3D scatter of the R, F and M scores coloured by segment (sampled when large)."""
        shown = self.customers
        if len(shown) > FIGURE_POINTS:
            shown = shown.sample(FIGURE_POINTS, random_state=0).sort_index()
        jitter = np.random.default_rng(0).uniform(-0.25, 0.25, size=(len(shown), 3))
        traces = []
        for segment in SEGMENTS:
            members = (shown["segment"] == segment).to_numpy()
            if not members.any():
                continue
            part = shown.loc[members]
            traces.append(
                go.Scatter3d(
                    x=part["r_score"] + jitter[members, 0],
                    y=part["f_score"] + jitter[members, 1],
                    z=part["m_score"] + jitter[members, 2],
                    mode="markers",
                    marker={"size": 3},
                    name=segment,
                    text=part["external_id"],
                    hovertemplate="%{text}<extra>" + segment + "</extra>",
                )
            )
        title = "RFM scores by segment"
        if len(shown) < len(self.customers):
            title += f" ({len(shown):,} of {len(self.customers):,} customers)"
        figure = go.Figure(traces)
        figure.update_layout(
            title=title,
            template="plotly_white",
            scene={
                "xaxis": {"title": {"text": "Recency score"}},
                "yaxis": {"title": {"text": "Frequency score"}},
                "zaxis": {"title": {"text": "Monetary score"}},
            },
        )
        return charts.figure_to_dict(figure)

    @cached_property
    def segment_figure(self) -> charts.Figure:
        """Bar chart of customers per segment, with each segment's revenue on hover."""
        present = [s for s in self.segments if s.customers]
        return charts.bar_figure(
            [s.segment for s in present],
            [s.customers for s in present],
            title="Customers per RFM segment",
            x_title="Segment",
            y_title="Customers",
        )


def score_rfm(frames: DatasetFrames, as_of: dt.date | None = None) -> RfmResult:
    """Score every customer who ordered before ``as_of`` on recency, frequency and monetary value.

    Definitions (DESIGN.md): recency is the number of days from the last
    order to ``as_of``; frequency the number of distinct orders; monetary the
    revenue. Each becomes a score 1..5 by quintile over the scored customers
    (5 best: most recent, most frequent, highest revenue), ties broken by
    source customer id order, and the R/F pair names the segment.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset.
    as_of : date, optional
        Only orders before this day count; default the day after the latest order.
    """
    as_of = as_of or frames.default_as_of
    values = compute_rfm_values(frames, as_of)
    scores = pd.DataFrame(
        {
            "r_score": quintile_scores(values["recency"], higher_is_better=False),
            "f_score": quintile_scores(values["frequency"]),
            "m_score": quintile_scores(values["monetary"]),
        }
    )
    names = frames.customers.set_index("customer_id")[["external_id", "name"]]
    customers = names.reindex(values.index).join(values[["recency", "frequency", "monetary"]])
    customers = customers.join(scores)
    customers["rfm_score"] = (
        customers["r_score"].astype("str")
        + customers["f_score"].astype("str")
        + customers["m_score"].astype("str")
    )
    customers["segment"] = _SEGMENT_LOOKUP[
        customers["r_score"].to_numpy(), customers["f_score"].to_numpy()
    ]
    return RfmResult(as_of=as_of, customers=customers, segments=_summarize(customers))


def _summarize(customers: pd.DataFrame) -> tuple[RfmSegmentSummary, ...]:
    grouped = customers.groupby("segment").agg(
        customers=("monetary", "size"),
        revenue=("monetary", "sum"),
        average_recency=("recency", "mean"),
        average_frequency=("frequency", "mean"),
        average_monetary=("monetary", "mean"),
    )
    total = float(customers["monetary"].sum())
    summaries = []
    for segment in SEGMENTS:
        if segment not in grouped.index:
            summaries.append(RfmSegmentSummary(segment, 0, 0.0, None, None, None, None))
            continue
        row = grouped.loc[segment]
        revenue = float(row["revenue"])
        summaries.append(
            RfmSegmentSummary(
                segment=segment,
                customers=int(row["customers"]),
                revenue=revenue,
                revenue_share=revenue / total if total else None,
                average_recency=float(row["average_recency"]),
                average_frequency=float(row["average_frequency"]),
                average_monetary=float(row["average_monetary"]),
            )
        )
    return tuple(summaries)
