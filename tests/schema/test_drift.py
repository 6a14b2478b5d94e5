"""The drift query: datasets and model versions as references, errors and email alerts."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import plotly.io as pio
import pytest
from sqlmodel import Session

from analytics.alerts import MailSettings
from analytics.db import (
    DatasetTables,
    ModelVersion,
    Order,
    OrderItem,
    Product,
    SalesRep,
    empty_frame,
    replace_dataset,
)
from analytics.features import build_customer_features, describe_reference
from analytics.store import AnalyticsStore
from resolvers.context import Context
from schema import schema
from tests.analytics.test_alerts import SmtpServer, free_port, start_smtp_server
from tests.schema.conftest import Execute

DRIFT_QUERY = """
query Drift($dataset: ID!, $reference: ID!) {
  drift(dataset: $dataset, reference: $reference) {
    dataset reference referenceKind drifted driftedShare driftedCount testedCount
    referenceRows currentRows missingFeatures newFeatures alertSent alertError figure
    features {
      feature kind test statistic pValue distance threshold drifted
      referenceCount currentCount referenceMissingShare currentMissingShare reason
    }
  }
}
"""

SATISFACTION = [1.0, 2.0, 3.0, 4.0, 5.0] * 4


def customer_table(
    satisfaction: list[float | None],
    regions: list[str | None],
    attributes: list[dict[str, Any] | None] | None = None,
) -> DatasetTables:
    """A customer table (no orders): its features are satisfaction, region and attributes."""
    count = len(satisfaction)
    customers = pd.DataFrame(
        {
            "id": range(1, count + 1),
            "external_id": [f"K{i}" for i in range(1, count + 1)],
            "region": regions,
            "satisfaction_score": pd.Series(satisfaction, dtype="float64"),
            "attributes": attributes or [None] * count,
        }
    )
    empty = [empty_frame(model) for model in (Product, SalesRep, Order, OrderItem)]
    return DatasetTables(customers, *empty)


@pytest.fixture
def datasets(store: AnalyticsStore) -> AnalyticsStore:
    """Beside ``tiny``: ``before`` and three variations of it, 20 customers each.

    before:  satisfaction 1..5 four times each, region North/South alternating
    after:   satisfaction + 10, every region North  (both features drift)
    similar: satisfaction as before, every region North  (one of two drifts)
    plans:   only a ``plan`` attribute  (no feature in common with before)
    """
    write = store.engine
    replace_dataset(
        write,
        "before",
        "Before",
        customer_table(SATISFACTION, ["North", "South"] * 10),
        kind="customers",
    )
    replace_dataset(
        write,
        "after",
        "After",
        customer_table([s + 10 for s in SATISFACTION], ["North"] * 20),
        kind="customers",
    )
    replace_dataset(
        write, "similar", "Similar", customer_table(SATISFACTION, ["North"] * 20), kind="customers"
    )
    plans = [{"plan": "basic" if i % 2 else "pro"} for i in range(20)]
    replace_dataset(
        write, "plans", "Plans", customer_table([None] * 20, [None] * 20, plans), kind="customers"
    )
    return store


def add_model(
    store: AnalyticsStore, model_id: str, reference: dict[str, Any], version: int = 1
) -> None:
    with Session(store.engine) as session:
        session.add(
            ModelVersion(
                id=model_id,
                dataset_id="before",
                dataset_version=1,
                kind="segmentation",
                method="kmeans",
                version=version,
                fingerprint="f" * 64,
                reference=reference,
                artifact_path=f"{model_id}.joblib",
            )
        )
        session.commit()


async def drift(execute: Execute, dataset: str, reference: str) -> dict[str, Any]:
    data = await execute(DRIFT_QUERY, {"dataset": dataset, "reference": reference})
    report: dict[str, Any] = data["drift"]
    return report


def by_feature(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {feature["feature"]: feature for feature in report["features"]}


async def test_a_shifted_dataset_has_drifted(execute: Execute, datasets: AnalyticsStore) -> None:
    report = await drift(execute, "after", "before")

    assert (report["dataset"], report["reference"], report["referenceKind"]) == (
        "after",
        "before",
        "DATASET",
    )
    assert (report["drifted"], report["driftedShare"], report["driftedCount"]) == (True, 1.0, 2)
    assert (report["referenceRows"], report["currentRows"]) == (20, 20)
    assert report["alertSent"] is False and report["alertError"] is None
    features = by_feature(report)
    satisfaction, region = features["satisfaction_score"], features["region"]
    # Every value moved up by 10: D = 1, and only 2 of the C(40, 20) splits reach it.
    assert (satisfaction["kind"], satisfaction["test"]) == ("NUMERIC", "KS")
    assert satisfaction["statistic"] == 1.0
    assert satisfaction["pValue"] == pytest.approx(2 / math.comb(40, 20), rel=1e-6)
    assert satisfaction["distance"] is None
    assert (satisfaction["threshold"], satisfaction["drifted"]) == (0.05, True)
    # Counts [[10, 10], [20, 0]]: expected 15 and 5 per row, chi2 = 2 * (25/15 + 25/5).
    chi2 = 2 * (25 / 15 + 25 / 5)
    assert (region["kind"], region["test"]) == ("CATEGORICAL", "CHI_SQUARE")
    assert region["statistic"] == pytest.approx(chi2)
    assert region["pValue"] == pytest.approx(math.erfc(math.sqrt(chi2 / 2)))
    assert region["drifted"] is True


async def test_half_of_the_features_drifting_is_drift(
    execute: Execute, datasets: AnalyticsStore
) -> None:
    report = await drift(execute, "similar", "before")

    features = by_feature(report)
    assert features["satisfaction_score"]["drifted"] is False
    assert features["satisfaction_score"]["pValue"] == 1.0
    assert features["region"]["drifted"] is True
    assert (report["drifted"], report["driftedShare"]) == (True, 0.5)


async def test_a_dataset_against_itself_has_not_drifted(execute: Execute) -> None:
    report = await drift(execute, "tiny", "tiny")

    assert (report["drifted"], report["driftedShare"], report["testedCount"]) == (False, 0.0, 6)
    assert all(f["pValue"] == 1.0 and not f["drifted"] for f in report["features"])


async def test_features_on_one_side_only_are_listed(
    execute: Execute, datasets: AnalyticsStore
) -> None:
    report = await drift(execute, "tiny", "before")

    assert report["newFeatures"] == ["recency", "frequency", "monetary", "tenure"]
    assert report["missingFeatures"] == []
    satisfaction = by_feature(report)["satisfaction_score"]
    # C1 5.0, C2 3.0 and C3 unknown ordered (C4 never did, so is no feature row).
    assert (satisfaction["currentCount"], satisfaction["referenceCount"]) == (2, 20)
    assert satisfaction["currentMissingShare"] == pytest.approx(1 / 3)
    assert satisfaction["referenceMissingShare"] == 0.0


async def test_the_figure_renders(execute: Execute, datasets: AnalyticsStore) -> None:
    report = await drift(execute, "similar", "before")

    fig = pio.from_json(json.dumps(report["figure"]))

    (bars,) = fig.data
    assert list(bars.x) == ["satisfaction_score", "region"]
    assert list(bars.y) == pytest.approx([1.0, report["features"][1]["pValue"]])
    assert fig.layout.shapes[0].y0 == 0.05


async def test_a_model_version_as_the_reference(execute: Execute, datasets: AnalyticsStore) -> None:
    reference = describe_reference(build_customer_features(datasets.frames("before")))
    add_model(datasets, "model-small", reference)
    # The same sample, as if drawn from 5000 training customers: distances, not tests.
    add_model(datasets, "model-large", {**reference, "rows": 5000}, version=2)

    small = await drift(execute, "after", "model-small")
    large = await drift(execute, "after", "model-large")

    assert (small["referenceKind"], small["referenceRows"]) == ("MODEL", 20)
    assert by_feature(small)["satisfaction_score"]["pValue"] == pytest.approx(
        2 / math.comb(40, 20), rel=1e-6
    )
    assert (large["referenceKind"], large["referenceRows"]) == ("MODEL", 5000)
    satisfaction, region = by_feature(large)["satisfaction_score"], by_feature(large)["region"]
    # W = 10; the reference (1..5, four of each) has variance 2.
    assert satisfaction["test"] == "WASSERSTEIN"
    assert satisfaction["distance"] == pytest.approx(10 / math.sqrt(2))
    assert (satisfaction["pValue"], satisfaction["threshold"]) == (None, 0.1)
    # P = (1/2, 1/2), Q = (1, 0): JSD = H(3/4, 1/4) - 1/2.
    entropy_m = 0.75 * math.log2(4 / 3) + 0.25 * 2
    assert region["test"] == "JENSEN_SHANNON"
    assert region["distance"] == pytest.approx(math.sqrt(entropy_m - 0.5))
    assert large["drifted"] is True


async def test_unknown_ids_are_not_found(execute: Execute) -> None:
    result = await execute(DRIFT_QUERY, {"dataset": "tiny", "reference": "nope"}, errors=True)
    (error,) = result["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["message"] == "reference: 'nope' is neither a model version nor a dataset"

    result = await execute(DRIFT_QUERY, {"dataset": "nope", "reference": "tiny"}, errors=True)
    (error,) = result["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["message"] == "dataset 'nope' does not exist"


async def test_datasets_without_a_shared_feature_are_refused(
    execute: Execute, datasets: AnalyticsStore
) -> None:
    result = await execute(DRIFT_QUERY, {"dataset": "plans", "reference": "before"}, errors=True)

    (error,) = result["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith("reference: the data and the reference share no")
    assert "plan" in error["message"]


async def test_a_model_without_a_reference_is_refused(
    execute: Execute, datasets: AnalyticsStore
) -> None:
    add_model(datasets, "bare", {})

    result = await execute(DRIFT_QUERY, {"dataset": "after", "reference": "bare"}, errors=True)

    (error,) = result["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "model version 'bare' stored no feature distribution" in error["message"]


# --- email alerts -------------------------------------------------------------------

Run = Callable[[str, str], Any]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from start_smtp_server()


def alerting(make_context: Callable[[], Context], mail: MailSettings) -> Run:
    async def run(dataset: str, reference: str) -> dict[str, Any]:
        context = make_context()
        context.alert_mail = mail
        result = await schema.execute(
            DRIFT_QUERY,
            variable_values={"dataset": dataset, "reference": reference},
            context_value=context,
        )
        assert result.errors is None, result.errors
        assert result.data is not None
        report: dict[str, Any] = result.data["drift"]
        return report

    return run


async def test_drift_sends_one_alert(
    make_context: Callable[[], Context], datasets: AnalyticsStore, smtp_server: SmtpServer
) -> None:
    run = alerting(make_context, smtp_server.settings())

    first = await run("after", "before")
    polled_again = await run("after", "before")

    assert first["alertSent"] is True and first["alertError"] is None
    assert polled_again["alertSent"] is True
    (envelope,) = smtp_server.inbox.envelopes  # the second query did not mail again
    assert envelope.rcpt_tos == ["ops@example.com", "data@example.com"]
    (message,) = smtp_server.inbox.messages
    assert message["Subject"].strip() == (
        "[salescope] Drift: dataset 'after' drifted from 'before' (2 of 2 features, 100%)"
    )
    body = message.get_content()
    assert "- satisfaction_score (numeric): KS statistic 1" in body
    assert "- region (categorical): CHI_SQUARE statistic 13.33" in body


async def test_no_drift_sends_nothing(
    make_context: Callable[[], Context], smtp_server: SmtpServer
) -> None:
    report = await alerting(make_context, smtp_server.settings())("tiny", "tiny")

    assert report["drifted"] is False
    assert report["alertSent"] is False
    assert smtp_server.inbox.envelopes == []


async def test_an_unreachable_mail_server_does_not_fail_the_query(
    make_context: Callable[[], Context], datasets: AnalyticsStore
) -> None:
    mail = MailSettings(
        host="127.0.0.1", port=free_port(), recipients=("ops@example.com",), timeout=2.0
    )
    run = alerting(make_context, mail)

    report = await run("after", "before")

    assert report["drifted"] is True
    assert report["alertSent"] is False
    assert report["alertError"] == "the alert email could not be sent (ConnectionRefusedError)"
