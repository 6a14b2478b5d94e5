"""lifetimeValue through the schema: a clear error on the tiny shop, a fit on a demo store."""

from __future__ import annotations

import json
import math

import plotly.io as pio
import pytest

from analytics.demo import create_demo_dataset
from analytics.store import AnalyticsStore
from tests.schema.conftest import Execute

LIFETIME_VALUE_QUERY = """
query LifetimeValue(
  $dataset: ID, $horizonMonths: Int, $discountRate: Float, $asOf: Date, $orderBy: ClvOrder
) {
  lifetimeValue(
    dataset: $dataset, horizonMonths: $horizonMonths, discountRate: $discountRate, asOf: $asOf
  ) {
    asOf horizonMonths discountRate averagePAlive totalPredictedValue customerCount
    bgnbd { r alpha a b }
    gammaGamma { p q v }
    top: customers(first: 5) {
      customerId name frequency recency t monetaryValue expectedPurchases pAlive
      expectedSpend predictedValue
    }
    next: customers(first: 2, offset: 1) { customerId }
    ordered: customers(first: 3, orderBy: $orderBy) { customerId pAlive }
    figure
  }
}
"""


@pytest.fixture
def demo_store(store: AnalyticsStore) -> AnalyticsStore:
    create_demo_dataset(store.engine, "clv", customers=300, seed=5)
    return store


async def test_tiny_dataset_is_too_small(execute: Execute) -> None:
    result = await execute(LIFETIME_VALUE_QUERY, errors=True)

    error = result["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "at least 10 customers" in error["message"]
    assert "found 3 customers" in error["message"]
    assert result["data"] is None


@pytest.mark.parametrize(
    ("variables", "name"),
    [({"horizonMonths": 0}, "horizonMonths"), ({"discountRate": 2.0}, "discountRate")],
)
async def test_bad_arguments_name_the_argument(
    execute: Execute, variables: dict[str, object], name: str
) -> None:
    result = await execute(LIFETIME_VALUE_QUERY, variables, errors=True)

    error = result["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert name in error["message"]


async def test_lifetime_value_of_a_demo_store(execute: Execute, demo_store: AnalyticsStore) -> None:
    variables = {
        "dataset": "clv",
        "horizonMonths": 24,
        "discountRate": 0.02,
        "orderBy": {"field": "P_ALIVE", "direction": "ASC"},
    }
    analysis = (await execute(LIFETIME_VALUE_QUERY, variables))["lifetimeValue"]

    assert (analysis["horizonMonths"], analysis["discountRate"]) == (24, 0.02)
    assert analysis["asOf"] == "2026-01-01"  # the day after the demo's last day
    assert analysis["customerCount"] == 300
    numbers = [analysis["averagePAlive"], analysis["totalPredictedValue"]]
    numbers += list(analysis["bgnbd"].values())
    if analysis["gammaGamma"] is not None:
        numbers += list(analysis["gammaGamma"].values())
    assert all(math.isfinite(number) and number > 0 for number in numbers)
    assert 0 < analysis["averagePAlive"] <= 1

    top = analysis["top"]
    values = [customer["predictedValue"] for customer in top]
    assert values == sorted(values, reverse=True)
    assert [c["customerId"] for c in analysis["next"]] == [c["customerId"] for c in top[1:3]]
    assert all(customer["name"] for customer in top)
    alive = [customer["pAlive"] for customer in analysis["ordered"]]
    assert alive == sorted(alive)
    assert alive[0] <= min(customer["pAlive"] for customer in top)

    figure = pio.from_json(json.dumps(analysis["figure"]))
    assert sum(figure.data[0].y) == 300


async def test_page_size_is_limited(execute: Execute, demo_store: AnalyticsStore) -> None:
    query = '{ lifetimeValue(dataset: "clv") { customers(first: 1001) { customerId } } }'
    result = await execute(query, errors=True)

    error = result["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "first" in error["message"]


async def test_customer_clv_is_the_analysis_row(
    execute: Execute, demo_store: AnalyticsStore
) -> None:
    analysis = await execute(
        '{ lifetimeValue(dataset: "clv") { customers(first: 1) { customerId predictedValue '
        "pAlive } } }"
    )
    best = analysis["lifetimeValue"]["customers"][0]

    customer = await execute(
        'query C($id: ID!) { customer(dataset: "clv", id: $id) '
        "{ clv { customerId predictedValue pAlive } } }",
        {"id": best["customerId"]},
    )

    assert customer["customer"]["clv"] == best
