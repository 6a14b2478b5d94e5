"""Flat transaction files (one row per order line, or per order) into a dataset.

Reading a file (encoding, delimiter) is kept apart from parsing a frame
(column mapping, validation, building the tables), so that spreadsheets and
uploads go through the same :func:`parse_transactions`.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from analytics import db
from analytics.db import DatasetSource, DatasetTables, ProgressCallback, PublishCallback
from analytics.errors import AnalyticsError


class IngestError(AnalyticsError, ValueError):
    """A file or frame that cannot be imported; the message says where and why.

    Attributes
    ----------
    column
        The source column at fault, when there is one.
    row
        The 1-based row number in the file (the header is row 1, so the first
        data row is row 2), when one row is at fault.
    """

    def __init__(self, message: str, *, column: str | None = None, row: int | None = None):
        super().__init__(message)
        self.column = column
        self.row = row


# Canonical field -> accepted column names. Names are compared after
# lower-casing and dropping everything but letters and digits.
COLUMN_SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "customer_id": (
        "customer id", "customer", "client", "client id", "customer number", "customer no",
        "cust id", "customer key", "buyer id", "user id",
    ),
    "order_id": (
        "order id", "invoice", "invoice no", "invoice number", "invoice id", "order",
        "order no", "order number", "transaction id", "receipt", "receipt id",
    ),
    "date": (
        "date", "order date", "invoice date", "transaction date", "purchase date",
        "sale date", "sales date", "timestamp", "datetime",
    ),
    "amount": (
        "amount", "total", "revenue", "sales", "line total", "total amount", "sales amount",
        "order total", "total price", "value", "net sales", "sale amount",
    ),
    "quantity": ("quantity", "qty", "units", "quantity sold", "number of items"),
    "unit_price": ("unit price", "price", "price each", "unit cost", "item price"),
    "sku": ("sku", "product", "stock code", "product id", "product code", "item", "item id"),
    "description": ("description", "product name", "item name", "product description"),
    "category": ("category", "product category", "department", "category name"),
    "region": ("region", "customer region", "area", "territory", "sales region"),
    "country": ("country", "customer country", "nation"),
    "sales_rep": ("sales rep", "salesperson", "rep", "sales person", "sales representative"),
    "customer_name": ("customer name", "client name", "name", "full name"),
    "email": ("email", "e mail", "customer email", "email address"),
    "channel": ("channel", "sales channel", "order channel"),
    "status": ("status", "order status"),
    "signup_date": (
        "signup date", "sign up date", "registration date", "join date", "joined",
        "customer since", "first seen",
    ),
    "satisfaction": (
        "satisfaction", "satisfaction score", "customer satisfaction", "csat", "rating",
    ),
}  # fmt: skip

_LABELS = {
    "customer_id": "customer id",
    "order_id": "order id",
    "unit_price": "unit price",
    "sku": "product",
    "sales_rep": "sales rep",
    "customer_name": "customer name",
    "signup_date": "signup date",
}

# Tried in order; the first format that reads the most values wins, so
# month-first beats day-first unless some day is above 12.
_DATE_FORMATS = (
    "%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%m-%d-%Y",
    "%d-%m-%Y", "%m/%d/%y", "%d/%m/%y", "%d.%m.%y", "%d-%b-%Y", "%d %b %Y", "%b %d %Y",
    "%d-%b-%y", "%B %d %Y", "%d %B %Y", "%Y.%m.%d",
)  # fmt: skip
_TIME_SUFFIX = re.compile(
    r"(?:[T\s]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[AaPp]\.?[Mm]\.?)?)?"
    r"\s*(?:Z|UTC|[+-]\d{2}:?\d{2})?$"
)
_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class ParsedTransactions:
    """A validated transaction table, as dataset tables ready to be written."""

    tables: DatasetTables
    column_mapping: dict[str, str]
    rows_read: int
    rows_rejected: int
    source: DatasetSource

    @property
    def revenue(self) -> float:
        return float(self.tables.order_items["amount"].sum())


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote."""

    dataset: db.Dataset
    rows_read: int
    rows_imported: int
    rows_rejected: int
    customers: int
    orders: int
    revenue: float
    column_mapping: dict[str, str]


def import_transactions(
    engine: Engine,
    path: Path,
    dataset_id: str,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    publish: PublishCallback | None = None,
) -> ImportResult:
    """Read a transactions CSV and make it the whole content of a dataset.

    The file is fully validated before anything is written, and the write is
    one transaction: a bad file leaves the database as it was.

    Parameters
    ----------
    engine
        Database to write to.
    path
        The CSV file.
    dataset_id
        Dataset to create or replace (its version is bumped on replace).
    name
        Dataset name; defaults to the file name without its extension.
    progress
        Called with ``(fraction, stage)``; stages are ``reading``,
        ``validating``, ``building`` and ``writing ...``.
    publish
        Called with the dataset and its tables once the write has committed.

    Returns
    -------
    ImportResult

    Raises
    ------
    IngestError
        When the file cannot be read or a value is missing or unreadable.
    """
    parsed = read_transactions(path, _scaled(progress, 0.0, 0.6))
    dataset = db.replace_dataset(
        engine,
        dataset_id,
        name or path.stem,
        parsed.tables,
        source=parsed.source,
        progress=_scaled(progress, 0.6, 1.0),
    )
    if publish is not None:
        publish(dataset, parsed.tables)
    return ImportResult(
        dataset=dataset,
        rows_read=parsed.rows_read,
        rows_imported=len(parsed.tables.order_items),
        rows_rejected=parsed.rows_rejected,
        customers=len(parsed.tables.customers),
        orders=len(parsed.tables.orders),
        revenue=parsed.revenue,
        column_mapping=parsed.column_mapping,
    )


def read_transactions(path: Path, progress: ProgressCallback | None = None) -> ParsedTransactions:
    """Read and validate a transactions CSV without writing anything.

    Accepts UTF-8 (with or without BOM), UTF-16 with BOM and Latin-1, with a
    ``,``, ``;``, tab or ``|`` delimiter.

    Parameters
    ----------
    path
        The CSV file.
    progress
        Called with ``(fraction, stage)``.

    Returns
    -------
    ParsedTransactions

    Raises
    ------
    IngestError
        When the file cannot be read or a value is missing or unreadable.
    """
    if progress is not None:
        progress(0.0, "reading")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path.name}: cannot read the file ({exc.strerror})") from exc
    frame, delimiter = read_csv_bytes(data, path.name)
    parsed = parse_transactions(
        frame, path.name, decimal_comma=delimiter == ";", progress=_scaled(progress, 0.4, 1.0)
    )
    source = dataclasses.replace(
        parsed.source,
        format="csv",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    return dataclasses.replace(parsed, source=source)


def read_csv_bytes(data: bytes, source_name: str) -> tuple[pd.DataFrame, str]:
    """Read CSV bytes into a frame of strings; returns the frame and its delimiter.

    Raises
    ------
    IngestError
        When the bytes are empty, binary, or not well-formed CSV.
    """
    if not data.strip():
        raise IngestError(f"{source_name}: the file is empty")
    if data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise IngestError(f"{source_name}: this is a spreadsheet or archive, not a CSV file")
    encoding = _detect_encoding(data, source_name)
    head = data[:65536].decode(encoding, errors="ignore").lstrip("\ufeff")
    delimiter = _sniff_delimiter(head)
    frame = _read_csv(data, source_name, encoding, delimiter)
    if len(frame.columns) == 0:
        raise IngestError(f"{source_name}: the file has no header row")
    return frame, delimiter


def parse_transactions(
    frame: pd.DataFrame,
    source_name: str,
    *,
    decimal_comma: bool = False,
    progress: ProgressCallback | None = None,
) -> ParsedTransactions:
    """Map, validate and normalise a transactions frame into dataset tables.

    Row ``i`` of ``frame`` (by position) is reported as row ``i + 2`` of the
    source, as in a file with a header row.

    Parameters
    ----------
    frame
        One row per order line (or per order); any column names, matched to
        the fields through :data:`COLUMN_SYNONYMS`.
    source_name
        Used in error messages.
    decimal_comma
        Read ``1.234,50`` style numbers (files delimited by ``;``).
    progress
        Called with ``(fraction, stage)``.

    Returns
    -------
    ParsedTransactions

    Raises
    ------
    IngestError
        When a required column is missing or a value is missing or unreadable.
    """
    if progress is not None:
        progress(0.0, "validating")
    frame = frame.reset_index(drop=True)
    rows_read = len(frame)
    mapping = map_columns([str(column) for column in frame.columns])
    _require_columns(mapping, [str(column) for column in frame.columns], source_name)
    frame = frame.set_axis([str(column) for column in frame.columns], axis="columns")

    used = frame[list(dict.fromkeys(mapping.values()))]
    keep = ~used.isna().all(axis=1).to_numpy()
    keep &= _keys(frame[mapping["customer_id"]]).codes >= 0
    if not keep.any():
        raise IngestError(
            f"{source_name}: no data rows with a customer id", column=mapping["customer_id"]
        )
    rows = np.flatnonzero(keep) + 2
    frame = frame.loc[keep].reset_index(drop=True)
    columns = _Columns(frame, mapping, rows, decimal_comma)

    dates = columns.dates("date", required=True)
    if "amount" in mapping:
        amount = columns.numbers("amount", required=True)
        quantity = (
            columns.numbers("quantity", required=True)
            if "quantity" in mapping
            else np.ones(len(frame))
        )
        unit_price = (
            columns.numbers("unit_price", required=False)
            if "unit_price" in mapping
            else np.divide(amount, quantity, out=np.full(len(frame), np.nan), where=quantity != 0)
        )
    else:
        quantity = columns.numbers("quantity", required=True)
        unit_price = columns.numbers("unit_price", required=True)
        amount = quantity * unit_price
    signup = columns.dates("signup_date", required=False) if "signup_date" in mapping else None
    satisfaction = (
        columns.numbers("satisfaction", required=False) if "satisfaction" in mapping else None
    )

    if progress is not None:
        progress(0.5, "building")
    tables = _build_tables(columns, dates, amount, quantity, unit_price, signup, satisfaction)
    if progress is not None:
        progress(1.0, "building")
    rejected = rows_read - len(frame)
    return ParsedTransactions(
        tables=tables,
        column_mapping=dict(mapping),
        rows_read=rows_read,
        rows_rejected=rejected,
        source=DatasetSource(filename=source_name, rows_read=rows_read, rows_rejected=rejected),
    )


def map_columns(columns: list[str]) -> dict[str, str]:
    """Map canonical fields to source columns (case and punctuation ignored).

    Each source column serves one field; when several columns could serve a
    field, the best-ranked synonym wins, then the leftmost column.

    Returns
    -------
    dict
        Canonical field -> source column name, only for the fields found.
    """
    by_key: dict[str, str] = {}
    for column in columns:
        by_key.setdefault(_key(column), column)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for field, synonyms in COLUMN_SYNONYMS.items():
        for synonym in (field, *synonyms):
            match = by_key.get(_key(synonym))
            if match is not None and match not in taken:
                mapping[field] = match
                taken.add(match)
                break
    if "region" not in mapping and "country" in mapping:
        mapping["region"] = mapping["country"]
    return mapping


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _label(field: str) -> str:
    return _LABELS.get(field, field)


def _require_columns(mapping: dict[str, str], found: list[str], source_name: str) -> None:
    missing = [field for field in ("customer_id", "date") if field not in mapping]
    if "amount" not in mapping and not {"quantity", "unit_price"} <= mapping.keys():
        missing.append("amount")
    if not missing:
        return
    parts = []
    for field in missing:
        names = ", ".join(repr(name) for name in COLUMN_SYNONYMS[field])
        if field == "amount":
            extra = "; or both quantity ({}) and unit price ({})".format(
                ", ".join(repr(name) for name in COLUMN_SYNONYMS["quantity"]),
                ", ".join(repr(name) for name in COLUMN_SYNONYMS["unit_price"]),
            )
            names += extra
        parts.append(f"{_label(field)} (accepted names: {names})")
    shown = ", ".join(repr(name) for name in found[:30]) or "none"
    raise IngestError(
        f"{source_name}: missing required column{'s' if len(parts) > 1 else ''} "
        f"{'; '.join(parts)}. Columns found: {shown}"
    )


@dataclass(frozen=True)
class _Keys:
    """A text column factorized: ``codes`` per row (-1 when blank) into ``labels``."""

    codes: np.ndarray
    labels: np.ndarray


def _keys(series: pd.Series, *, lower: bool = False) -> _Keys:
    """Factorize stripped text in order of first appearance; ``123.0`` becomes ``123``."""
    codes, uniques = pd.factorize(series)
    cleaned = pd.Series(uniques, dtype="str").str.strip()
    cleaned = cleaned.str.replace(r"^(-?\d+)\.0*$", r"\1", regex=True)
    if lower:
        cleaned = cleaned.str.lower()
    merged, labels = pd.factorize(cleaned.where(cleaned != ""))
    # Index -1 (blank in the source) picks the appended -1.
    merged = np.append(merged, -1)
    return _Keys(codes=merged[codes], labels=np.asarray(labels, dtype=object))


class _Columns:
    """The kept rows of a mapped frame, with their row numbers in the source."""

    def __init__(
        self, frame: pd.DataFrame, mapping: dict[str, str], rows: np.ndarray, decimal_comma: bool
    ) -> None:
        self.frame = frame
        self.mapping = mapping
        self.rows = rows
        self.decimal_comma = decimal_comma

    def __len__(self) -> int:
        return len(self.frame)

    def raw(self, field: str) -> pd.Series:
        return self.frame[self.mapping[field]]

    def keys(self, field: str, *, lower: bool = False) -> _Keys | None:
        if field not in self.mapping:
            return None
        return _keys(self.raw(field), lower=lower)

    def fail(self, field: str, position: int, problem: str, expected: str) -> IngestError:
        column = self.mapping[field]
        row = int(self.rows[position])
        return IngestError(
            f"column {column!r} ({_label(field)}): row {row} {problem}, expected {expected}",
            column=column,
            row=row,
        )

    def numbers(self, field: str, *, required: bool) -> np.ndarray:
        """Floats (NaN when blank and not required)."""
        raw = self.raw(field)
        expected = f"a number such as {'12,50' if self.decimal_comma else '12.50'}"
        if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
            values = raw.to_numpy(dtype="float64", na_value=np.nan)
            text = raw.astype("str").where(raw.notna())
        else:
            text = raw.astype("str").str.strip().where(raw.notna())
            text = text.where(text != "")
            values = _to_float(text)
            unread = np.isnan(values) & text.notna().to_numpy()
            if unread.any():
                cleaned = text.str.replace(r"[\s$€£¥'\u00a0]", "", regex=True)
                if self.decimal_comma:
                    cleaned = cleaned.str.replace(".", "", regex=False)
                    cleaned = cleaned.str.replace(",", ".", regex=False)
                else:
                    cleaned = cleaned.str.replace(",", "", regex=False)
                values = np.where(unread, _to_float(cleaned), values)
        bad = (np.isnan(values) & text.notna().to_numpy()) | np.isinf(values)
        if bad.any():
            position = int(np.argmax(bad))
            raise self.fail(field, position, f"has {text.iloc[position]!r}", expected)
        blank = np.isnan(values)
        if required and blank.any():
            raise self.fail(field, int(np.argmax(blank)), "is empty", expected)
        return values

    def dates(self, field: str, *, required: bool) -> np.ndarray:
        """Dates as ``datetime64[ns]`` at midnight (NaT when blank and not required)."""
        raw = self.raw(field)
        expected = "a date such as 2024-01-31"
        if pd.api.types.is_datetime64_any_dtype(raw.dtype):
            parsed = pd.to_datetime(raw)
            if parsed.dt.tz is not None:
                parsed = parsed.dt.tz_localize(None)
            values = parsed.dt.normalize().to_numpy(dtype="datetime64[ns]")
            blank = np.isnat(values)
        else:
            codes, uniques = pd.factorize(raw.astype("str").where(raw.notna()))
            text = pd.Series(uniques, dtype="str").str.strip()
            text = text.str.replace(r"^(\d{8})\.0*$", r"\1", regex=True)
            unique_blank = (text == "").to_numpy(dtype=bool, na_value=True)
            date_part = text.str.replace(_TIME_SUFFIX, "", regex=True).str.replace(",", "")
            unique_values = _parse_dates(date_part.where(~unique_blank))
            present = codes >= 0
            values = np.full(len(raw), np.datetime64("NaT"), dtype="datetime64[ns]")
            values[present] = unique_values[codes[present]]
            blank = ~present
            blank[present] = unique_blank[codes[present]]
            unread = np.isnat(values) & ~blank
            if unread.any():
                position = int(np.argmax(unread))
                value = str(raw.iloc[position]).strip()
                raise self.fail(field, position, f"has {value!r}", expected)
        if required and blank.any():
            raise self.fail(field, int(np.argmax(blank)), "is empty", expected)
        return values


def _to_float(text: pd.Series) -> np.ndarray:
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _parse_dates(text: pd.Series) -> np.ndarray:
    """Parse with the one candidate format that reads the most values."""
    wanted = int(text.notna().sum())
    best = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    best_count = 0
    if wanted == 0:
        return best
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        count = int(parsed.notna().sum())
        if count > best_count:
            best, best_count = parsed.to_numpy(dtype="datetime64[ns]"), count
            if count == wanted:
                break
    return best


def _first_rows(groups: np.ndarray, count: int, valid: np.ndarray) -> np.ndarray:
    """Each group's first row where ``valid`` holds (-1 when none), groups 0..count-1."""
    rows = np.flatnonzero(valid & (groups >= 0))
    found, first = np.unique(groups[rows], return_index=True)
    result = np.full(count, -1, dtype=np.int64)
    result[found] = rows[first]
    return result


def _first_labels(keys: _Keys | None, groups: np.ndarray, count: int) -> np.ndarray:
    """Each group's first non-blank label (None when none) as an object array."""
    if keys is None:
        return np.full(count, None, dtype=object)
    rows = _first_rows(groups, count, keys.codes >= 0)
    codes = np.where(rows >= 0, keys.codes[np.maximum(rows, 0)], -1)
    return np.append(keys.labels, np.array([None], dtype=object))[codes]


def _first_values(values: np.ndarray | None, groups: np.ndarray, count: int) -> np.ndarray:
    """Each group's first non-missing float or datetime (NaN / NaT when none)."""
    if values is None:
        return np.full(count, np.nan)
    missing = np.isnat(values) if values.dtype.kind == "M" else np.isnan(values)
    rows = _first_rows(groups, count, ~missing)
    result = values[np.maximum(rows, 0)].copy()
    result[rows < 0] = values.dtype.type("NaT") if values.dtype.kind == "M" else np.nan
    return result


def _build_tables(
    columns: _Columns,
    dates: np.ndarray,
    amount: np.ndarray,
    quantity: np.ndarray,
    unit_price: np.ndarray,
    signup: np.ndarray | None,
    satisfaction: np.ndarray | None,
) -> DatasetTables:
    n = len(columns)
    customer = columns.keys("customer_id")
    assert customer is not None
    customer_count = len(customer.labels)

    order = columns.keys("order_id")
    if order is None:
        order = _Keys(codes=np.arange(n), labels=columns.rows.astype(str).astype(object))
        first_rows = np.arange(n)
    else:
        blank = order.codes < 0
        if blank.any():
            raise columns.fail("order_id", int(np.argmax(blank)), "is empty", "an order id")
        first_rows = _first_rows(order.codes, len(order.labels), np.ones(n, dtype=bool))
        owner = customer.codes[first_rows][order.codes]
        clash = owner != customer.codes
        if clash.any():
            position = int(np.argmax(clash))
            raise columns.fail(
                "order_id",
                position,
                f"reuses order {order.labels[order.codes[position]]!r} of customer "
                f"{customer.labels[owner[position]]!r} for customer "
                f"{customer.labels[customer.codes[position]]!r}",
                "each order id to belong to one customer",
            )
    order_count = len(order.labels)

    region = columns.keys("region")
    rep = columns.keys("sales_rep")
    if rep is not None:
        rep_count = len(rep.labels)
        sales_reps = pd.DataFrame(
            {
                "id": np.arange(1, rep_count + 1),
                "name": rep.labels,
                "region": _first_labels(region, rep.codes, rep_count),
            }
        )
        rep_rows = _first_rows(order.codes, order_count, rep.codes >= 0)
        order_rep = pd.array(
            np.where(rep_rows >= 0, rep.codes[np.maximum(rep_rows, 0)] + 1, 0), dtype="Int64"
        )
        order_rep[rep_rows < 0] = pd.NA
    else:
        sales_reps = pd.DataFrame({"id": pd.Series(dtype="int64"), "name": [], "region": []})
        order_rep = pd.array(np.zeros(order_count, dtype=np.int64), dtype="Int64")
        order_rep[:] = pd.NA

    description = columns.keys("description")
    sku = columns.keys("sku")
    product = sku if sku is not None else description
    line_product = pd.array(np.zeros(n, dtype=np.int64), dtype="Int64")
    if product is not None:
        product_count = len(product.labels)
        products = pd.DataFrame(
            {
                "id": np.arange(1, product_count + 1),
                "sku": product.labels,
                "name": _first_labels(description, product.codes, product_count),
                "category": _first_labels(columns.keys("category"), product.codes, product_count),
                "unit_price": _first_values(unit_price, product.codes, product_count),
            }
        )
        line_product[:] = product.codes + 1
        line_product[product.codes < 0] = pd.NA
    else:
        products = pd.DataFrame(
            {"id": pd.Series(dtype="int64"), "sku": [], "name": [], "category": []}
        )
        line_product[:] = pd.NA

    order_dates = (
        pd.Series(dates).groupby(order.codes, sort=True).min().to_numpy(dtype="datetime64[ns]")
    )
    orders = pd.DataFrame(
        {
            "id": np.arange(1, order_count + 1),
            "external_id": order.labels,
            "customer_id": customer.codes[first_rows] + 1,
            "order_date": order_dates,
            "status": _first_labels(columns.keys("status", lower=True), order.codes, order_count),
            "channel": _first_labels(columns.keys("channel", lower=True), order.codes, order_count),
            "sales_rep_id": order_rep,
            "total": np.bincount(order.codes, weights=amount, minlength=order_count),
        }
    )
    order_items = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "order_id": order.codes + 1,
            "product_id": line_product,
            "quantity": quantity,
            "unit_price": unit_price,
            "amount": amount,
        }
    )
    codes = customer.codes
    signup_dates = (
        _first_values(signup, codes, customer_count)
        if signup is not None
        else np.full(customer_count, np.datetime64("NaT"), dtype="datetime64[ns]")
    )
    customers = pd.DataFrame(
        {
            "id": np.arange(1, customer_count + 1),
            "external_id": customer.labels,
            "name": _first_labels(columns.keys("customer_name"), codes, customer_count),
            "email": _first_labels(columns.keys("email"), codes, customer_count),
            "region": _first_labels(region, codes, customer_count),
            "country": _first_labels(columns.keys("country"), codes, customer_count),
            "signup_date": signup_dates,
            "satisfaction_score": _first_values(satisfaction, codes, customer_count),
        }
    )
    return DatasetTables(
        customers=customers,
        products=products,
        sales_reps=sales_reps,
        orders=orders,
        order_items=order_items,
    )


def _detect_encoding(data: bytes, source_name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if b"\x00" in data[:8192]:
        raise IngestError(f"{source_name}: this is a binary file, not a CSV text file")
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8-sig"


def _sniff_delimiter(head: str) -> str:
    """The candidate that splits the header into the most fields, consistently."""
    lines = [line for line in head.splitlines()[:20] if line.strip()]
    if not lines:
        return ","
    best, best_score = ",", 0
    for delimiter in _DELIMITERS:
        counts = [len(row) for row in csv.reader(lines[:-1] or lines, delimiter=delimiter)]
        if not counts or counts[0] < 2:
            continue
        consistent = sum(count == counts[0] for count in counts)
        score = counts[0] * consistent
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _read_csv(data: bytes, source_name: str, encoding: str, delimiter: str) -> pd.DataFrame:
    options: dict[str, object] = {"sep": delimiter, "dtype": "str", "encoding": encoding}
    if encoding != "utf-16":
        try:
            return pd.read_csv(io.BytesIO(data), engine="pyarrow", **options)
        except (pd.errors.ParserError, ValueError, UnicodeDecodeError):
            pass  # the C engine reads multi-line fields and names the offending line
    try:
        return pd.read_csv(io.BytesIO(data), engine="c", **options)
    except pd.errors.EmptyDataError as exc:
        raise IngestError(f"{source_name}: the file has no header row") from exc
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
        message = str(exc)
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
        if found:
            expected, line, saw = found.groups()
            raise IngestError(
                f"{source_name}: row {line} has {saw} fields, expected {expected} "
                f"(delimiter {delimiter!r})",
                row=int(line),
            ) from exc
        raise IngestError(f"{source_name}: not a readable CSV file ({message})") from exc


def _scaled(progress: ProgressCallback | None, start: float, end: float) -> ProgressCallback | None:
    if progress is None:
        return None
    callback: Callable[[float, str], None] = progress

    def report(fraction: float, stage: str) -> None:
        callback(start + (end - start) * min(max(fraction, 0.0), 1.0), stage)

    return report
