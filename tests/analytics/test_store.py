from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from analytics.db import get_dataset, replace_dataset
from analytics.errors import DatasetNotFoundError, InvalidArgumentError
from analytics.frames import DatasetFrames, load_frames, load_snapshot, save_snapshot
from analytics.kpis import compute_kpis
from analytics.store import AnalyticsStore
from tests.conftest import tiny_tables


def _assert_same_frames(left: DatasetFrames, right: DatasetFrames) -> None:
    for name in ("customers", "products", "sales_reps", "orders", "lines"):
        a = getattr(left, name).reset_index(drop=True)
        b = getattr(right, name).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_like=True, obj=name)


def test_snapshot_round_trip_equals_the_database(tiny_dataset: Engine, tmp_path: Path) -> None:
    from_db = load_frames(tiny_dataset, "tiny", 1)

    save_snapshot(from_db, tmp_path)
    from_disk = load_snapshot(tmp_path, "tiny", 1)

    assert from_disk is not None
    _assert_same_frames(from_db, from_disk)
    assert load_snapshot(tmp_path, "tiny", 2) is None


def test_published_tables_equal_what_the_database_returns(engine: Engine, tmp_path: Path) -> None:
    tables = tiny_tables()
    dataset = replace_dataset(engine, "tiny", "Tiny", tables)
    store = AnalyticsStore(engine, snapshot_dir=tmp_path)

    published = store.publish(dataset, tables)

    _assert_same_frames(published, load_frames(engine, "tiny", 1))
    assert (tmp_path / "tiny" / "v1" / "lines.parquet").is_file()


def test_store_reads_the_snapshot_and_follows_new_versions(engine: Engine, tmp_path: Path) -> None:
    replace_dataset(engine, "tiny", "Tiny", tiny_tables())
    store = AnalyticsStore(engine, snapshot_dir=tmp_path)
    assert store.compute("tiny", "kpis", compute_kpis).total_revenue == 100.0
    assert (tmp_path / "tiny" / "v1").is_dir()

    # A second process (fresh store) reads the snapshot rather than the tables.
    fresh = AnalyticsStore(engine, snapshot_dir=tmp_path)
    assert fresh.compute("tiny", "kpis", compute_kpis).total_revenue == 100.0

    smaller = tiny_tables()
    smaller = type(smaller)(
        smaller.customers,
        smaller.products,
        smaller.sales_reps,
        smaller.orders.iloc[:1],
        smaller.order_items.iloc[:1],
    )
    replace_dataset(engine, "tiny", "Tiny", smaller)

    assert get_dataset(engine, "tiny").version == 2
    assert store.compute("tiny", "kpis", compute_kpis).total_revenue == 20.0
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["v2"]
    assert store.cache.misses >= 2


def test_unknown_dataset_and_unsafe_ids_are_refused(engine: Engine, tmp_path: Path) -> None:
    store = AnalyticsStore(engine, snapshot_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError):
        store.compute("missing", "kpis", compute_kpis)
    with pytest.raises(InvalidArgumentError, match="dataset"):
        replace_dataset(engine, "../escape", "Bad", tiny_tables())
    with pytest.raises(InvalidArgumentError):
        load_snapshot(tmp_path, "../escape", 1)
