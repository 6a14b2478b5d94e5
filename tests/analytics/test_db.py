from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.db import (
    create_db_engine,
    create_tables,
    delete_dataset,
    get_dataset,
    list_datasets,
    replace_dataset,
)
from analytics.errors import DatasetNotFoundError
from analytics.frames import load_frames
from tests.conftest import tiny_tables


def test_replace_dataset_round_trips_through_frames(engine: Engine) -> None:
    dataset = replace_dataset(engine, "tiny", "Tiny shop", tiny_tables())
    assert (dataset.version, dataset.rows_imported) == (1, 6)

    frames = load_frames(engine, "tiny", dataset.version)

    assert frames.lines["amount"].sum() == 100.0
    assert frames.orders["order_id"].nunique() == 5
    assert frames.default_as_of.isoformat() == "2024-07-01"
    by_customer = frames.lines.groupby("customer_id")["amount"].sum().to_dict()
    assert by_customer == {1: 35.0, 2: 40.0, 3: 25.0}
    assert frames.lines.loc[frames.lines["order_id"] == 4, "sales_rep_id"].isna().all()
    assert sorted(frames.lines["category"].unique()) == ["Books", "Toys"]


def test_reimport_replaces_rows_and_bumps_version(engine: Engine) -> None:
    replace_dataset(engine, "tiny", "Tiny shop", tiny_tables())
    smaller = tiny_tables()
    smaller = dataclasses.replace(
        smaller,
        orders=smaller.orders.iloc[:1],
        order_items=smaller.order_items.iloc[:1],
    )

    dataset = replace_dataset(engine, "tiny", "Tiny shop v2", smaller)

    assert (dataset.version, dataset.name) == (2, "Tiny shop v2")
    with engine.connect() as conn:
        items = conn.execute(sa.text("SELECT COUNT(*) FROM order_items")).scalar()
    assert items == 1


def test_failed_write_leaves_previous_dataset_intact(engine: Engine) -> None:
    replace_dataset(engine, "tiny", "Tiny shop", tiny_tables())
    broken = tiny_tables()
    # An order line pointing at an order that does not exist violates the foreign key.
    items = broken.order_items.copy()
    items.loc[0, "order_id"] = 99
    broken = dataclasses.replace(broken, order_items=items)

    with pytest.raises(sa.exc.IntegrityError):
        replace_dataset(engine, "tiny", "Broken", broken)

    dataset = get_dataset(engine, "tiny")
    assert (dataset.version, dataset.name) == (1, "Tiny shop")
    assert load_frames(engine, "tiny", 1).lines["amount"].sum() == 100.0


def test_datasets_are_isolated_and_deletable(engine: Engine) -> None:
    replace_dataset(engine, "a", "A", tiny_tables())
    replace_dataset(engine, "b", "B", tiny_tables())

    delete_dataset(engine, "a")

    assert [d.id for d in list_datasets(engine)] == ["b"]
    assert len(load_frames(engine, "b", 1).lines) == 6
    with pytest.raises(DatasetNotFoundError, match="'a'"):
        get_dataset(engine, "a")
    with pytest.raises(DatasetNotFoundError):
        delete_dataset(engine, "a")


def test_missing_values_survive_the_round_trip(engine: Engine) -> None:
    replace_dataset(engine, "tiny", "Tiny shop", tiny_tables())
    customers = load_frames(engine, "tiny", 1).customers.set_index("external_id")
    assert pd.isna(customers.loc["C3", "satisfaction_score"])
    assert pd.isna(customers.loc["C4", "email"])
    assert customers.loc["C1", "signup_date"] == pd.Timestamp("2022-12-01")


def test_processes_racing_to_create_tables_all_succeed(tmp_path: Path) -> None:
    import threading

    url = f"sqlite:///{tmp_path / 'race.db'}"
    engines = [create_db_engine(url) for _ in range(4)]
    failures: list[BaseException] = []
    start = threading.Barrier(len(engines))

    def create(engine: Engine) -> None:
        start.wait()
        try:
            create_tables(engine)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=create, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert "api_keys" in sa.inspect(engines[0]).get_table_names()
    for engine in engines:
        engine.dispose()
