"""Every analytic field, through the schema, on the tiny dataset (hand totals in conftest)."""

from __future__ import annotations

import pytest

from tests.schema.conftest import Execute

KPIS_QUERY = """
query Kpis($period: DateRange) {
  kpis(period: $period) {
    asOf period { start end } previousPeriod { start end }
    totalCustomers totalRevenue totalLifetimeValue orderCount averageOrderValue
    retentionRate activeCustomers
  }
}
"""

REVENUE_SERIES_QUERY = """
query Series($granularity: Granularity, $groupBy: RevenueGroupBy) {
  revenueSeries(granularity: $granularity, groupBy: $groupBy) {
    granularity groupBy totalRevenue points { periodStart group revenue orders } figure
  }
}
"""

BREAKDOWNS_QUERY = """
{
  topCustomers(limit: 2) { customerId name lifetimeValue orderCount }
  topCustomersFigure(limit: 2)
  categoryPerformance { category revenue orders revenueShare }
  salesReps { name ordersClosed revenue }
  satisfaction { average respondents distribution { score count } figure }
  datasets { id name version rowsImported }
}
"""

REPORT_QUERY = """
query Report($id: ID!) {
  report(customerId: $id) {
    customerId lifetimeValue orderCount averageOrderValue firstOrderDate lastOrderDate
    daysSinceLastOrder monthlySpend { month revenue }
    favouriteCategories { category revenue share } figure
  }
}
"""

GENERATE_REPORT_MUTATION = """
mutation Generate($id: ID!) { generateReport(customerId: $id) { customerId lifetimeValue } }
"""


async def test_kpis_default_to_the_year_before_as_of(execute: Execute) -> None:
    kpis = (await execute(KPIS_QUERY))["kpis"]

    # Latest order 2024-06-30, so asOf 2024-07-01; current window 2023-07-02..2024-06-30.
    assert kpis["asOf"] == "2024-07-01"
    assert kpis["period"] == {"start": "2023-07-02", "end": "2024-06-30"}
    assert kpis["totalRevenue"] == 100.0
    assert kpis["orderCount"] == 5
    assert kpis["averageOrderValue"] == 20.0
    assert kpis["totalLifetimeValue"] == 100.0
    assert kpis["totalCustomers"] == 4
    # Previous window: C1 and C2 ordered; both ordered again in the current one.
    assert kpis["retentionRate"] == 100.0
    assert kpis["activeCustomers"] == 3


async def test_kpis_for_a_period(execute: Execute) -> None:
    period = {"start": "2024-01-01", "end": "2024-06-30"}
    kpis = (await execute(KPIS_QUERY, {"period": period}))["kpis"]

    # O2 15 + O4 10 + O5 25 in the first half of 2024.
    assert (kpis["totalRevenue"], kpis["orderCount"]) == (50.0, 3)
    assert kpis["averageOrderValue"] == pytest.approx(50 / 3)
    # 182 days (2024 is a leap year), so the previous window is 2023-07-03..2023-12-31.
    assert kpis["previousPeriod"] == {"start": "2023-07-03", "end": "2023-12-31"}
    # Nobody ordered in the previous half-year, so there is no retention to report.
    assert kpis["retentionRate"] is None


async def test_revenue_series_by_year_and_by_category(execute: Execute) -> None:
    yearly = (await execute(REVENUE_SERIES_QUERY, {"granularity": "YEAR"}))["revenueSeries"]
    assert [(p["periodStart"], p["revenue"]) for p in yearly["points"]] == [
        ("2023-01-01", 50.0),
        ("2024-01-01", 50.0),
    ]
    assert yearly["figure"]["data"] and "layout" in yearly["figure"]

    grouped = await execute(REVENUE_SERIES_QUERY, {"granularity": "YEAR", "groupBy": "CATEGORY"})
    points = {
        (p["periodStart"], p["group"]): p["revenue"] for p in grouped["revenueSeries"]["points"]
    }
    # 2023: O1 Books 20, O3 Toys 30; 2024: O2 Books 15, O4 Books 10, O5 Books 25.
    assert points == {
        ("2023-01-01", "Books"): 20.0,
        ("2023-01-01", "Toys"): 30.0,
        ("2024-01-01", "Books"): 50.0,
    }


async def test_breakdowns(execute: Execute) -> None:
    data = await execute(BREAKDOWNS_QUERY)

    assert [(c["customerId"], c["lifetimeValue"]) for c in data["topCustomers"]] == [
        ("C2", 40.0),
        ("C1", 35.0),
    ]
    assert data["topCustomersFigure"]["data"]
    categories = {c["category"]: (c["revenue"], c["orders"]) for c in data["categoryPerformance"]}
    assert categories == {"Books": (70.0, 4), "Toys": (30.0, 1)}
    reps = {r["name"]: (r["ordersClosed"], r["revenue"]) for r in data["salesReps"]}
    # Rita: O1 20 + O2 15 + O5 25; Sam: O3 30; O4 has no rep.
    assert reps == {"Rita": (3, 60.0), "Sam": (1, 30.0)}
    assert data["satisfaction"]["average"] == 4.0  # (5 + 3 + 4) / 3
    assert data["satisfaction"]["respondents"] == 3
    assert data["datasets"] == [
        {"id": "tiny", "name": "Tiny shop", "version": 1, "rowsImported": 6}
    ]


async def test_report_and_generate_report(execute: Execute) -> None:
    report = (await execute(REPORT_QUERY, {"id": "C1"}))["report"]

    assert report["lifetimeValue"] == 35.0
    assert report["orderCount"] == 2
    assert report["averageOrderValue"] == 17.5
    assert (report["firstOrderDate"], report["lastOrderDate"]) == ("2023-02-01", "2024-02-01")
    assert report["daysSinceLastOrder"] == 151  # 2024-02-01 -> 2024-07-01
    assert [c["category"] for c in report["favouriteCategories"]] == ["Books"]
    assert report["figure"]["data"]

    generated = await execute(GENERATE_REPORT_MUTATION, {"id": "C2"})
    assert generated["generateReport"] == {"customerId": "C2", "lifetimeValue": 40.0}


async def test_report_for_unknown_customer_is_not_found(execute: Execute) -> None:
    result = await execute(REPORT_QUERY, {"id": "ghost"}, errors=True)
    error = result["errors"][0]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "'ghost'" in error["message"]


async def test_bad_arguments_name_the_argument(execute: Execute) -> None:
    result = await execute("{ topCustomers(limit: 0) { customerId } }", errors=True)
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "limit" in result["errors"][0]["message"]

    wrong_type = await execute(
        '{ kpis(period: {start: "yesterday", end: "2024-01-01"}) { orderCount } }', errors=True
    )
    assert wrong_type["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
