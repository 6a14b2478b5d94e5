from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from analytics import db
from analytics.demo import create_demo_dataset, generate_demo_tables
from analytics.frames import load_frames

TABLES = ("customers", "products", "sales_reps", "orders", "order_items")


@pytest.fixture(scope="module")
def demo() -> db.DatasetTables:
    return generate_demo_tables(2000, seed=42)


def test_same_seed_gives_identical_tables() -> None:
    first = generate_demo_tables(300, seed=7)
    second = generate_demo_tables(300, seed=7)

    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))


def test_different_seed_gives_different_orders() -> None:
    first = generate_demo_tables(300, seed=7)
    other = generate_demo_tables(300, seed=8)

    assert not first.orders["order_date"].equals(other.orders["order_date"])


def test_demo_shape(demo: db.DatasetTables) -> None:
    assert len(demo.customers) == 2000
    assert 8 <= len(demo.order_items) / 2000 <= 12
    assert len(demo.sales_reps) == 12
    assert demo.products["category"].nunique() == 8
    assert 140 <= len(demo.products) <= 160
    assert demo.products["sku"].is_unique
    assert demo.customers["external_id"].is_unique
    assert demo.orders["order_date"].min() >= pd.Timestamp("2022-01-01")
    assert demo.orders["order_date"].max() <= pd.Timestamp("2025-12-31")
    assert set(demo.orders["channel"]) == {"online", "store", "phone"}
    assert 0.9 < (demo.orders["status"] == "completed").mean() < 1.0
    assert set(demo.orders["status"]) == {"completed", "returned"}


def test_demo_totals_are_the_sum_of_lines(demo: db.DatasetTables) -> None:
    lines = demo.order_items.groupby("order_id")["amount"].sum()
    totals = demo.orders.set_index("id")["total"]

    np.testing.assert_allclose(lines.reindex(totals.index).to_numpy(), totals.to_numpy())
    np.testing.assert_allclose(
        demo.order_items["amount"],
        (demo.order_items["quantity"] * demo.order_items["unit_price"]).round(2),
    )


def test_demo_has_every_kind_of_customer(demo: db.DatasetTables) -> None:
    orders = demo.orders
    per_customer = orders.groupby("customer_id").agg(
        count=("id", "size"), last=("order_date", "max")
    )
    end = pd.Timestamp("2025-12-31")

    assert len(per_customer) == 2000
    assert (per_customer["count"] == 1).mean() > 0.1
    assert (per_customer["count"] >= 10).mean() > 0.05
    lapsed = per_customer["last"] < end - pd.Timedelta(days=180)
    assert 0.2 < lapsed.mean() < 0.7
    assert (per_customer["last"] > end - pd.Timedelta(days=30)).mean() > 0.1


def test_demo_satisfaction_follows_loyalty(demo: db.DatasetTables) -> None:
    scores = demo.customers.set_index("id")["satisfaction_score"]
    counts = demo.orders.groupby("customer_id").size()

    assert set(scores.dropna().unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert scores.corr(counts) > 0.1


def test_demo_has_seasonality_and_growth(demo: db.DatasetTables) -> None:
    orders = demo.orders
    month = orders.groupby(orders["order_date"].dt.month)["total"].sum()
    year = orders.groupby(orders["order_date"].dt.year)["total"].sum()

    assert month[12] > 1.5 * month[7]
    assert month[11] > month[6]
    assert year.is_monotonic_increasing


def test_signups_grow_over_time(demo: db.DatasetTables) -> None:
    years = demo.customers["signup_date"].dt.year.value_counts()

    assert years[2025] > years[2022]


def test_create_demo_dataset_writes_and_loads(engine: Engine) -> None:
    calls: list[float] = []
    dataset = create_demo_dataset(
        engine, customers=200, seed=3, progress=lambda f, _s: calls.append(f)
    )
    again = create_demo_dataset(engine, customers=200, seed=3)

    tables = generate_demo_tables(200, seed=3)
    frames = load_frames(engine, "demo", again.version)
    assert dataset.name == "Demo store"
    assert dataset.id == "demo"
    assert again.version == dataset.version + 1
    assert len(frames.customers) == 200
    assert len(frames.lines) == len(tables.order_items)
    assert frames.orders["total"].sum() == pytest.approx(tables.orders["total"].sum())
    assert frames.lines["category"].notna().all()
    assert frames.lines["region"].notna().all()
    assert calls == sorted(calls)
    assert calls[-1] == pytest.approx(1.0)
