"""The askAI tool catalogue: each tool wraps salescope analytics, read only.

A tool's result is what a language model sees and what an answer may quote:
compact (a handful of rows, never a table), JSON-safe (no NaN, no numpy
types), money rounded to 2 decimals and percentages (``*_pct``) to 1. Every
analysis goes through ``ToolScope.compute`` under the key GraphQL uses for
the same arguments, so a question and a dashboard share one computation.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

import pandas as pd

from analytics import charts
from analytics.ask.toolbox import Tool, ToolError, ToolOutput, ToolScope
from analytics.churn import HIGH_RISK_FROM, LOW_RISK_BELOW, churn_risk
from analytics.clv import predict_lifetime_value
from analytics.customers import summarize_customers, summarize_satisfaction
from analytics.forecast import forecast_revenue
from analytics.kpis import KpisResult, compute_kpis
from analytics.periods import DateRange
from analytics.reports import build_customer_report
from analytics.rfm import SEGMENTS, score_rfm
from analytics.sales import (
    Granularity,
    RevenueGroupBy,
    compute_revenue_series,
    rank_top_customers,
    rank_top_products,
    summarize_categories,
    summarize_sales_reps,
)

# Churn training runs in a child process stopped after this many seconds. A
# question is interactive: the demo trains in a few seconds and 100,000
# customers in well under a minute on two cores, so two minutes only stops a
# fit that is stuck; the result is cached and shared with GraphQL's churnRisk.
CHURN_TIMEOUT_SECONDS = 120.0
# GraphQL's lifetimeValue default, so both share one fit.
CLV_DISCOUNT_RATE = 0.01
# A series shows its latest points only; totals, highest and lowest cover all.
MAX_SERIES_POINTS = 24
TOP_FACTORS = 3

# A period as tools take it: inclusive ISO dates, both or neither.
_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
PERIOD_PROPERTIES: dict[str, Any] = {
    "start": {"type": "string", "pattern": _ISO_DATE, "description": "First day, YYYY-MM-DD."},
    "end": {"type": "string", "pattern": _ISO_DATE, "description": "Last day, YYYY-MM-DD."},
}
_BOTH_OR_NEITHER = {"start": ["end"], "end": ["start"]}
_NAME = {"type": "string", "minLength": 1, "maxLength": 200}

KPI_METRICS = {
    "revenue": "total_revenue",
    "orders": "order_count",
    "average_order_value": "average_order_value",
    "active_customers": "active_customers",
    "retention_rate": "retention_rate",
}
_MONEY_METRICS = {"revenue", "average_order_value"}


def _object(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False, **extra}


def _limit_schema(maximum: int, default: int, what: str) -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": maximum,
        "description": f"How many {what} to list (default {default}).",
    }


def period_argument(
    arguments: dict[str, Any], start_key: str = "start", end_key: str = "end"
) -> DateRange | None:
    """The inclusive period named by ``start``/``end``, or ``None`` for the default window."""
    start, end = arguments.get(start_key), arguments.get(end_key)
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise ToolError(f"period: give both {start_key} and {end_key}, or neither")
    try:
        return DateRange(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    except ValueError as error:
        raise ToolError(f"period: {error}") from None


def _finite(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def money(value: Any) -> float | None:
    """A money amount rounded to cents, ``None`` when unknown."""
    number = _finite(value)
    return None if number is None else round(number, 2)


def percent(share: Any) -> float | None:
    """A 0..1 share as a percentage with one decimal."""
    number = _finite(share)
    return None if number is None else round(100.0 * number, 1)


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _period_data(period: DateRange) -> dict[str, str]:
    return {"start": period.start.isoformat(), "end": period.end.isoformat()}


def _optional_period(period: DateRange | None) -> dict[str, str] | None:
    return None if period is None else _period_data(period)


def _match_name(value: str, known: Iterable[str], what: str) -> str:
    """``value`` as spelled in the data (case-insensitive), or a ToolError listing the values."""
    names = sorted({name for name in known if name})
    for name in names:
        if name.casefold() == value.strip().casefold():
            return name
    listed = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    raise ToolError(f"{what}: unknown {what} {value!r}; the dataset has {listed}")


# --- KPIs -----------------------------------------------------------------


def _kpis_result(scope: ToolScope, period: DateRange | None) -> KpisResult:
    return scope.compute(("kpis", period), partial(compute_kpis, period=period))


def _kpis(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    period = period_argument(arguments)
    result = _kpis_result(scope, period)
    return ToolOutput(
        {
            "as_of": result.as_of.isoformat(),
            "period": _optional_period(period),
            "revenue_covers": "the period" if period else "all orders before as_of",
            "activity_window": _period_data(result.period),
            "total_revenue": money(result.total_revenue),
            "order_count": result.order_count,
            "average_order_value": money(result.average_order_value),
            "active_customers": result.active_customers,
            "retention_rate": None
            if result.retention_rate is None
            else round(result.retention_rate, 1),
            "previous_window": _period_data(result.previous_period),
            "total_customers": result.total_customers,
            "total_lifetime_value": money(result.total_lifetime_value),
        }
    )


def _metric_value(result: KpisResult, metric: str) -> float | int | None:
    value = getattr(result, KPI_METRICS[metric])
    if metric in _MONEY_METRICS:
        return money(value)
    if metric == "retention_rate":
        return _round(value, 1)
    return int(value)


def _compare_kpis(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    metric = arguments["metric"]
    current = period_argument(arguments)
    if current is None:
        raise ToolError("compare_kpis: start and end are required")
    baseline = period_argument(arguments, "compare_start", "compare_end") or current.previous()
    now = _metric_value(_kpis_result(scope, current), metric)
    before = _metric_value(_kpis_result(scope, baseline), metric)
    difference: float | int | None = None
    change = None
    if now is not None and before is not None:
        difference = now - before
        if isinstance(difference, float):
            difference = round(difference, 1 if metric == "retention_rate" else 2)
        change = round(100.0 * (now - before) / abs(before), 1) if before else None
    labels = [f"{p.start.isoformat()} to {p.end.isoformat()}" for p in (baseline, current)]
    title = metric.replace("_", " ").capitalize()
    return ToolOutput(
        {
            "metric": metric,
            "current": {**_period_data(current), "value": now},
            "baseline": {**_period_data(baseline), "value": before},
            "difference": difference,
            "percent_change": change,
        },
        figure=charts.bar_figure(
            labels,
            [before or 0.0, now or 0.0],
            title=f"{title}: {labels[1]} vs {labels[0]}",
            x_title="Period",
            y_title=title,
        ),
    )


# --- Revenue over time, customers, products, categories, reps, regions -------


def _point(start: dt.date, revenue: float, orders: int) -> dict[str, Any]:
    return {"period_start": start.isoformat(), "revenue": money(revenue), "orders": orders}


def _revenue_series(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    granularity = Granularity(arguments.get("granularity", Granularity.MONTH))
    period = period_argument(arguments)
    result = scope.compute(
        ("revenue_series", granularity, period, None),
        partial(compute_revenue_series, granularity=granularity, period=period),
    )
    points = result.points
    data: dict[str, Any] = {
        "granularity": granularity.value,
        "period": _optional_period(period),
        "total_revenue": money(result.total_revenue),
        "total_orders": sum(p.orders for p in points),
        "buckets": len(points),
        "highest": None,
        "lowest": None,
        "points": [
            _point(p.period_start, p.revenue, p.orders) for p in points[-MAX_SERIES_POINTS:]
        ],
        "points_omitted": max(0, len(points) - MAX_SERIES_POINTS),
    }
    if points:
        highest = max(points, key=lambda p: (p.revenue, -p.period_start.toordinal()))
        lowest = min(points, key=lambda p: (p.revenue, p.period_start.toordinal()))
        data["highest"] = _point(highest.period_start, highest.revenue, highest.orders)
        data["lowest"] = _point(lowest.period_start, lowest.revenue, lowest.orders)
    return ToolOutput(data, figure=result.figure)


def _top_customers(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    limit = int(arguments.get("limit", 5))
    metric = arguments.get("metric", "lifetime_value")
    if metric == "lifetime_value":
        result = scope.compute(("top_customers", limit), partial(rank_top_customers, limit=limit))
        rows = [
            (item.customer_id, item.name, item.lifetime_value, item.order_count)
            for item in result.items
        ]
        figure = result.figure
    else:
        summary = scope.compute(("customer_summary",), summarize_customers)
        ranked = summary[summary["order_count"] > 0].sort_values(
            ["order_count", "lifetime_value", "external_id"],
            ascending=[False, False, True],
            kind="stable",
        )
        rows = [
            (str(external_id), _text(name), float(value), int(orders))
            for external_id, name, value, orders in zip(
                ranked["external_id"].head(limit),
                ranked["name"].head(limit),
                ranked["lifetime_value"].head(limit),
                ranked["order_count"].head(limit),
                strict=True,
            )
        ]
        figure = charts.bar_figure(
            [name or customer_id for customer_id, name, _, _ in rows],
            [orders for *_, orders in rows],
            title=f"Top {len(rows)} customers by orders",
            x_title="Customer",
            y_title="Orders",
            horizontal=True,
        )
    return ToolOutput(
        {
            "metric": metric,
            "count": len(rows),
            "customers": [
                {
                    "customer_id": customer_id,
                    "name": name,
                    "lifetime_value": money(value),
                    "order_count": orders,
                }
                for customer_id, name, value, orders in rows
            ],
        },
        figure=figure,
    )


def _customer_report(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    customer_id = arguments["customer_id"]
    report = scope.compute(
        ("report", customer_id), lambda frames: build_customer_report(frames, customer_id)
    )
    return ToolOutput(
        {
            "customer_id": report.customer_id,
            "name": report.name,
            "region": report.region,
            "country": report.country,
            "signup_date": _iso(report.signup_date),
            "satisfaction_score": _finite(report.satisfaction_score),
            "lifetime_value": money(report.lifetime_value),
            "order_count": report.order_count,
            "average_order_value": money(report.average_order_value),
            "first_order_date": _iso(report.first_order_date),
            "last_order_date": _iso(report.last_order_date),
            "days_since_last_order": report.days_since_last_order,
            "as_of": _iso(report.as_of),
            "favourite_categories": [
                {
                    "category": item.category,
                    "revenue": money(item.revenue),
                    "share_pct": percent(item.share),
                }
                for item in report.favourite_categories[:3]
            ],
            "favourite_products": [
                {
                    "sku": item.sku,
                    "name": item.name,
                    "quantity": _finite(item.quantity),
                    "revenue": money(item.revenue),
                }
                for item in report.favourite_products[:3]
            ],
        },
        figure=report.figure,
    )


def _category_row(item: Any, rank: int) -> dict[str, Any]:
    return {
        "rank": rank,
        "category": item.category,
        "revenue": money(item.revenue),
        "orders": item.orders,
        "customers": item.customers,
        "quantity": _finite(item.quantity),
        "revenue_share_pct": percent(item.revenue_share),
        "average_order_value": money(item.average_order_value),
    }


def _category_performance(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    period = period_argument(arguments)
    limit = int(arguments.get("limit", 5))
    result = scope.compute(("categories", period), partial(summarize_categories, period=period))
    items = result.items
    data: dict[str, Any] = {
        "period": _optional_period(period),
        "total_revenue": money(result.total_revenue),
        "category_count": len(items),
        "categories": [_category_row(item, rank) for rank, item in enumerate(items[:limit], 1)],
        "lowest": _category_row(items[-1], len(items)) if items else None,
        "selected": None,
    }
    if "category" in arguments:
        name = _match_name(arguments["category"], (i.category for i in items), "category")
        rank = next(rank for rank, item in enumerate(items, 1) if item.category == name)
        data["selected"] = _category_row(items[rank - 1], rank)
    return ToolOutput(data, figure=result.figure)


def _rep_row(item: Any, rank: int) -> dict[str, Any]:
    return {
        "rank": rank,
        "sales_rep_id": item.sales_rep_id,
        "name": item.name,
        "region": item.region,
        "revenue": money(item.revenue),
        "orders_closed": item.orders_closed,
        "customers": item.customers,
        "average_order_value": money(item.average_order_value),
    }


def _sales_rep_performance(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    period = period_argument(arguments)
    metric = arguments.get("metric", "revenue")
    limit = int(arguments.get("limit", 5))
    result = scope.compute(("sales_reps", period), partial(summarize_sales_reps, period=period))
    items = list(result.items)
    region = None
    if "region" in arguments:
        region = _match_name(arguments["region"], (i.region or "" for i in items), "region")
        items = [item for item in items if item.region == region]
    ranked = sorted(items, key=lambda i: (-getattr(i, metric), -i.revenue, i.sales_rep_id))
    shown = ranked[:limit]
    if metric == "revenue" and region is None:
        figure = result.figure
    else:
        figure = charts.bar_figure(
            [item.name or f"Rep {item.sales_rep_id}" for item in ranked],
            [getattr(item, metric) for item in ranked],
            title=f"{metric.replace('_', ' ').capitalize()} by sales rep"
            + (f" in {region}" if region else ""),
            x_title="Sales rep",
            y_title=metric.replace("_", " ").capitalize(),
        )
    return ToolOutput(
        {
            "period": _optional_period(period),
            "metric": metric,
            "region": region,
            "rep_count": len(ranked),
            "reps": [_rep_row(item, rank) for rank, item in enumerate(shown, 1)],
            "lowest": _rep_row(ranked[-1], len(ranked)) if ranked else None,
        },
        figure=figure,
    )


def _region_performance(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    period = period_argument(arguments)
    # Yearly buckets split by the customer's region: an order falls in one
    # bucket and one region, so the buckets add up to each region's total.
    result = scope.compute(
        ("revenue_series", Granularity.YEAR, period, RevenueGroupBy.REGION),
        partial(
            compute_revenue_series,
            granularity=Granularity.YEAR,
            period=period,
            group_by=RevenueGroupBy.REGION,
        ),
    )
    totals: dict[str, list[float]] = {}
    for point in result.points:
        revenue_orders = totals.setdefault(point.group or "Unknown", [0.0, 0])
        revenue_orders[0] += point.revenue
        revenue_orders[1] += point.orders
    total = result.total_revenue
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    rows: list[dict[str, Any]] = [
        {
            "rank": rank,
            "region": name,
            "revenue": money(revenue),
            "orders": int(orders),
            "revenue_share_pct": percent(revenue / total) if total else 0.0,
        }
        for rank, (name, (revenue, orders)) in enumerate(ranked, 1)
    ]
    selected = None
    if "region" in arguments:
        name = _match_name(arguments["region"], totals, "region")
        selected = next(row for row in rows if row["region"] == name)
    return ToolOutput(
        {
            "period": _optional_period(period),
            "total_revenue": money(total),
            "region_count": len(rows),
            "regions": rows[:10],
            "selected": selected,
        },
        figure=charts.bar_figure(
            [row["region"] for row in rows],
            [row["revenue"] or 0.0 for row in rows],
            title="Revenue by region",
            x_title="Region",
            y_title="Revenue",
        ),
    )


def _top_products(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    period = period_argument(arguments)
    limit = int(arguments.get("limit", 5))
    result = scope.compute(
        ("top_products", limit, period), partial(rank_top_products, limit=limit, period=period)
    )
    return ToolOutput(
        {
            "period": _optional_period(period),
            "total_revenue": money(result.total_revenue),
            "count": len(result.items),
            "products": [
                {
                    "rank": rank,
                    "sku": item.sku,
                    "name": item.name,
                    "category": item.category,
                    "revenue": money(item.revenue),
                    "quantity": _finite(item.quantity),
                    "orders": item.orders,
                    "revenue_share_pct": percent(item.revenue_share),
                }
                for rank, item in enumerate(result.items, 1)
            ],
        },
        figure=result.figure,
    )


# --- Customers: RFM, churn, lifetime value, satisfaction ----------------------


def _rfm_segments(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    result = scope.compute(("rfm", None), partial(score_rfm, as_of=None))
    rows = [
        {
            "segment": s.segment,
            "customers": s.customers,
            "revenue": money(s.revenue),
            "revenue_share_pct": percent(s.revenue_share),
            "average_recency_days": None
            if s.average_recency is None
            else round(s.average_recency, 1),
            "average_frequency": None
            if s.average_frequency is None
            else round(s.average_frequency, 2),
            "average_monetary": money(s.average_monetary),
        }
        for s in result.segments
    ]
    selected = None
    if "segment" in arguments:
        selected = next(row for row in rows if row["segment"] == arguments["segment"])
    return ToolOutput(
        {
            "as_of": result.as_of.isoformat(),
            "scored_customers": result.customer_count,
            "segments": sorted(rows, key=lambda row: -row["customers"]),
            "selected": selected,
        },
        figure=result.segment_figure,
    )


def _churn_summary(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    limit = int(arguments.get("limit", 5))
    result = churn_risk(scope.store, scope.dataset_id, timeout=CHURN_TIMEOUT_SECONDS)
    return ToolOutput(
        {
            "as_of": result.as_of.isoformat(),
            "mode": result.mode.value,
            "cutoff": _iso(result.cutoff),
            "horizon_days": result.horizon_days,
            "current_churn_rate_pct": round(result.current_churn_rate, 1),
            "total_churners": result.total_churners,
            "observed_customers": result.observed_customers,
            "scored_customers": result.scored_customers,
            "average_churn_probability_pct": percent(result.average_churn_probability),
            "high_risk_from_pct": percent(HIGH_RISK_FROM),
            "low_risk_below_pct": percent(LOW_RISK_BELOW),
            "risk_levels": [
                {
                    "level": bucket.level.value,
                    "customers": bucket.customers,
                    "share_pct": percent(bucket.share),
                }
                for bucket in result.risk_distribution
            ],
            "top_at_risk": [
                {
                    "customer_id": risk.customer_id,
                    "name": risk.name,
                    "churn_probability_pct": percent(risk.probability),
                    "risk_level": risk.risk_level.value,
                }
                for risk in result.top_at_risk(limit)
            ],
            "top_factors": [
                {"factor": factor.label, "direction": factor.direction.value}
                for factor in result.factors[:TOP_FACTORS]
            ],
            "model": {"algorithm": result.model.algorithm, "auc": _round(result.model.auc, 3)},
        },
        figure=result.distribution_figure,
    )


def _round(value: Any, digits: int) -> float | None:
    number = _finite(value)
    return None if number is None else round(number, digits)


def _sales_forecast(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    horizon = int(arguments.get("horizon", 3))
    granularity = Granularity(arguments.get("granularity", Granularity.MONTH))
    result = scope.compute(
        ("sales_forecast", horizon, granularity),
        partial(forecast_revenue, horizon=horizon, granularity=granularity),
    )
    last = result.history[-1] if result.history else None
    backtest = result.backtest
    return ToolOutput(
        {
            "granularity": granularity.value,
            "horizon": horizon,
            "method": result.method,
            "interval_level_pct": percent(result.interval_level),
            "total_forecast": money(sum(p.revenue for p in result.points)),
            "points": [
                {
                    "period_start": p.period_start.isoformat(),
                    "revenue": money(p.revenue),
                    "lower": money(p.lower),
                    "upper": money(p.upper),
                }
                for p in result.points
            ],
            "last_actual": None
            if last is None
            else {"period_start": last.period_start.isoformat(), "revenue": money(last.revenue)},
            "backtest": None
            if backtest is None
            else {
                "periods": backtest.periods,
                "mape_pct": _round(backtest.mape, 1),
                "beats_seasonal_naive": backtest.beats_baseline,
            },
        },
        figure=result.figure,
    )


def _lifetime_value(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    horizon = int(arguments.get("horizon_months", 12))
    result = scope.compute(
        ("lifetime_value", horizon, CLV_DISCOUNT_RATE, None),
        partial(predict_lifetime_value, horizon_months=horizon, discount_rate=CLV_DISCOUNT_RATE),
    )
    params = result.bgnbd
    count = result.customer_count
    top = result.customers.head(5)
    return ToolOutput(
        {
            "as_of": result.as_of.isoformat(),
            "horizon_months": horizon,
            "monthly_discount_rate_pct": percent(result.discount_rate),
            "customers_modelled": count,
            "total_predicted_value": money(result.total_predicted_value),
            "average_predicted_value": money(result.total_predicted_value / count)
            if count
            else None,
            "average_p_alive_pct": percent(result.average_p_alive),
            "bgnbd": {name: _round(getattr(params, name), 4) for name in ("r", "alpha", "a", "b")},
            "top_customers": [
                {
                    "customer_id": str(row["external_id"]),
                    "name": _text(row["name"]),
                    "predicted_value": money(row["predicted_value"]),
                    "p_alive_pct": percent(row["p_alive"]),
                    "expected_purchases": _round(row["expected_purchases"], 2),
                }
                for row in top.to_dict("records")
            ],
        },
        figure=result.figure,
    )


def _customer_satisfaction(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    result = scope.compute(("satisfaction",), summarize_satisfaction)
    return ToolOutput(
        {
            "respondents": result.respondents,
            "average": _round(result.average, 2),
            "median": _round(result.median, 2),
            "distribution": [
                {"score": bucket.score, "customers": bucket.count} for bucket in result.distribution
            ],
            "by_region": [
                {"region": row.region, "average": _round(row.average, 2), "customers": row.count}
                for row in result.by_region[:10]
            ],
        },
        figure=result.figure,
    )


# --- The catalogue ----------------------------------------------------------


def _tool(
    name: str,
    description: str,
    parameters: dict[str, Any],
    run: Any,
    examples: Sequence[str],
) -> Tool:
    return Tool(name, description, parameters, run, tuple(examples))


KPIS = _tool(
    "get_kpis",
    "Headline numbers for a period: revenue, orders, average order value, active customers "
    "and retention rate (%), plus total customers and total lifetime value. Without a period, "
    "revenue and orders cover all orders to date and activity/retention the 365 days before "
    "the dataset's asOf.",
    _object(PERIOD_PROPERTIES, dependentRequired=_BOTH_OR_NEITHER),
    _kpis,
    (
        "What was revenue in March?",
        "What were total sales last month?",
        "How much revenue did we make this year?",
        "How many orders did we get last quarter?",
        "What's our average order value this year?",
        "What is the retention rate?",
        "How many active customers did we have in 2024?",
        "How many customers do we have?",
        "What is our total revenue?",
        "Show me the KPIs for last year",
        "What was turnover in Q3 2024?",
        "How many deals did we close in the last 30 days?",
        "What is the AOV?",
        "Give me the headline numbers",
        "How much did we sell in December?",
    ),
)

COMPARE_KPIS = _tool(
    "compare_kpis",
    "Compare one KPI between two periods (e.g. this year vs last year): both values, the "
    "difference and the percent change. Without compare_start/compare_end the baseline is "
    "the period of equal length just before start..end.",
    _object(
        {
            "metric": {"type": "string", "enum": list(KPI_METRICS)},
            **PERIOD_PROPERTIES,
            "compare_start": {
                "type": "string",
                "pattern": _ISO_DATE,
                "description": "First day of the baseline period, YYYY-MM-DD.",
            },
            "compare_end": {
                "type": "string",
                "pattern": _ISO_DATE,
                "description": "Last day of the baseline period, YYYY-MM-DD.",
            },
        },
        required=["metric", "start", "end"],
        dependentRequired={"compare_start": ["compare_end"], "compare_end": ["compare_start"]},
    ),
    _compare_kpis,
    (
        "What's our AOV this year vs last year?",
        "Compare revenue this year with last year",
        "How did revenue change compared to last year?",
        "Revenue growth year over year",
        "How do orders this quarter compare to last quarter?",
        "Is revenue up or down versus last month?",
        "Compare active customers in 2024 and 2023",
        "How much did sales grow from 2023 to 2024?",
        "Did our retention rate improve compared with last year?",
        "Revenue this month vs the same month last year",
        "Percent change in orders versus the previous quarter",
        "Are sales growing?",
    ),
)

REVENUE_SERIES = _tool(
    "revenue_series",
    "Revenue and orders per day, week, month, quarter or year over a period (default all "
    "data): the total, the highest and lowest bucket and the latest buckets, with a chart.",
    _object(
        {"granularity": {"type": "string", "enum": [g.value for g in Granularity]}}
        | PERIOD_PROPERTIES,
        dependentRequired=_BOTH_OR_NEITHER,
    ),
    _revenue_series,
    (
        "Show revenue by month",
        "Monthly revenue trend",
        "What is the weekly sales trend this year?",
        "Revenue per quarter",
        "Plot revenue over time",
        "Which month had the highest revenue?",
        "What was our best month for sales last year?",
        "What was the worst quarter?",
        "Show me daily revenue for last month",
        "Yearly revenue breakdown",
        "How has revenue trended over the last 12 months?",
        "Chart of sales by week",
        "Which week had the lowest sales?",
        "Revenue over time by quarter",
    ),
)

TOP_CUSTOMERS = _tool(
    "top_customers",
    "The customers with the highest lifetime value (revenue to date) or the most orders.",
    _object(
        {
            "limit": _limit_schema(50, 5, "customers"),
            "metric": {"type": "string", "enum": ["lifetime_value", "orders"]},
        }
    ),
    _top_customers,
    (
        "Who are our top 5 customers?",
        "Which customers spent the most?",
        "Who are the best customers?",
        "List our biggest clients",
        "Top 10 customers by lifetime value",
        "Which customers have placed the most orders?",
        "Who is our most valuable customer?",
        "Show the highest spending buyers",
        "Who buys from us most often?",
        "Our largest accounts by revenue",
        "Rank customers by how much they have spent",
        "Customers ranked by total revenue",
    ),
)

CUSTOMER_REPORT = _tool(
    "customer_report",
    "One customer's report by their id in the source data: lifetime value, orders, average "
    "order value, first and last order, days since the last order, favourite categories and "
    "products. Fails with NOT_FOUND for an id the dataset does not have.",
    _object(
        {
            "customer_id": {
                **_NAME,
                "description": "The customer's id in the source data, e.g. C000042.",
            }
        },
        required=["customer_id"],
    ),
    _customer_report,
    (
        "Tell me about customer C000042",
        "Show the report for customer C000007",
        "What is the lifetime value of customer C000123?",
        "How many orders has customer C000009 placed?",
        "When did customer C000015 last order?",
        "Customer profile for C000321",
        "What does customer C000077 usually buy?",
        "Give me a summary of client C000100",
        "How much has C000042 spent with us?",
    ),
)

CATEGORY_PERFORMANCE = _tool(
    "category_performance",
    "Revenue, orders, customers and revenue share per product category over a period "
    "(default all data), best first; name a category to get its row and rank.",
    _object(
        {
            **PERIOD_PROPERTIES,
            "limit": _limit_schema(20, 5, "categories"),
            "category": {**_NAME, "description": "A category name as in the data."},
        },
        dependentRequired=_BOTH_OR_NEITHER,
    ),
    _category_performance,
    (
        "Which product category sells best?",
        "Revenue by category",
        "What are our top categories this year?",
        "How did Electronics do last quarter?",
        "Category performance last year",
        "Which category had the lowest sales?",
        "What share of revenue comes from Books?",
        "Best performing product categories",
        "How much did we sell in the Clothing category?",
        "Break down sales by category",
        "Which department is our strongest?",
        "Rank the product lines by revenue",
    ),
)

SALES_REP_PERFORMANCE = _tool(
    "sales_rep_performance",
    "Sales reps ranked by revenue or by orders closed over a period (default all data), "
    "optionally only those of one region; includes the lowest ranked rep.",
    _object(
        {
            **PERIOD_PROPERTIES,
            "metric": {"type": "string", "enum": ["revenue", "orders_closed"]},
            "limit": _limit_schema(20, 5, "sales reps"),
            "region": {**_NAME, "description": "Only reps of this region (as in the data)."},
        },
        dependentRequired=_BOTH_OR_NEITHER,
    ),
    _sales_rep_performance,
    (
        "Which sales rep closed the most deals?",
        "Who is our best salesperson?",
        "Top sales reps by revenue",
        "Which rep sold the most last quarter?",
        "Rank the sales team by revenue",
        "Sales rep performance this year",
        "Who closed the fewest deals?",
        "Which salespeople brought in the most revenue in 2024?",
        "How are the reps in the North region doing?",
        "Leaderboard of sales representatives",
        "Which account manager has the most orders?",
        "Who sells the most?",
    ),
)

REGION_PERFORMANCE = _tool(
    "region_performance",
    "Revenue, orders and revenue share per customer region over a period (default all "
    "data), best first; name a region to get its row and rank.",
    _object(
        {
            **PERIOD_PROPERTIES,
            "region": {**_NAME, "description": "A region name as in the data."},
        },
        dependentRequired=_BOTH_OR_NEITHER,
    ),
    _region_performance,
    (
        "Revenue by region",
        "Which region generates the most revenue?",
        "How much did we sell in the North region?",
        "Sales per region last year",
        "What was revenue in the West region this year?",
        "Which territory is the weakest?",
        "Compare regions by sales",
        "Regional breakdown of revenue",
        "Where do our sales come from geographically?",
        "Which region is our biggest market?",
        "Top regions by revenue",
        "How is the South region performing?",
        "Which region sells the most?",
    ),
)

TOP_PRODUCTS = _tool(
    "top_products",
    "The products with the highest revenue over a period (default all data).",
    _object(
        {**PERIOD_PROPERTIES, "limit": _limit_schema(50, 5, "products")},
        dependentRequired=_BOTH_OR_NEITHER,
    ),
    _top_products,
    (
        "What are our best selling products?",
        "Top 10 products by revenue",
        "Which product sold the most last month?",
        "Best sellers this year",
        "Which items bring in the most revenue?",
        "Most popular products",
        "Top SKUs last quarter",
        "What product made the most money in 2024?",
    ),
)

RFM_SEGMENTS = _tool(
    "rfm_segments",
    "RFM segmentation of the customers (recency, frequency, monetary quintiles): customers, "
    "revenue and revenue share per segment (Champions, Loyal, At Risk, Hibernating...).",
    _object({"segment": {"type": "string", "enum": list(SEGMENTS)}}),
    _rfm_segments,
    (
        "Show the RFM segments",
        "How many customers are champions?",
        "Customer segmentation by RFM",
        "How many customers are hibernating?",
        "Which RFM segment brings the most revenue?",
        "How many loyal customers do we have?",
        "How many customers are in the at risk segment?",
        "Break customers down into segments",
        "What share of revenue comes from champions?",
        "How many new customers are in the RFM analysis?",
    ),
)

CHURN_SUMMARY = _tool(
    "churn_summary",
    "Churn risk of the customers active in the last year: the observed churn rate (no order "
    "within 90 days), the average churn probability, customers per risk level and the "
    "customers most likely to churn, from a model trained on the dataset.",
    _object({"limit": _limit_schema(10, 5, "customers most at risk")}),
    _churn_summary,
    (
        "How many customers are at risk of churning?",
        "What is our churn rate?",
        "Which customers are likely to churn?",
        "Who is about to leave us?",
        "What's the customer attrition rate?",
        "Show churn risk",
        "How many customers have high churn risk?",
        "Which clients might stop buying?",
        "What is the average churn probability?",
        "Churn prediction summary",
        "What drives churn?",
        "What share of customers are likely to churn?",
    ),
)

SALES_FORECAST = _tool(
    "sales_forecast",
    "Revenue forecast for the next periods (weeks, months or quarters) with 95% intervals.",
    _object(
        {
            "horizon": {
                "type": "integer",
                "minimum": 1,
                "maximum": 12,
                "description": "Periods to forecast (default 3).",
            },
            "granularity": {"type": "string", "enum": ["WEEK", "MONTH", "QUARTER"]},
        }
    ),
    _sales_forecast,
    (
        "Forecast revenue for the next 3 months",
        "What will sales be next month?",
        "Predict revenue for next quarter",
        "Sales forecast",
        "How much revenue do we expect over the next 6 months?",
        "Project sales for the next 8 weeks",
        "What is the revenue outlook?",
        "Expected revenue next quarter",
        "Forecast next year's revenue by quarter",
        "Will sales grow next month?",
    ),
)

LIFETIME_VALUE = _tool(
    "lifetime_value",
    "Predicted customer lifetime value over the next months (BG/NBD + Gamma-Gamma): total "
    "and average predicted value, average probability of being active and the top customers.",
    _object(
        {
            "horizon_months": {
                "type": "integer",
                "minimum": 1,
                "maximum": 60,
                "description": "Months to predict (default 12).",
            }
        }
    ),
    _lifetime_value,
    (
        "What is the predicted customer lifetime value?",
        "Predicted CLV over the next 12 months",
        "Which customers will be worth the most next year?",
        "What is the expected future value of our customers?",
        "LTV prediction for 24 months",
        "How much will customers spend over the next year?",
        "How many of our customers are still alive?",
        "Customer lifetime value forecast",
        "Predict the value of each customer",
        "What will our customers be worth over the next 3 years?",
        "What are customers worth to us going forward?",
        "Probability that customers are still active",
    ),
)

CUSTOMER_SATISFACTION = _tool(
    "customer_satisfaction",
    "Customer satisfaction scores: average, median, respondents, distribution and the "
    "average per region.",
    _object({}),
    _customer_satisfaction,
    (
        "How satisfied are our customers?",
        "What is the average satisfaction score?",
        "Customer satisfaction by region",
        "How happy are our clients?",
        "Show the satisfaction distribution",
        "What is the median customer rating?",
        "Which region has the most satisfied customers?",
        "Are customers happy with our service?",
        "How do customers rate us?",
    ),
)

CATALOGUE: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        KPIS,
        COMPARE_KPIS,
        REVENUE_SERIES,
        TOP_CUSTOMERS,
        CUSTOMER_REPORT,
        CATEGORY_PERFORMANCE,
        SALES_REP_PERFORMANCE,
        REGION_PERFORMANCE,
        TOP_PRODUCTS,
        RFM_SEGMENTS,
        CHURN_SUMMARY,
        SALES_FORECAST,
        LIFETIME_VALUE,
        CUSTOMER_SATISFACTION,
    )
}
