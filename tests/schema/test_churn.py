"""churnRisk through the schema: the tiny dataset is too small, the demo store gets a model."""

from __future__ import annotations

import json

import pandas as pd
import plotly.io as pio
import pytest

from analytics.demo import create_demo_dataset
from analytics.store import AnalyticsStore
from tests.schema.conftest import Execute

CHURN_QUERY = """
query Churn($dataset: ID, $asOf: Date, $horizonDays: Int, $top: Int) {
  churnRisk(dataset: $dataset, asOf: $asOf, horizonDays: $horizonDays, top: $top) {
    asOf cutoff horizonDays mode currentChurnRate averageChurnProbability totalChurners
    observedCustomers scoredCustomers
    riskDistribution { level customers share }
    topAtRisk {
      customerId name probability riskLevel recency frequency monetary
      topFactors { feature label value typicalValue effect }
    }
    factors { feature label importance direction riskiestValue }
    trend { month churnRate customers churners }
    model { algorithm auc precision recall f1 threshold trainSize testSize baseRate }
    distributionFigure factorsFigure trendFigure
  }
}
"""


@pytest.fixture
def demo_store(store: AnalyticsStore) -> AnalyticsStore:
    create_demo_dataset(store.engine, "churn", customers=400, seed=3)
    return store


async def test_tiny_dataset_is_too_small(execute: Execute) -> None:
    result = await execute(CHURN_QUERY, errors=True)

    error = result["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    # Latest order 2024-06-30: asOf 2024-07-01, cutoff 2024-04-02; only C1 ordered in the
    # year before it (C2's 2023-03-10 order is older, C3 first ordered after it).
    assert error["message"] == (
        "churnRisk: needs at least 20 customers who ordered in the 365 days before the cutoff "
        "2024-04-02 (asOf - horizonDays), the dataset has 1"
    )


@pytest.mark.parametrize(
    ("variables", "named"),
    [({"horizonDays": 0}, "horizonDays"), ({"horizonDays": 1000}, "horizonDays"),
     ({"top": 0}, "top"), ({"top": 1001}, "top")],
)  # fmt: skip
async def test_bad_arguments_name_the_argument(
    execute: Execute, variables: dict[str, int], named: str
) -> None:
    result = await execute(CHURN_QUERY, variables, errors=True)

    error = result["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith(f"{named}: expected 1..")


async def test_demo_store_churn_risk(execute: Execute, demo_store: AnalyticsStore) -> None:
    churn = (await execute(CHURN_QUERY, {"dataset": "churn", "top": 5}))["churnRisk"]

    orders = pd.read_sql_query(
        "SELECT c.external_id, o.order_date FROM orders o JOIN customers c "
        "ON c.id = o.customer_id AND c.dataset_id = o.dataset_id WHERE o.dataset_id = 'churn'",
        demo_store.engine,
        parse_dates=["order_date"],
    )
    day = orders["order_date"].dt.normalize()
    as_of = day.max() + pd.Timedelta(days=1)
    cutoff = as_of - pd.Timedelta(days=90)
    year_before = cutoff - pd.Timedelta(days=365)
    active = set(orders.loc[(day >= year_before) & (day < cutoff), "external_id"])
    returned = set(orders.loc[(day >= cutoff) & (day < as_of), "external_id"])
    scored = set(orders.loc[(day >= as_of - pd.Timedelta(days=365)) & (day < as_of), "external_id"])
    assert (churn["asOf"], churn["cutoff"]) == (
        as_of.date().isoformat(),
        cutoff.date().isoformat(),
    )
    assert (churn["mode"], churn["horizonDays"]) == ("TIME_SPLIT", 90)
    assert churn["observedCustomers"] == len(active)
    assert churn["totalChurners"] == len(active - returned)
    assert churn["currentChurnRate"] == pytest.approx(100 * len(active - returned) / len(active))
    assert churn["scoredCustomers"] == len(scored)

    buckets = {b["level"]: b["customers"] for b in churn["riskDistribution"]}
    assert list(buckets) == ["LOW", "MEDIUM", "HIGH"]
    assert sum(buckets.values()) == len(scored)
    assert 0 < churn["averageChurnProbability"] < 1
    model = churn["model"]
    assert model["algorithm"] in {"gradient_boosting", "logistic_regression"}
    assert 0.6 < model["auc"] <= 1
    assert model["trainSize"] + model["testSize"] == len(active)
    assert model["baseRate"] == pytest.approx(len(active - returned) / len(active))

    top = churn["topAtRisk"]
    assert len(top) == 5
    assert [c["probability"] for c in top] == sorted((c["probability"] for c in top), reverse=True)
    assert {c["customerId"] for c in top} <= scored
    assert top[0]["riskLevel"] == "HIGH"
    effects = [f["effect"] for f in top[0]["topFactors"]]
    assert effects == sorted(effects, reverse=True) and all(e >= 0.001 for e in effects)

    factors = churn["factors"]
    assert {f["feature"] for f in factors} >= {"recency", "frequency", "satisfaction_score"}
    assert [f["importance"] for f in factors] == sorted(
        (f["importance"] for f in factors), reverse=True
    )
    assert len(churn["trend"]) == 12
    last = churn["trend"][-1]
    assert last["churnRate"] == pytest.approx(100 * last["churners"] / last["customers"])
    for name in ("distributionFigure", "factorsFigure", "trendFigure"):
        assert pio.from_json(json.dumps(churn[name])).data


async def test_the_fit_is_cached_per_version_and_arguments(
    execute: Execute, demo_store: AnalyticsStore
) -> None:
    first = await execute(CHURN_QUERY, {"dataset": "churn", "top": 3})
    misses = demo_store.cache.misses

    again = await execute(CHURN_QUERY, {"dataset": "churn", "top": 4})

    assert demo_store.cache.misses == misses
    assert again["churnRisk"]["topAtRisk"][:3] == first["churnRisk"]["topAtRisk"]
    longer = await execute(CHURN_QUERY, {"dataset": "churn", "top": 1, "horizonDays": 180})
    assert longer["churnRisk"]["cutoff"] != first["churnRisk"]["cutoff"]
    assert demo_store.cache.misses == misses + 1


async def test_customer_churn_is_the_analysis_row(
    execute: Execute, demo_store: AnalyticsStore
) -> None:
    analysis = await execute(
        '{ churnRisk(dataset: "churn", top: 1) { topAtRisk { customerId probability riskLevel } } }'
    )
    riskiest = analysis["churnRisk"]["topAtRisk"][0]

    customer = await execute(
        'query C($id: ID!) { customer(dataset: "churn", id: $id) '
        "{ churn { customerId probability riskLevel } } }",
        {"id": riskiest["customerId"]},
    )

    assert customer["customer"]["churn"] == riskiest
