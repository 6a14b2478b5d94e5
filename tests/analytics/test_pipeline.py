"""The upload analysis: every part reported, each succeeding or failing on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from analytics.churn import churn_risk
from analytics.demo import create_demo_dataset
from analytics.pipeline import analyse_dataset
from analytics.segmentation import SegmentationMethod, segment_dataset
from analytics.store import AnalyticsStore

pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> AnalyticsStore:
    create_demo_dataset(engine, "demo", customers=300, seed=7)
    return AnalyticsStore(engine, snapshot_dir=tmp_path / "frames")


def test_a_demo_store_gets_every_part(store: AnalyticsStore, tmp_path: Path) -> None:
    report = analyse_dataset(store, "demo", model_dir=tmp_path / "models", timeout=120)

    assert {name: part["success"] for name, part in report.items()} == {
        "kpis": True, "churn": True, "segmentation": True, "sales": True,
    }  # fmt: skip
    json.dumps(report, allow_nan=False)
    churn = report["churn"]["data"]
    assert set(churn) >= {"metrics", "churn_rate_trends", "top_churn_customers", "churn_factors"}
    assert set(churn["metrics"]) >= {"current_churn_rate", "average_churn_prob", "total_churners"}
    segmentation = report["segmentation"]["data"]
    assert len(segmentation["segmented_customers"]) == 300
    sales = report["sales"]["data"]
    assert len(sales["top10_products"]) == 10
    assert len(sales["seasonal_patterns"]["by_month"]) == 12
    assert len(sales["forecast"]["points"]) == 3


def test_the_report_uses_the_numbers_graphql_serves(store: AnalyticsStore, tmp_path: Path) -> None:
    report = analyse_dataset(store, "demo", model_dir=tmp_path / "models", timeout=120)

    churn = churn_risk(store, "demo", timeout=120)
    segments = segment_dataset(
        store, "demo", SegmentationMethod.KMEANS, model_dir=tmp_path / "models", timeout=120
    )
    metrics = report["churn"]["data"]["metrics"]
    assert metrics["total_churners"] == churn.total_churners
    assert metrics["current_churn_rate"] == pytest.approx(churn.current_churn_rate)
    sizes = report["segmentation"]["data"]["cluster_metrics"]["cluster_sizes"]
    assert sorted(sizes.values()) == sorted(s.size for s in segments.segments)


def test_a_failing_part_leaves_the_others(tiny_dataset: Engine, tmp_path: Path) -> None:
    store = AnalyticsStore(tiny_dataset)

    report = analyse_dataset(store, "tiny", model_dir=tmp_path / "models", timeout=120)

    assert report["kpis"]["success"] is True
    assert report["kpis"]["data"]["total_revenue"] == 100.0
    assert report["sales"]["success"] is True
    assert len(report["sales"]["data"]["forecast"]["points"]) == 3
    assert report["churn"] == {"success": False, "error": report["churn"]["error"]}
    assert "at least 20" in report["churn"]["error"]
    assert report["segmentation"]["success"] is False
    assert "at least 10" in report["segmentation"]["error"]


def test_a_fit_that_times_out_fails_only_its_part(store: AnalyticsStore, tmp_path: Path) -> None:
    report = analyse_dataset(store, "demo", model_dir=tmp_path / "models", timeout=0.001)

    assert report["kpis"]["success"] is True
    assert report["sales"]["success"] is True
    for part in ("churn", "segmentation"):
        assert report[part]["success"] is False
        assert "was stopped" in report[part]["error"]
