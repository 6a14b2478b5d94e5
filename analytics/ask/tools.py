"""The askAI tool catalogue: each tool wraps one analytics function, read only."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from analytics.ask.toolbox import Tool, ToolError, ToolOutput, ToolScope
from analytics.kpis import compute_kpis
from analytics.periods import DateRange
from analytics.sales import rank_top_customers

# A period as tools take it: inclusive ISO dates, both or neither.
_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
PERIOD_PROPERTIES: dict[str, Any] = {
    "start": {"type": "string", "pattern": _ISO_DATE, "description": "First day, YYYY-MM-DD."},
    "end": {"type": "string", "pattern": _ISO_DATE, "description": "Last day, YYYY-MM-DD."},
}


def period_argument(arguments: dict[str, Any]) -> DateRange | None:
    """The inclusive period named by ``start``/``end``, or ``None`` for the default window."""
    start, end = arguments.get("start"), arguments.get("end")
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise ToolError("period: give both start and end, or neither")
    try:
        return DateRange(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    except ValueError as error:
        raise ToolError(f"period: {error}") from None


def _kpis(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    period = period_argument(arguments)
    result = scope.compute(("kpis", period), partial(compute_kpis, period=period))
    return ToolOutput(
        {
            "period": {
                "start": result.period.start.isoformat(),
                "end": result.period.end.isoformat(),
            },
            "total_revenue": round(result.total_revenue, 2),
            "order_count": result.order_count,
            "average_order_value": (
                None if result.average_order_value is None else round(result.average_order_value, 2)
            ),
            "active_customers": result.active_customers,
            "retention_rate": None
            if result.retention_rate is None
            else round(result.retention_rate, 1),
            "total_customers": result.total_customers,
            "total_lifetime_value": round(result.total_lifetime_value, 2),
        }
    )


def _top_customers(scope: ToolScope, arguments: dict[str, Any]) -> ToolOutput:
    limit = int(arguments.get("limit", 5))
    result = scope.compute(("top_customers", limit), partial(rank_top_customers, limit=limit))
    return ToolOutput(
        {
            "customers": [
                {
                    "customer_id": item.customer_id,
                    "name": item.name,
                    "lifetime_value": round(item.lifetime_value, 2),
                    "order_count": item.order_count,
                }
                for item in result.items
            ]
        },
        figure=result.figure,
    )


KPIS = Tool(
    name="get_kpis",
    description=(
        "Headline numbers for a period (default: the 365 days before the dataset's asOf): "
        "revenue, orders, average order value, active customers, retention rate (%), "
        "total customers and total lifetime value."
    ),
    parameters={
        "type": "object",
        "properties": PERIOD_PROPERTIES,
        "additionalProperties": False,
    },
    run=_kpis,
    examples=(
        "What was revenue in March?",
        "What's our average order value this year?",
        "How many orders did we get last quarter?",
        "What is the retention rate?",
    ),
)

TOP_CUSTOMERS = Tool(
    name="top_customers",
    description="The customers with the highest lifetime value (revenue to date).",
    parameters={
        "type": "object",
        "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 50}},
        "additionalProperties": False,
    },
    run=_top_customers,
    examples=("Who are our top 5 customers?", "Which customers spent the most?"),
)

CATALOGUE: dict[str, Tool] = {tool.name: tool for tool in (KPIS, TOP_CUSTOMERS)}
