"""Segments, models and predictions through the schema, on the tiny and a 300-customer demo."""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd
import plotly.io as pio
import pytest

from analytics.demo import create_demo_dataset
from analytics.features import build_customer_features
from analytics.segmentation import SegmentationMethod
from analytics.store import AnalyticsStore
from resolvers.context import Context
from resolvers.segmentation import resolve_customer_segment
from schema import schema
from tests.schema.conftest import Execute

SEGMENTS_QUERY = """
query Segments($dataset: ID, $method: SegmentationMethod!) {
  segments(dataset: $dataset, method: $method) {
    dataset datasetVersion method modelId modelVersion customerCount features silhouette
    segments {
      id label size share meanRecency meanFrequency meanMonetary revenueShare
      featureMeans { name mean }
    }
    metrics params figure sizeFigure
    customers(first: 1000) { totalCount items { customerId segmentId label } }
  }
}
"""

TRAIN_MUTATION = """
mutation Train($dataset: ID, $method: SegmentationMethod!) {
  trainSegmentationModel(dataset: $dataset, method: $method) {
    id datasetId datasetVersion kind method version params features metrics fingerprint
    referenceRows createdAt
  }
}
"""

MODELS_QUERY = """
query Models($dataset: ID) { models(dataset: $dataset) { id method version datasetId } }
"""

PREDICT_MUTATION = """
mutation Predict($modelId: ID!, $customers: [CustomerFeaturesInput!]!) {
  predictSegments(modelId: $modelId, customers: $customers) { customerId segmentId label }
}
"""


@pytest.fixture
def demo(store: AnalyticsStore) -> AnalyticsStore:
    """The store with a 300-customer demo dataset next to ``tiny``."""
    create_demo_dataset(store.engine, "demo", customers=300)
    return store


def assert_figure_loads(figure: object) -> None:
    assert pio.from_json(json.dumps(figure, allow_nan=False)).data


async def test_rfm_segments_of_the_tiny_dataset(execute: Execute) -> None:
    data = (await execute(SEGMENTS_QUERY, {"method": "RFM"}))["segments"]

    # As of 2024-07-01: C1 (recency 151, 2 orders, 35) R2 F4 At Risk; C2 (42,
    # 2, 40) R4 F5 Loyal; C3 (1, 1, 25) R5 F2 Potential Loyalists.
    assert [(s["id"], s["label"], s["size"]) for s in data["segments"]] == [
        ("Loyal", "Loyal", 1),
        ("Potential Loyalists", "Potential Loyalists", 1),
        ("At Risk", "At Risk", 1),
    ]
    shares = {s["id"]: s["revenueShare"] for s in data["segments"]}
    assert shares == {
        "Loyal": pytest.approx(0.40),
        "Potential Loyalists": pytest.approx(0.25),
        "At Risk": pytest.approx(0.35),
    }
    assert data["segments"][2]["meanRecency"] == 151.0
    assert (data["modelId"], data["silhouette"], data["customerCount"]) == (None, None, 3)
    assert {i["customerId"]: i["segmentId"] for i in data["customers"]["items"]} == {
        "C1": "At Risk",
        "C2": "Loyal",
        "C3": "Potential Loyalists",
    }
    assert_figure_loads(data["figure"])
    assert_figure_loads(data["sizeFigure"])


@pytest.mark.parametrize("query", [SEGMENTS_QUERY, TRAIN_MUTATION], ids=["segments", "train"])
async def test_too_few_customers_is_a_user_error(execute: Execute, query: str) -> None:
    result = await execute(query, {"method": "KMEANS"}, errors=True)

    error = result["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "only 3 customers" in error["message"]
    assert "at least 10" in error["message"]


async def test_train_list_segment_and_predict_with_kmeans(
    execute: Execute, demo: AnalyticsStore
) -> None:
    ad_hoc = (await execute(SEGMENTS_QUERY, {"dataset": "demo", "method": "KMEANS"}))["segments"]
    trained = await execute(TRAIN_MUTATION, {"dataset": "demo", "method": "KMEANS"})
    model = trained["trainSegmentationModel"]
    again = await execute(TRAIN_MUTATION, {"dataset": "demo", "method": "KMEANS"})
    served = (await execute(SEGMENTS_QUERY, {"dataset": "demo", "method": "KMEANS"}))["segments"]
    listed = (await execute(MODELS_QUERY, {"dataset": "demo"}))["models"]

    assert ad_hoc["modelId"] is None
    assert (model["kind"], model["method"], model["version"]) == ("segmentation", "kmeans", 1)
    assert (model["datasetId"], model["datasetVersion"], model["referenceRows"]) == ("demo", 1, 300)
    assert model["params"]["n_clusters"] == ad_hoc["params"]["n_clusters"]
    assert model["metrics"]["silhouette"] == pytest.approx(ad_hoc["silhouette"])
    assert len(model["fingerprint"]) == 64
    newest = again["trainSegmentationModel"]
    assert newest["version"] == 2
    assert newest["fingerprint"] == model["fingerprint"]  # same training data
    assert [(m["id"], m["version"]) for m in listed] == [(newest["id"], 2), (model["id"], 1)]
    assert (served["modelId"], served["modelVersion"]) == (newest["id"], 2)
    assert served["customerCount"] == 300
    assert sum(s["size"] for s in served["segments"]) == 300
    assert sum(s["share"] for s in served["segments"]) == pytest.approx(1.0)
    assert sum(s["revenueShare"] for s in served["segments"]) == pytest.approx(1.0)
    assert [s["label"] for s in served["segments"]] == [s["label"] for s in ad_hoc["segments"]]
    assert_figure_loads(served["figure"])
    assert_figure_loads(served["sizeFigure"])

    features = build_customer_features(demo.frames("demo"))
    sample = features.iloc[:20]
    customers = [
        {
            "customerId": str(customer_id),
            "recency": row["recency"],
            "frequency": row["frequency"],
            "monetary": row["monetary"],
            "tenure": row["tenure"],
            "satisfactionScore": None if pd.isna(score := row["satisfaction_score"]) else score,
        }
        for customer_id, row in sample.iterrows()
    ]
    predicted = (
        await execute(PREDICT_MUTATION, {"modelId": newest["id"], "customers": customers})
    )["predictSegments"]

    segment_of = {item["customerId"]: item["segmentId"] for item in served["customers"]["items"]}
    external = demo.frames("demo").customers.set_index("customer_id")["external_id"]
    assert [p["customerId"] for p in predicted] == [str(i) for i in sample.index]
    assert [p["segmentId"] for p in predicted] == [segment_of[external[i]] for i in sample.index]


async def test_dbscan_model_and_segments(execute: Execute, demo: AnalyticsStore) -> None:
    model = (await execute(TRAIN_MUTATION, {"dataset": "demo", "method": "DBSCAN"}))[
        "trainSegmentationModel"
    ]
    data = (await execute(SEGMENTS_QUERY, {"dataset": "demo", "method": "DBSCAN"}))["segments"]

    assert model["method"] == "dbscan"
    assert model["params"]["eps_chosen_by"] == "k-distance knee"
    assert model["params"]["min_samples"] == 10  # 2 x 5 features
    assert data["modelId"] == model["id"]
    assert sum(s["size"] for s in data["segments"]) == 300
    noise = [s for s in data["segments"] if s["id"] == "-1"]
    assert all(s["label"] == "Noise / outliers" for s in noise)
    assert model["metrics"]["noise"] == sum(s["size"] for s in noise)
    assert_figure_loads(data["figure"])
    rfm = (await execute(SEGMENTS_QUERY, {"dataset": "demo", "method": "RFM"}))["segments"]
    assert sum(s["size"] for s in rfm["segments"]) == 300
    assert_figure_loads(rfm["figure"])


async def test_prediction_errors(execute: Execute, demo: AnalyticsStore) -> None:
    model = (await execute(TRAIN_MUTATION, {"dataset": "demo", "method": "KMEANS"}))[
        "trainSegmentationModel"
    ]
    complete = {"recency": 10, "frequency": 3, "monetary": 500, "tenure": 400}

    unknown = await execute(
        PREDICT_MUTATION, {"modelId": "nope", "customers": [complete]}, errors=True
    )
    missing = await execute(
        PREDICT_MUTATION,
        {"modelId": model["id"], "customers": [complete, {"recency": 10}]},
        errors=True,
    )
    too_many = await execute(
        PREDICT_MUTATION, {"modelId": model["id"], "customers": [complete] * 10_001}, errors=True
    )
    bad_attribute = await execute(
        PREDICT_MUTATION,
        {"modelId": model["id"], "customers": [{**complete, "attributes": {"plan": "gold"}}]},
        errors=True,
    )
    fine = await execute(
        PREDICT_MUTATION,
        {"modelId": model["id"], "customers": [{**complete, "attributes": {"unused": 1}}]},
    )

    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert unknown["errors"][0]["message"] == "model 'nope' does not exist"
    assert missing["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "customers[1]: 'frequency' is missing" in missing["errors"][0]["message"]
    assert "at most 10,000" in too_many["errors"][0]["message"]
    assert (
        "customers[0].attributes.plan: expected a number" in bad_attribute["errors"][0]["message"]
    )
    assert fine["predictSegments"][0]["customerId"] is None
    assert fine["predictSegments"][0]["label"]


async def test_training_is_stopped_at_the_timeout(
    make_context: Callable[[], Context], demo: AnalyticsStore
) -> None:
    context = make_context()
    context.training_timeout = 0.001

    variables = {"dataset": "demo", "method": "DBSCAN"}
    result = await schema.execute(TRAIN_MUTATION, variable_values=variables, context_value=context)

    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "TIMEOUT"}
    assert "longer than 0.001 s" in result.errors[0].message
    models = await schema.execute(MODELS_QUERY, context_value=make_context())
    assert models.data == {"models": []}


async def test_customer_segment_resolver(
    make_context: Callable[[], Context], demo: AnalyticsStore
) -> None:
    context = make_context()

    tiny = await resolve_customer_segment(context, "tiny", "C1", SegmentationMethod.RFM)
    first = await resolve_customer_segment(context, "demo", "C000001", SegmentationMethod.KMEANS)
    nobody = await resolve_customer_segment(context, "demo", "nobody", SegmentationMethod.KMEANS)

    assert tiny is not None
    assert (tiny.segment_id, tiny.label, tiny.model_id) == ("At Risk", "At Risk", None)
    assert first is not None and first.method is SegmentationMethod.KMEANS
    assert nobody is None
    # One segmentation per dataset and method per request, shared by every customer.
    assert len(context.extras) == 2


async def test_customer_segment_field_agrees_with_segments(
    execute: Execute, demo: AnalyticsStore
) -> None:
    trained = await execute(TRAIN_MUTATION, {"dataset": "demo", "method": "KMEANS"})
    model_id = trained["trainSegmentationModel"]["id"]
    page = await execute(
        '{ segments(dataset: "demo", method: KMEANS) '
        "{ customers(first: 3) { items { customerId segmentId label } } } }"
    )

    for item in page["segments"]["customers"]["items"]:
        customer = await execute(
            'query C($id: ID!) { customer(dataset: "demo", id: $id) '
            "{ segment { segmentId label method modelId } } }",
            {"id": item["customerId"]},
        )
        assert customer["customer"]["segment"] == {
            "segmentId": item["segmentId"],
            "label": item["label"],
            "method": "KMEANS",
            "modelId": model_id,
        }
