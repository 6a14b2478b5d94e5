"""Tables, engine and the atomic dataset writer.

Every row table is keyed by ``(dataset_id, id)``: each dataset owns its own id
space, so a dataset can be written in bulk with ids assigned in memory and
replaced in one transaction without touching any other dataset.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import JSON, Column, Field, SQLModel, select

from analytics.errors import DatasetNotFoundError, InvalidArgumentError

ProgressCallback = Callable[[float, str], None]
# Called with what was just committed, e.g. to snapshot frames without reading them back.
PublishCallback = Callable[["Dataset", "DatasetTables"], object]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Dataset(SQLModel, table=True):
    __tablename__ = "datasets"

    id: str = Field(primary_key=True, max_length=64)
    name: str
    kind: str = "transactions"
    source_filename: str | None = None
    source_format: str | None = None
    source_size: int | None = None
    source_sha256: str | None = None
    rows_read: int = 0
    rows_imported: int = 0
    rows_rejected: int = 0
    version: int = 1
    created_at: dt.datetime = Field(default_factory=_utcnow)
    updated_at: dt.datetime = Field(default_factory=_utcnow)


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (
        sa.UniqueConstraint("dataset_id", "external_id"),
        sa.Index("ix_customers_dataset_region", "dataset_id", "region"),
    )

    dataset_id: str = Field(foreign_key="datasets.id", primary_key=True, max_length=64)
    id: int = Field(primary_key=True)
    external_id: str
    name: str | None = None
    email: str | None = None
    region: str | None = None
    country: str | None = None
    signup_date: dt.date | None = None
    satisfaction_score: float | None = None
    attributes: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class Product(SQLModel, table=True):
    __tablename__ = "products"
    __table_args__ = (sa.UniqueConstraint("dataset_id", "sku"),)

    dataset_id: str = Field(foreign_key="datasets.id", primary_key=True, max_length=64)
    id: int = Field(primary_key=True)
    sku: str
    name: str | None = None
    category: str | None = None
    unit_price: float | None = None


class SalesRep(SQLModel, table=True):
    __tablename__ = "sales_reps"

    dataset_id: str = Field(foreign_key="datasets.id", primary_key=True, max_length=64)
    id: int = Field(primary_key=True)
    name: str
    region: str | None = None


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["dataset_id", "customer_id"], ["customers.dataset_id", "customers.id"]
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id", "sales_rep_id"], ["sales_reps.dataset_id", "sales_reps.id"]
        ),
        sa.Index("ix_orders_dataset_customer", "dataset_id", "customer_id"),
        sa.Index("ix_orders_dataset_date", "dataset_id", "order_date"),
    )

    dataset_id: str = Field(foreign_key="datasets.id", primary_key=True, max_length=64)
    id: int = Field(primary_key=True)
    external_id: str
    customer_id: int
    order_date: dt.date
    status: str | None = None
    channel: str | None = None
    sales_rep_id: int | None = None
    total: float


class OrderItem(SQLModel, table=True):
    __tablename__ = "order_items"
    __table_args__ = (
        sa.ForeignKeyConstraint(["dataset_id", "order_id"], ["orders.dataset_id", "orders.id"]),
        sa.ForeignKeyConstraint(
            ["dataset_id", "product_id"], ["products.dataset_id", "products.id"]
        ),
        sa.Index("ix_order_items_dataset_order", "dataset_id", "order_id"),
    )

    dataset_id: str = Field(foreign_key="datasets.id", primary_key=True, max_length=64)
    id: int = Field(primary_key=True)
    order_id: int
    product_id: int | None = None
    quantity: float
    unit_price: float | None = None
    amount: float


QUEUED, RUNNING, COMPLETED, FAILED = "queued", "running", "completed", "failed"


class AnalysisJob(SQLModel, table=True):
    __tablename__ = "analysis_jobs"
    __table_args__ = (sa.Index("ix_analysis_jobs_dataset_created", "dataset_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=64)
    dataset_id: str = Field(max_length=64)
    kind: str = "analysis"
    status: str = QUEUED
    progress: float = 0.0
    stage: str = "queued"
    error: str | None = None
    params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    attempts: int = 0
    created_at: dt.datetime = Field(default_factory=_utcnow)
    started_at: dt.datetime | None = None
    updated_at: dt.datetime = Field(default_factory=_utcnow)
    completed_at: dt.datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in (COMPLETED, FAILED)


class ModelVersion(SQLModel, table=True):
    """A trained model: what it was fitted on, how well, and where its pipeline is saved.

    ``dataset_id`` is not a foreign key: a model outlives the dataset it was
    trained on (it can still assign new customers and serve as a drift reference).
    """

    __tablename__ = "model_versions"
    __table_args__ = (
        sa.UniqueConstraint("dataset_id", "kind", "method", "version"),
        sa.Index("ix_model_versions_created", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=64)
    dataset_id: str = Field(max_length=64)
    dataset_version: int
    kind: str = Field(max_length=32)  # "segmentation", "churn"
    method: str = Field(max_length=32)  # "kmeans", "dbscan", ...
    version: int  # 1, 2, ... per (dataset, kind, method)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    features: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    fingerprint: str = Field(max_length=64)  # sha256 of the training feature table
    # A sample of the training features (analytics.features.describe_reference).
    reference: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    artifact_path: str  # relative to the model directory
    created_at: dt.datetime = Field(default_factory=_utcnow)


class AiConversation(SQLModel, table=True):
    """An askAI conversation: the questions so far, so a follow-up can reuse their tool.

    Bound to one dataset and one caller. ``dataset_id`` is not a foreign key,
    so deleting a dataset never fails on its conversations.
    """

    __tablename__ = "ai_conversations"

    id: str = Field(primary_key=True, max_length=64)
    dataset_id: str = Field(max_length=64)
    caller: str = Field(max_length=128)
    # [{"question": ..., "tool": ... or null, "arguments": {...}}, ...], oldest first.
    turns: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: dt.datetime = Field(default_factory=_utcnow)
    updated_at: dt.datetime = Field(default_factory=_utcnow)


class AiSpend(SQLModel, table=True):
    """What one caller spent on askAI in one UTC day: the daily budget's ledger."""

    __tablename__ = "ai_spend"
    __table_args__ = (sa.UniqueConstraint("caller", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    caller: str = Field(max_length=128)
    day: dt.date
    cost_usd: float = 0.0
    questions: int = 0


class ApiKey(SQLModel, table=True):
    """An API key: only a salted hash of its secret is kept (analytics.access)."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=100)
    role: str = Field(max_length=16)  # viewer, analyst, admin
    # The datasets the key may see; ``None`` means every dataset.
    datasets: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    salt: str = Field(max_length=64)
    secret_hash: str = Field(max_length=128)
    created_at: dt.datetime = Field(default_factory=_utcnow)
    revoked_at: dt.datetime | None = None


class AuditEntry(SQLModel, table=True):
    """Who did what, to what, with what outcome (analytics.audit)."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=_utcnow)
    actor: str = Field(max_length=160)  # "key:<id>", "jwt:<sub>", "anonymous", "cli"
    role: str | None = Field(default=None, max_length=16)
    action: str = Field(max_length=100)
    target: str | None = Field(default=None, max_length=300)
    outcome: str = Field(max_length=16)  # success, denied, failed
    status: int | None = None  # the HTTP status, when there is one
    ip: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=500)


# Children before parents: the order rows are deleted in and parents inserted first.
ROW_TABLES: tuple[type[SQLModel], ...] = (Customer, Product, SalesRep, Order, OrderItem)


def empty_frame(model: type[SQLModel]) -> pd.DataFrame:
    """A frame with ``model``'s row columns (no ``dataset_id``), typed, without rows."""
    table = model.__table__  # type: ignore[attr-defined]
    columns = {}
    for column in table.columns:
        if column.name == "dataset_id":
            continue
        if isinstance(column.type, sa.Date | sa.DateTime):
            dtype = "datetime64[ns]"
        elif isinstance(column.type, sa.Integer):
            dtype = "Int64" if column.nullable else "int64"
        elif isinstance(column.type, sa.Float):
            dtype = "float64"
        else:
            dtype = "object"
        columns[column.name] = pd.Series(dtype=dtype)
    return pd.DataFrame(columns)


def create_db_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def create_tables(engine: Engine) -> None:
    """Create missing tables; safe when several processes start on one new database.

    Creating checks, then creates: a process that loses the race for a table
    finds it made meanwhile, which is what it wanted.
    """
    for table in SQLModel.metadata.sorted_tables:
        try:
            table.create(engine, checkfirst=True)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError):
            if not sa.inspect(engine).has_table(table.name):
                raise


@dataclass(frozen=True)
class DatasetTables:
    """A whole dataset in memory, ids assigned, ready to be written.

    Every frame's ``id`` column holds the row's id within the dataset; foreign
    key columns (``customer_id``, ``order_id``, ``product_id``,
    ``sales_rep_id``) refer to those ids. Date columns are ``datetime64``.
    """

    customers: pd.DataFrame
    products: pd.DataFrame
    sales_reps: pd.DataFrame
    orders: pd.DataFrame
    order_items: pd.DataFrame


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset's rows came from (kept as metadata only)."""

    filename: str | None = None
    format: str | None = None
    size: int | None = None
    sha256: str | None = None
    rows_read: int = 0
    rows_rejected: int = 0


_DATASET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_dataset_id(dataset_id: str) -> str:
    """Dataset ids name folders under the data dir, so only safe characters pass."""
    if not _DATASET_ID.match(dataset_id):
        raise InvalidArgumentError(
            f"dataset: {dataset_id!r} is not a valid id (1-64 letters, digits, '_', '-', '.', "
            "starting with a letter or digit)"
        )
    return dataset_id


def get_dataset(engine: Engine, dataset_id: str) -> Dataset:
    with engine.connect() as conn:
        row = conn.execute(select(Dataset).where(Dataset.id == dataset_id)).first()
    if row is None:
        raise DatasetNotFoundError(dataset_id)
    return Dataset.model_validate(row._mapping)


def get_dataset_version(engine: Engine, dataset_id: str) -> int:
    """The dataset's version: the cheapest query on the hot path of every analytic."""
    with engine.connect() as conn:
        version = conn.execute(
            sa.text("SELECT version FROM datasets WHERE id = :id"), {"id": dataset_id}
        ).scalar()
    if version is None:
        raise DatasetNotFoundError(dataset_id)
    return int(version)


def list_datasets(engine: Engine) -> list[Dataset]:
    with engine.connect() as conn:
        table = Dataset.__table__  # type: ignore[attr-defined]
        rows = conn.execute(select(Dataset).order_by(table.c.created_at, table.c.id)).all()
    return [Dataset.model_validate(row._mapping) for row in rows]


def replace_dataset(
    engine: Engine,
    dataset_id: str,
    name: str,
    tables: DatasetTables,
    *,
    kind: str = "transactions",
    source: DatasetSource | None = None,
    progress: ProgressCallback | None = None,
) -> Dataset:
    """Write ``tables`` as the whole content of ``dataset_id`` in one transaction.

    An existing dataset's rows are replaced and its version bumped; on any
    failure the transaction rolls back and the database is left as it was.
    """
    check_dataset_id(dataset_id)
    source = source or DatasetSource()
    # A customer table has one row per customer and no orders.
    imported_rows = len(tables.customers if kind == "customers" else tables.order_items)
    total_rows = sum(len(frame) for frame in _frames_in_insert_order(tables)) or 1
    written = 0
    now = _utcnow()
    with engine.begin() as conn:
        existing = conn.execute(
            sa.text("SELECT version, created_at FROM datasets WHERE id = :id"), {"id": dataset_id}
        ).first()
        values = {
            "name": name,
            "kind": kind,
            "source_filename": source.filename,
            "source_format": source.format,
            "source_size": source.size,
            "source_sha256": source.sha256,
            "rows_read": source.rows_read or imported_rows,
            "rows_imported": imported_rows,
            "rows_rejected": source.rows_rejected,
            "updated_at": now,
        }
        table = Dataset.__table__  # type: ignore[attr-defined]
        if existing is None:
            conn.execute(table.insert().values(id=dataset_id, version=1, created_at=now, **values))
        else:
            _delete_rows(conn, dataset_id)
            conn.execute(
                table.update()
                .where(table.c.id == dataset_id)
                .values(version=int(existing.version) + 1, **values)
            )
        for model, frame in zip(ROW_TABLES, _frames_in_insert_order(tables), strict=True):
            for done in _bulk_insert(conn, model, dataset_id, frame):
                written += done
                if progress is not None:
                    progress(written / total_rows, f"writing {model.__tablename__}")
    return get_dataset(engine, dataset_id)


def delete_dataset(engine: Engine, dataset_id: str) -> None:
    with engine.begin() as conn:
        _delete_rows(conn, dataset_id)
        deleted = conn.execute(sa.text("DELETE FROM datasets WHERE id = :id"), {"id": dataset_id})
    if deleted.rowcount == 0:
        raise DatasetNotFoundError(dataset_id)


def _frames_in_insert_order(tables: DatasetTables) -> Sequence[pd.DataFrame]:
    return (tables.customers, tables.products, tables.sales_reps, tables.orders, tables.order_items)


def _delete_rows(conn: Connection, dataset_id: str) -> None:
    for model in reversed(ROW_TABLES):
        conn.execute(
            sa.text(f"DELETE FROM {model.__tablename__} WHERE dataset_id = :id"),
            {"id": dataset_id},
        )


_CHUNK_ROWS = 100_000


def _bulk_insert(
    conn: Connection, model: type[SQLModel], dataset_id: str, frame: pd.DataFrame
) -> Iterable[int]:
    """Insert a frame's rows, yielding the count after each chunk.

    Bypasses the ORM: SQLite gets ``executemany`` over plain tuples and
    PostgreSQL gets ``COPY``, which is what makes a million rows take seconds.
    """
    table = model.__table__  # type: ignore[attr-defined]
    columns = [column.name for column in table.columns if column.name != "dataset_id"]
    missing = [name for name in columns if name not in frame.columns]
    for name in missing:
        if not table.c[name].nullable:
            raise ValueError(f"{table.name}: column {name!r} is required")
    names = ["dataset_id", *columns]
    dbapi = conn.connection.driver_connection
    is_postgres = conn.dialect.name == "postgresql"
    column_list = ", ".join(f'"{name}"' for name in names)
    if is_postgres:
        statement = f"COPY {table.name} ({column_list}) FROM STDIN"
    else:
        placeholders = ", ".join("?" for _ in names)
        statement = f"INSERT INTO {table.name} ({column_list}) VALUES ({placeholders})"
    for start in range(0, len(frame), _CHUNK_ROWS):
        chunk = frame.iloc[start : start + _CHUNK_ROWS]
        rows = _rows_for_driver(chunk, columns, table, dataset_id)
        try:
            if is_postgres:
                with dbapi.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor = dbapi.cursor()  # type: ignore[union-attr]
                cursor.executemany(statement, rows)
                cursor.close()
        except conn.dialect.loaded_dbapi.Error as error:
            # Raw driver calls skip SQLAlchemy's wrapping; restore it so callers
            # see the same IntegrityError etc. on every database.
            raise sa.exc.DBAPIError.instance(
                statement, None, error, conn.dialect.loaded_dbapi.Error
            ) from error
        yield len(chunk)


def _rows_for_driver(
    chunk: pd.DataFrame, columns: list[str], table: sa.Table, dataset_id: str
) -> list[tuple[Any, ...]]:
    values: list[list[Any]] = [[dataset_id] * len(chunk)]
    for name in columns:
        if name not in chunk.columns:
            values.append([None] * len(chunk))
            continue
        values.append(_column_values(chunk[name], table.c[name].type))
    return list(zip(*values, strict=True))


def _column_values(series: pd.Series, sql_type: Any) -> list[Any]:
    """Plain Python values for the driver, ``None`` for missing ones.

    Missing values are found once per column, not per value: this runs for
    every cell of a million-row import.
    """
    if isinstance(sql_type, sa.JSON):
        return [None if value is None else json.dumps(value) for value in series.tolist()]
    if isinstance(sql_type, sa.Date | sa.DateTime):
        dates = pd.to_datetime(series)
        text = dates.dt.strftime(
            "%Y-%m-%d" if isinstance(sql_type, sa.Date) else "%Y-%m-%d %H:%M:%S"
        )
        return _with_nulls(text.tolist(), dates.isna().to_numpy())
    if isinstance(sql_type, sa.Integer):
        numbers = pd.array(series, dtype="Int64")
        return _with_nulls(numbers.to_numpy(dtype="int64", na_value=0).tolist(), numbers.isna())
    if isinstance(sql_type, sa.Float):
        floats = series.to_numpy(dtype="float64", na_value=np.nan)
        return _with_nulls(floats.tolist(), np.isnan(floats))
    missing = series.isna().to_numpy()
    return _with_nulls([str(value) for value in series.tolist()], missing)


def _with_nulls(values: list[Any], missing: np.ndarray) -> list[Any]:
    for index in np.flatnonzero(missing).tolist():
        values[index] = None
    return values
