"""The askAI tool catalogue on the demo store: schemas, validation, numbers, scope."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pytest

from analytics.ask.toolbox import Toolbox, ToolError, ToolScope
from analytics.ask.tools import CATALOGUE
from analytics.churn import churn_risk
from analytics.clv import predict_lifetime_value
from analytics.db import create_db_engine, create_tables
from analytics.demo import create_demo_dataset
from analytics.errors import CustomerNotFoundError
from analytics.forecast import forecast_revenue
from analytics.frames import DatasetFrames
from analytics.periods import DateRange
from analytics.rfm import score_rfm
from analytics.store import AnalyticsStore

T = TypeVar("T")


class RecordingStore(AnalyticsStore):
    """A store that remembers which datasets were read and which keys computed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.datasets: set[str] = set()
        self.keys: list[Hashable] = []

    def frames(self, dataset_id: str, version: int | None = None) -> DatasetFrames:
        self.datasets.add(dataset_id)
        return super().frames(dataset_id, version)

    def compute(self, dataset_id: str, key: Hashable, analysis: Callable[[DatasetFrames], T]) -> T:
        self.datasets.add(dataset_id)
        self.keys.append(key)
        return super().compute(dataset_id, key, analysis)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingStore]:
    """The demo store (300 customers) next to a second dataset no tool may touch."""
    path = Path(tmp_path_factory.mktemp("ask-tools")) / "salescope.db"
    engine = create_db_engine(f"sqlite:///{path}")
    create_tables(engine)
    create_demo_dataset(engine, "demo", customers=300)
    create_demo_dataset(engine, "other", customers=40, seed=7)
    yield RecordingStore(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def frames(store: RecordingStore) -> DatasetFrames:
    return store.frames("demo")


def call(store: AnalyticsStore, name: str, arguments: dict[str, Any] | str | None = None) -> Any:
    return Toolbox(ToolScope(store, "demo"), CATALOGUE).call(name, arguments)


def revenue_between(frames: DatasetFrames, start: str, end: str) -> pd.DataFrame:
    lines = frames.lines
    return lines[(lines["order_date"] >= start) & (lines["order_date"] <= end)]


# --- The catalogue --------------------------------------------------------------


def _walk_schemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield schema
    for child in schema.get("properties", {}).values():
        yield from _walk_schemas(child)


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_every_tool_has_a_closed_schema_bounded_integers_and_examples(name: str) -> None:
    tool = CATALOGUE[name]

    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", tool.name)
    assert len(tool.description) >= 40
    assert 8 <= len(tool.examples) <= 15
    assert tool.parameters["type"] == "object"
    assert tool.parameters["additionalProperties"] is False
    for schema in _walk_schemas(dict(tool.parameters)):
        if schema.get("type") == "object":
            assert schema["additionalProperties"] is False
        if schema.get("type") == "integer":
            assert schema["minimum"] >= 1
            assert schema["maximum"] <= 60
    spec = tool.spec()
    assert spec["type"] == "function"
    assert spec["function"]["name"] == name
    json.dumps(spec)


def test_catalogue_covers_the_everyday_analytics() -> None:
    assert set(CATALOGUE) == {
        "get_kpis", "compare_kpis", "revenue_series", "top_customers", "customer_report",
        "category_performance", "sales_rep_performance", "region_performance", "top_products",
        "rfm_segments", "churn_summary", "sales_forecast", "lifetime_value",
        "customer_satisfaction",
    }  # fmt: skip
    assert CATALOGUE["revenue_series"].parameters["properties"]["granularity"]["enum"] == [
        "DAY", "WEEK", "MONTH", "QUARTER", "YEAR",
    ]  # fmt: skip
    assert CATALOGUE["sales_rep_performance"].parameters["properties"]["metric"]["enum"] == [
        "revenue",
        "orders_closed",
    ]


# --- Validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("revenue_series", {"granularity": "HOURLY"}, "granularity"),
        (
            "compare_kpis",
            {"metric": "profit", "start": "2025-01-01", "end": "2025-01-31"},
            "metric",
        ),
        ("top_customers", {"limit": 0}, "limit"),
        ("top_customers", {"limit": 51}, "limit"),
        ("top_customers", {"limit": "5"}, "limit"),
        ("sales_forecast", {"horizon": 13}, "horizon"),
        ("lifetime_value", {"horizon_months": 61}, "horizon_months"),
        ("get_kpis", {"start": "2025-01-01", "end": "2025-01-31", "dataset": "other"}, "dataset"),
        ("churn_summary", {"sql": "SELECT * FROM datasets"}, "sql"),
        ("get_kpis", {"start": "2025-01-01"}, "end"),
        ("get_kpis", {"start": "2025-13-01", "end": "2025-12-31"}, "period"),
        ("get_kpis", {"start": "2025-02-01", "end": "2025-01-01"}, "period"),
        ("get_kpis", {"start": "01/02/2025", "end": "2025-12-31"}, "start"),
        ("compare_kpis", {"metric": "revenue"}, "start"),
        ("customer_report", {}, "customer_id"),
        ("category_performance", {"category": "Weapons"}, "unknown category"),
        ("sales_rep_performance", {"region": "Atlantis"}, "unknown region"),
        ("get_kpis", "[1, 2]", "JSON object"),
        ("get_kpis", "{not json", "not valid JSON"),
        ("drop_table", {}, "unknown tool"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(
    store: RecordingStore, name: str, arguments: Any, message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        call(store, name, arguments)


def test_an_unknown_customer_is_not_found(store: RecordingStore) -> None:
    with pytest.raises(CustomerNotFoundError) as raised:
        call(store, "customer_report", {"customer_id": "C999999"})

    assert raised.value.code == "NOT_FOUND"


def test_a_question_may_make_only_a_few_calls(store: RecordingStore) -> None:
    toolbox = Toolbox(ToolScope(store, "demo"), CATALOGUE)
    for _ in range(toolbox.max_calls):
        toolbox.call("customer_satisfaction", {})

    with pytest.raises(ToolError, match="at most"):
        toolbox.call("customer_satisfaction", {})


# --- Results: compact, JSON-safe, shared with GraphQL ---------------------------------

DEFAULTS: dict[str, dict[str, Any]] = {
    "compare_kpis": {"metric": "revenue", "start": "2025-01-01", "end": "2025-12-31"},
    "customer_report": {"customer_id": "C000001"},
}


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_results_are_compact_json_with_money_in_cents(store: RecordingStore, name: str) -> None:
    result = call(store, name, DEFAULTS.get(name, {}))

    text = json.dumps(result.result, allow_nan=False)
    assert len(text) < 3000
    for key, value in _leaves(result.result):
        if isinstance(value, float) and key in ("revenue", "total_revenue", "lifetime_value"):
            assert value == round(value, 2)
    if name not in ("compare_kpis", "get_kpis"):
        assert result.figure is not None and "data" in result.figure


def _leaves(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for child_key, child in value.items():
            yield from _leaves(child, child_key)
    elif isinstance(value, list):
        for child in value:
            yield from _leaves(child, key)
    else:
        yield key, value


def test_tools_reuse_the_cache_keys_graphql_uses(store: RecordingStore) -> None:
    period = DateRange(dt.date(2025, 3, 1), dt.date(2025, 3, 31))
    call(store, "get_kpis", {"start": "2025-03-01", "end": "2025-03-31"})
    call(store, "top_customers", {"limit": 7})
    call(store, "rfm_segments", {})
    call(store, "sales_forecast", {"horizon": 2, "granularity": "QUARTER"})

    def fail(_: DatasetFrames) -> None:
        raise AssertionError("recomputed: the tool used another cache key")

    for key in (
        ("kpis", period),
        ("top_customers", 7),
        ("rfm", None),
        ("sales_forecast", 2, "QUARTER"),
    ):
        store.compute("demo", key, fail)


def test_only_the_callers_dataset_is_ever_read(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'salescope.db'}")
    create_tables(engine)
    create_demo_dataset(engine, "demo", customers=60)
    create_demo_dataset(engine, "other", customers=40, seed=7)
    recording = RecordingStore(engine)
    for name in CATALOGUE:
        if name not in ("churn_summary", "lifetime_value", "sales_forecast"):
            call(recording, name, DEFAULTS.get(name, {}))

    assert recording.datasets == {"demo"}
    engine.dispose()


# --- Numbers, checked against pandas on the frames --------------------------------------


def test_kpis_of_a_month_match_the_lines(store: RecordingStore, frames: DatasetFrames) -> None:
    data = call(store, "get_kpis", {"start": "2025-03-01", "end": "2025-03-31"}).result
    march = revenue_between(frames, "2025-03-01", "2025-03-31")

    assert data["total_revenue"] == round(march["amount"].sum(), 2)
    assert data["order_count"] == march["order_id"].nunique()
    assert data["average_order_value"] == round(
        march["amount"].sum() / march["order_id"].nunique(), 2
    )
    assert data["active_customers"] == march["customer_id"].nunique()
    assert data["period"] == {"start": "2025-03-01", "end": "2025-03-31"}


def test_kpis_without_a_period_cover_all_orders(
    store: RecordingStore, frames: DatasetFrames
) -> None:
    data = call(store, "get_kpis", {}).result

    assert data["period"] is None
    assert data["as_of"] == "2026-01-01"
    assert data["total_revenue"] == round(frames.lines["amount"].sum(), 2)
    assert data["total_customers"] == len(frames.customers)


def test_compare_kpis_gives_both_values_the_difference_and_the_change(
    store: RecordingStore, frames: DatasetFrames
) -> None:
    data = call(
        store,
        "compare_kpis",
        {
            "metric": "average_order_value",
            "start": "2025-01-01",
            "end": "2025-12-31",
            "compare_start": "2024-01-01",
            "compare_end": "2024-12-31",
        },
    ).result

    def aov(start: str, end: str) -> float:
        lines = revenue_between(frames, start, end)
        return float(lines["amount"].sum() / lines["order_id"].nunique())

    now, before = aov("2025-01-01", "2025-12-31"), aov("2024-01-01", "2024-12-31")
    assert data["current"]["value"] == round(now, 2)
    assert data["baseline"]["value"] == round(before, 2)
    assert data["difference"] == pytest.approx(round(now, 2) - round(before, 2), abs=0.011)
    assert data["percent_change"] == pytest.approx(100 * (now - before) / before, abs=0.06)


def test_compare_kpis_defaults_to_the_period_just_before(store: RecordingStore) -> None:
    data = call(
        store, "compare_kpis", {"metric": "orders", "start": "2025-03-01", "end": "2025-03-31"}
    ).result

    assert data["baseline"]["start"] == "2025-01-29"
    assert data["baseline"]["end"] == "2025-02-28"
    assert isinstance(data["difference"], int)


def test_revenue_series_totals_and_extremes(store: RecordingStore, frames: DatasetFrames) -> None:
    data = call(store, "revenue_series", {"granularity": "QUARTER"}).result
    quarters = frames.lines.groupby(frames.lines["order_date"].dt.to_period("Q"))["amount"].sum()

    assert data["total_revenue"] == round(frames.lines["amount"].sum(), 2)
    assert data["buckets"] == len(quarters) == 16
    assert data["highest"]["revenue"] == round(quarters.max(), 2)
    assert data["highest"]["period_start"] == quarters.idxmax().start_time.date().isoformat()
    assert data["lowest"]["revenue"] == round(quarters.min(), 2)
    assert data["points_omitted"] == 0


def test_a_long_series_shows_only_its_latest_points(store: RecordingStore) -> None:
    data = call(store, "revenue_series", {"granularity": "WEEK"}).result

    assert len(data["points"]) == 24
    assert data["points_omitted"] == data["buckets"] - 24 > 0


def test_top_customers_by_value_and_by_orders(store: RecordingStore, frames: DatasetFrames) -> None:
    lines = frames.lines
    ids = frames.customers.set_index("customer_id")["external_id"]
    value = lines.groupby("customer_id")["amount"].sum()
    orders = lines.groupby("customer_id")["order_id"].nunique()

    by_value = call(store, "top_customers", {"limit": 3}).result
    by_orders = call(store, "top_customers", {"limit": 3, "metric": "orders"}).result

    assert by_value["count"] == 3
    assert [c["customer_id"] for c in by_value["customers"]] == list(
        ids[value.sort_values(ascending=False).index[:3]]
    )
    assert by_value["customers"][0]["lifetime_value"] == round(value.max(), 2)
    assert by_orders["customers"][0]["order_count"] == orders.max()


def test_customer_report_by_source_id(store: RecordingStore, frames: DatasetFrames) -> None:
    data = call(store, "customer_report", {"customer_id": "C000042"}).result
    customer = frames.customers.set_index("external_id").loc["C000042"]
    lines = frames.lines[frames.lines["customer_id"] == customer["customer_id"]]

    assert data["name"] == customer["name"]
    assert data["lifetime_value"] == round(lines["amount"].sum(), 2)
    assert data["order_count"] == lines["order_id"].nunique()
    assert data["last_order_date"] == lines["order_date"].max().date().isoformat()
    assert "email" not in data


def test_category_performance_with_a_named_category(
    store: RecordingStore, frames: DatasetFrames
) -> None:
    data = call(
        store,
        "category_performance",
        {"start": "2024-01-01", "end": "2024-12-31", "category": "books", "limit": 2},
    ).result
    lines = revenue_between(frames, "2024-01-01", "2024-12-31")
    revenue = lines.groupby("category")["amount"].sum().sort_values(ascending=False)

    assert len(data["categories"]) == 2
    assert data["categories"][0]["category"] == revenue.index[0]
    assert data["selected"]["category"] == "Books"
    assert data["selected"]["revenue"] == round(revenue["Books"], 2)
    assert data["selected"]["rank"] == list(revenue.index).index("Books") + 1
    assert data["lowest"]["category"] == revenue.index[-1]


def test_sales_reps_by_orders_closed_in_a_region(
    store: RecordingStore, frames: DatasetFrames
) -> None:
    data = call(
        store, "sales_rep_performance", {"metric": "orders_closed", "region": "north"}
    ).result
    reps = frames.sales_reps.set_index("sales_rep_id")
    closed = frames.orders.groupby("sales_rep_id")["order_id"].nunique()
    north = closed[reps.loc[closed.index, "region"] == "North"].sort_values(ascending=False)

    assert data["region"] == "North"
    assert data["rep_count"] == 3
    assert data["reps"][0]["name"] == reps.loc[north.index[0], "name"]
    assert data["reps"][0]["orders_closed"] == north.iloc[0]
    assert data["lowest"]["orders_closed"] == north.iloc[-1]


def test_region_performance_adds_up_to_the_total(
    store: RecordingStore, frames: DatasetFrames
) -> None:
    data = call(store, "region_performance", {"start": "2025-01-01", "end": "2025-12-31"}).result
    lines = revenue_between(frames, "2025-01-01", "2025-12-31")
    regions = lines.groupby("region")["amount"].sum().sort_values(ascending=False)
    orders = lines.groupby("region")["order_id"].nunique()

    assert [row["region"] for row in data["regions"]] == list(regions.index)
    for row in data["regions"]:
        assert row["revenue"] == round(regions[row["region"]], 2)
        assert row["orders"] == orders[row["region"]]
    assert data["total_revenue"] == round(lines["amount"].sum(), 2)


def test_top_products_of_a_period(store: RecordingStore, frames: DatasetFrames) -> None:
    data = call(
        store, "top_products", {"start": "2025-01-01", "end": "2025-12-31", "limit": 3}
    ).result
    lines = revenue_between(frames, "2025-01-01", "2025-12-31")
    revenue = lines.groupby("product_id")["amount"].sum().sort_values(ascending=False)
    skus = frames.products.set_index("product_id")["sku"]

    assert [p["sku"] for p in data["products"]] == list(skus[revenue.index[:3]])
    assert data["products"][0]["revenue"] == round(revenue.iloc[0], 2)


def test_rfm_segments_match_the_scoring(store: RecordingStore, frames: DatasetFrames) -> None:
    data = call(store, "rfm_segments", {"segment": "Champions"}).result
    scored = score_rfm(frames).customers

    assert data["scored_customers"] == len(scored)
    assert data["selected"]["customers"] == int((scored["segment"] == "Champions").sum())
    assert sum(row["customers"] for row in data["segments"]) == len(scored)


def test_churn_summary_is_the_cached_churn_analysis(store: RecordingStore) -> None:
    data = call(store, "churn_summary", {"limit": 3}).result
    result = churn_risk(store, "demo")

    assert data["total_churners"] == result.total_churners
    assert data["current_churn_rate_pct"] == round(result.current_churn_rate, 1)
    assert sum(level["customers"] for level in data["risk_levels"]) == result.scored_customers
    assert [row["customer_id"] for row in data["top_at_risk"]] == [
        risk.customer_id for risk in result.top_at_risk(3)
    ]


def test_sales_forecast_and_lifetime_value_match_the_analytics(
    store: RecordingStore, frames: DatasetFrames
) -> None:
    forecast = call(store, "sales_forecast", {"horizon": 4, "granularity": "MONTH"}).result
    expected = forecast_revenue(frames, horizon=4)
    clv = call(store, "lifetime_value", {"horizon_months": 6}).result
    value = predict_lifetime_value(frames, horizon_months=6)

    assert [p["revenue"] for p in forecast["points"]] == [
        round(p.revenue, 2) for p in expected.points
    ]
    assert forecast["total_forecast"] == round(sum(p.revenue for p in expected.points), 2)
    assert clv["total_predicted_value"] == round(value.total_predicted_value, 2)
    assert clv["customers_modelled"] == value.customer_count
    assert len(clv["top_customers"]) == 5


def test_customer_satisfaction_average(store: RecordingStore, frames: DatasetFrames) -> None:
    data = call(store, "customer_satisfaction", {}).result
    scores = frames.customers["satisfaction_score"].dropna()

    assert data["respondents"] == len(scores)
    assert data["average"] == round(scores.mean(), 2)
