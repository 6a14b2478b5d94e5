"""A real export through the real server: upload, analysis, models, and a restart.

The CDNOW sample (Fader, Hardie & Lee 2005) is uploaded as a robot would
upload a CSV export; its BG/NBD fit must still be the published one, the
REST report must agree with GraphQL, and a trained model must survive a
restart of the server with identical predictions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.cdnow import cdnow_sample
from tests.e2e.test_robot import Server, _poll, _upload

pytestmark = pytest.mark.e2e

ANALYTICS_QUERY = """
query Intelligence($dataset: ID!) {
  lifetimeValue(dataset: $dataset, asOf: "1997-10-01") { bgnbd { r alpha a b } customerCount }
  rfm(dataset: $dataset) { customerCount segments { segment customers } }
  churnRisk(dataset: $dataset) { totalChurners currentChurnRate model { auc } }
  salesForecast(dataset: $dataset) { points { periodStart revenue lower upper } }
}
"""

TRAIN_MUTATION = """
mutation Train($dataset: ID!) {
  trainSegmentationModel(dataset: $dataset, method: KMEANS) { id version features }
}
"""

PREDICT_MUTATION = """
mutation Predict($model: ID!, $customers: [CustomerFeaturesInput!]!) {
  predictSegments(modelId: $model, customers: $customers) { customerId segmentId label }
}
"""

NEW_CUSTOMERS = [
    {"customerId": "loyal", "recency": 5, "frequency": 12, "monetary": 600, "tenure": 500},
    {"customerId": "lapsed", "recency": 400, "frequency": 1, "monetary": 12, "tenure": 400},
    {"customerId": "middle", "recency": 90, "frequency": 3, "monetary": 80, "tenure": 300},
]


def _graphql(server: Server, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/graphql", json={"query": query, "variables": variables}, timeout=120
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return dict(body["data"])


def _cdnow_csv(path: Path) -> bytes:
    log = pd.read_csv(cdnow_sample(), sep=r"\s+", header=None, dtype={0: str, 2: str},
                      names=["CustomerID", "Sample", "Date", "Quantity", "Amount"])  # fmt: skip
    log.drop(columns="Sample").to_csv(path, index=False)
    return path.read_bytes()


def test_a_real_export_is_analysed_and_its_model_survives_a_restart(
    server: Server, tmp_path: Path
) -> None:
    file_id = _upload(server.url, "cdnow.csv", _cdnow_csv(tmp_path / "cdnow.csv"))
    body = _poll(server.url, file_id, timeout=180)

    assert body["analysis"]["status"] == "completed", body["analysis"]
    results = body["analysis"]["results"]
    for part in ("kpis", "churn", "segmentation", "sales"):
        assert results[part]["success"] is True, results[part]
    assert results["kpis"]["data"]["total_customers"] == 2357

    data = _graphql(server, ANALYTICS_QUERY, {"dataset": file_id})
    bgnbd = data["lifetimeValue"]["bgnbd"]
    assert {name: round(value, 3) for name, value in bgnbd.items()} == {
        "r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426,
    }  # fmt: skip
    assert data["rfm"]["customerCount"] == 2357
    assert sum(s["customers"] for s in data["rfm"]["segments"]) == 2357
    churn = results["churn"]["data"]["metrics"]
    assert data["churnRisk"]["totalChurners"] == churn["total_churners"]
    assert data["churnRisk"]["currentChurnRate"] == pytest.approx(churn["current_churn_rate"])
    assert data["churnRisk"]["model"]["auc"] > 0.6
    assert len(data["salesForecast"]["points"]) == 3

    model = _graphql(server, TRAIN_MUTATION, {"dataset": file_id})["trainSegmentationModel"]
    assert model["version"] == 1
    before = _graphql(server, PREDICT_MUTATION, {"model": model["id"], "customers": NEW_CUSTOMERS})
    assert len({a["segmentId"] for a in before["predictSegments"]}) >= 2

    server.stop()
    server.start()

    models = _graphql(server, "{ models { id version method datasetId } }", {})["models"]
    assert {"id": model["id"], "version": 1, "method": "kmeans", "datasetId": file_id} in models
    after = _graphql(server, PREDICT_MUTATION, {"model": model["id"], "customers": NEW_CUSTOMERS})
    assert after == before
    drift = _graphql(
        server,
        "query D($d: ID!, $r: ID!) { drift(dataset: $d, reference: $r) { drifted driftedShare } }",
        {"d": file_id, "r": model["id"]},
    )
    assert drift["drift"] == {"drifted": False, "driftedShare": 0.0}
