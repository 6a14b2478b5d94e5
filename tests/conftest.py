"""Fixtures shared by every test package: databases and tiny datasets."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.db import DatasetTables, create_db_engine, create_tables, replace_dataset

POSTGRES_URL = os.environ.get(
    "SALESCOPE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_engine() -> Iterator[Engine]:
    """An engine on a schema of its own, dropped afterwards, so runs never collide."""
    schema = f"salescope_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as error:
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must be reachable in CI at {POSTGRES_URL}: {error}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    engine = sa.create_engine(
        POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"}, pool_pre_ping=True
    )
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A fresh, empty salescope database on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "salescope.db"
        sqlite_engine = create_db_engine(f"sqlite:///{path}")
        create_tables(sqlite_engine)
        yield sqlite_engine
        sqlite_engine.dispose()
        return
    for pg_engine in _postgres_engine():
        create_tables(pg_engine)
        yield pg_engine


@pytest.fixture
def sqlite_engine(tmp_path: object) -> Iterator[Engine]:
    from pathlib import Path

    engine = create_db_engine(f"sqlite:///{Path(str(tmp_path)) / 'salescope.db'}")
    create_tables(engine)
    yield engine
    engine.dispose()


def tiny_tables() -> DatasetTables:
    """Three customers, three products, two reps, five orders in 2023-2024.

    Hand totals: revenue 20 + 15 + 30 + 10 + 25 = 100 over 5 orders;
    lifetime value C1 = 35, C2 = 40, C3 = 25; C4 never ordered.
    """
    customers = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "external_id": ["C1", "C2", "C3", "C4"],
            "name": ["Ada Lovelace", "Brian Kernighan", "Claude Shannon", "Dennis Ritchie"],
            "email": ["ada@example.com", "bwk@example.com", "cs@example.com", None],
            "region": ["North", "South", "North", "East"],
            "country": ["UK", "US", "US", "US"],
            "signup_date": pd.to_datetime(["2022-12-01", "2023-01-15", "2023-06-01", "2024-03-01"]),
            "satisfaction_score": [5.0, 3.0, None, 4.0],
        }
    )
    products = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "sku": ["BK-1", "BK-2", "TOY-1"],
            "name": ["Book one", "Book two", "Toy"],
            "category": ["Books", "Books", "Toys"],
            "unit_price": [10.0, 5.0, 15.0],
        }
    )
    sales_reps = pd.DataFrame({"id": [1, 2], "name": ["Rita", "Sam"], "region": ["North", "South"]})
    orders = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "external_id": ["O1", "O2", "O3", "O4", "O5"],
            "customer_id": [1, 1, 2, 2, 3],
            "order_date": pd.to_datetime(
                ["2023-02-01", "2024-02-01", "2023-03-10", "2024-05-20", "2024-06-30"]
            ),
            "status": ["completed"] * 5,
            "channel": ["online", "store", "online", "phone", "online"],
            "sales_rep_id": pd.array([1, 1, 2, None, 1], dtype="Int64"),
            "total": [20.0, 15.0, 30.0, 10.0, 25.0],
        }
    )
    order_items = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "order_id": [1, 2, 2, 3, 4, 5],
            "product_id": pd.array([1, 2, 2, 3, 1, 2], dtype="Int64"),
            "quantity": [2.0, 1.0, 2.0, 2.0, 1.0, 5.0],
            "unit_price": [10.0, 5.0, 5.0, 15.0, 10.0, 5.0],
            "amount": [20.0, 5.0, 10.0, 30.0, 10.0, 25.0],
        }
    )
    return DatasetTables(customers, products, sales_reps, orders, order_items)


@pytest.fixture
def tiny_dataset(engine: Engine) -> Engine:
    """``engine`` holding ``tiny_tables()`` as dataset ``tiny``."""
    replace_dataset(engine, "tiny", "Tiny shop", tiny_tables())
    return engine
