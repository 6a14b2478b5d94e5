"""A dataset as pandas frames: loaded once per ``Dataset.version``.

Every analytic reads these frames, never the tables directly, so one
definition of a number serves GraphQL, REST, askAI and charts alike.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from analytics.db import DatasetTables, check_dataset_id
from analytics.periods import default_as_of

_CUSTOMER_COLUMNS = [
    "customer_id", "external_id", "name", "email", "region", "country",
    "signup_date", "satisfaction_score", "attributes",
]  # fmt: skip
_PRODUCT_COLUMNS = ["product_id", "sku", "name", "category", "unit_price"]
_SALES_REP_COLUMNS = ["sales_rep_id", "name", "region"]
_ORDER_COLUMNS = [
    "order_id", "external_id", "customer_id", "order_date", "status", "channel",
    "sales_rep_id", "total",
]  # fmt: skip
_LINE_COLUMNS = ["order_id", "product_id", "quantity", "unit_price", "amount"]


@dataclass(frozen=True)
class DatasetFrames:
    """One version of a dataset, denormalised for analysis.

    Frames (ids are the dataset-local integer ids of the tables):

    - ``customers``: customer_id, external_id, name, email, region, country,
      signup_date (datetime64), satisfaction_score (float, NaN when unknown),
      attributes (the customer's extra columns as JSON text, or None); read
      them as a table through ``customer_attributes``
    - ``products``: product_id, sku, name, category, unit_price
    - ``sales_reps``: sales_rep_id, name, region
    - ``orders``: order_id, external_id, customer_id, order_date (datetime64,
      midnight), status, channel, sales_rep_id (Int64, NA when none), total
    - ``lines``: one row per order line: order_id, customer_id, order_date,
      product_id (Int64), category, sales_rep_id, region (the customer's),
      quantity, unit_price, amount
    """

    dataset_id: str
    version: int
    customers: pd.DataFrame
    products: pd.DataFrame
    sales_reps: pd.DataFrame
    orders: pd.DataFrame
    lines: pd.DataFrame

    @cached_property
    def latest_order_date(self) -> dt.date | None:
        if self.orders.empty:
            return None
        return pd.Timestamp(self.orders["order_date"].max()).date()

    @cached_property
    def default_as_of(self) -> dt.date:
        return default_as_of(self.latest_order_date)

    @cached_property
    def customer_attributes(self) -> pd.DataFrame:
        """The customers' extra columns, one per attribute key, indexed by customer_id.

        A column whose every value is a number (or a bool) is float64, any
        other is text (object); a customer without the key has NaN/None.
        """
        texts = self.customers.get("attributes")
        index = pd.Index(self.customers["customer_id"], name="customer_id")
        if texts is None or texts.isna().all():
            return pd.DataFrame(index=index)
        records = [json.loads(text) if isinstance(text, str) else {} for text in texts]
        table = pd.DataFrame.from_records(records, index=index)
        for column in table.columns:
            values = table[column]
            numbers = pd.to_numeric(values.map(_number_or_nan), errors="coerce")
            if numbers.notna().sum() == values.notna().sum():
                table[column] = numbers.astype("float64")
        return table


def _number_or_nan(value: Any) -> float:
    """Numbers (and bools) as floats; text and missing values as NaN."""
    return float(value) if isinstance(value, int | float) else float("nan")


def _attributes_text(value: Any) -> str | None:
    """Attributes as stored (a dict, JSON text or nothing) as canonical JSON text."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return json.dumps(value, sort_keys=True) if value else None


def build_frames(
    dataset_id: str,
    version: int,
    customers: pd.DataFrame,
    products: pd.DataFrame,
    sales_reps: pd.DataFrame,
    orders: pd.DataFrame,
    items: pd.DataFrame,
) -> DatasetFrames:
    """Assemble frames from table-shaped data (as stored, ids per dataset).

    ``items`` has the order-item columns (order_id, product_id, quantity,
    unit_price, amount). Tests build tiny datasets through this too.
    """
    customers = customers.reset_index(drop=True).copy()
    if "attributes" in customers:
        customers["attributes"] = customers["attributes"].map(_attributes_text).astype("object")
    else:
        customers["attributes"] = None
    customers["signup_date"] = pd.to_datetime(customers["signup_date"])
    customers["satisfaction_score"] = pd.to_numeric(
        customers["satisfaction_score"], errors="coerce"
    ).astype("float64")
    orders = orders.reset_index(drop=True).copy()
    orders["order_date"] = pd.to_datetime(orders["order_date"]).dt.normalize()
    orders["sales_rep_id"] = orders["sales_rep_id"].astype("Int64")
    orders["total"] = orders["total"].astype("float64")
    items = items.reset_index(drop=True).copy()
    items["product_id"] = items["product_id"].astype("Int64")
    for column in ("quantity", "unit_price", "amount"):
        items[column] = pd.to_numeric(items[column], errors="coerce").astype("float64")

    lines = items.merge(
        orders[["order_id", "customer_id", "order_date", "sales_rep_id"]],
        on="order_id",
        how="inner",
        validate="many_to_one",
    )
    categories = products.set_index("product_id")["category"]
    lines["category"] = lines["product_id"].map(categories)
    regions = customers.set_index("customer_id")["region"]
    lines["region"] = lines["customer_id"].map(regions)
    return DatasetFrames(
        dataset_id=dataset_id,
        version=version,
        customers=customers,
        products=products.reset_index(drop=True),
        sales_reps=sales_reps.reset_index(drop=True),
        orders=orders,
        lines=lines,
    )


def load_frames(engine: Engine, dataset_id: str, version: int) -> DatasetFrames:
    """Read a dataset's rows into frames with one statement per table."""
    with engine.connect() as conn:
        dbapi = conn.connection.driver_connection

        def query(sql: str, columns: list[str]) -> pd.DataFrame:
            cursor: Any = dbapi.cursor()  # type: ignore[union-attr]
            placeholder = "%s" if conn.dialect.name == "postgresql" else "?"
            cursor.execute(sql.replace("?", placeholder), (dataset_id,))
            rows = cursor.fetchall()
            cursor.close()
            return pd.DataFrame.from_records(rows, columns=columns)

        customers = query(
            "SELECT id, external_id, name, email, region, country, signup_date, "
            "satisfaction_score, attributes FROM customers WHERE dataset_id = ? ORDER BY id",
            _CUSTOMER_COLUMNS,
        )
        products = query(
            "SELECT id, sku, name, category, unit_price FROM products "
            "WHERE dataset_id = ? ORDER BY id",
            _PRODUCT_COLUMNS,
        )
        sales_reps = query(
            "SELECT id, name, region FROM sales_reps WHERE dataset_id = ? ORDER BY id",
            _SALES_REP_COLUMNS,
        )
        orders = query(
            "SELECT id, external_id, customer_id, order_date, status, channel, "
            "sales_rep_id, total FROM orders WHERE dataset_id = ? ORDER BY id",
            _ORDER_COLUMNS,
        )
        items = query(
            "SELECT order_id, product_id, quantity, unit_price, amount FROM order_items "
            "WHERE dataset_id = ? ORDER BY id",
            _LINE_COLUMNS,
        )
    return build_frames(dataset_id, version, customers, products, sales_reps, orders, items)


def frames_from_tables(dataset_id: str, version: int, tables: DatasetTables) -> DatasetFrames:
    """Frames straight from the tables just written, without reading them back."""
    columns = {
        "customers": _CUSTOMER_COLUMNS,
        "products": _PRODUCT_COLUMNS,
        "sales_reps": _SALES_REP_COLUMNS,
        "orders": _ORDER_COLUMNS,
    }
    shaped = {}
    for name, wanted in columns.items():
        frame = getattr(tables, name).rename(columns={"id": wanted[0]})
        shaped[name] = frame.reindex(columns=wanted)
    items = tables.order_items.reindex(columns=["id", *_LINE_COLUMNS]).drop(columns="id")
    return build_frames(dataset_id, version, items=items, **shaped)


_FRAME_NAMES = ("customers", "products", "sales_reps", "orders", "lines")


def save_snapshot(frames: DatasetFrames, directory: Path) -> Path:
    """Write the frames as Parquet under ``directory/<dataset>/v<version>``.

    A snapshot is immutable (a version never changes), so it is written to a
    temporary folder and renamed into place; older versions are removed.
    """
    check_dataset_id(frames.dataset_id)
    home = directory / frames.dataset_id
    target = home / f"v{frames.version}"
    if target.exists():
        return target
    staging = home / f".tmp-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        for name in _FRAME_NAMES:
            getattr(frames, name).to_parquet(staging / f"{name}.parquet", index=False)
        staging.rename(target)
    except FileExistsError:
        shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in home.iterdir():
        if old != target and not old.name.startswith(".tmp-"):
            shutil.rmtree(old, ignore_errors=True)
    return target


def load_snapshot(directory: Path, dataset_id: str, version: int) -> DatasetFrames | None:
    """The frames saved for exactly this version, or ``None`` when there are none."""
    check_dataset_id(dataset_id)
    folder = directory / dataset_id / f"v{version}"
    if not folder.is_dir():
        return None
    loaded = {name: pd.read_parquet(folder / f"{name}.parquet") for name in _FRAME_NAMES}
    return DatasetFrames(dataset_id=dataset_id, version=version, **loaded)
