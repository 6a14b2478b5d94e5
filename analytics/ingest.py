"""Flat transaction files (one row per order line, or per order) into a dataset.

Reading a file (encoding, delimiter) is kept apart from parsing a frame
(column mapping, validation, building the tables), so that spreadsheets and
uploads go through the same :func:`parse_transactions`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import itertools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from analytics import db
from analytics.db import DatasetSource, DatasetTables, ProgressCallback, PublishCallback
from analytics.errors import InvalidArgumentError
from analytics.formats import (
    HEAD_BYTES,
    IngestError,
    UnsupportedFormatError,
    read_excel_frame,
    sniff_format,
    text_encoding,
)

__all__ = [
    "COLUMN_SYNONYMS",
    "KINDS",
    "ImportResult",
    "IngestError",
    "ParsedTransactions",
    "ParsedUpload",
    "UnsupportedFormatError",
    "detect_kind",
    "import_file",
    "import_transactions",
    "map_columns",
    "parse_customers",
    "parse_transactions",
    "parse_upload",
    "read_csv_bytes",
    "read_transactions",
    "read_upload",
]


# Canonical field -> accepted column names. Names are compared after
# lower-casing and dropping everything but letters and digits.
COLUMN_SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "customer_id": (
        "customer id", "customer", "client", "client id", "customer number", "customer no",
        "cust id", "customer key", "buyer id", "user id", "clientnum", "account id",
        "account number", "member id",
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
    "region": ("region", "customer region", "area", "territory", "sales region", "geography"),
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
    "churn": "churn label",
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


KINDS = ("transactions", "customers")

# Column names of a customer table's churn label (compared like COLUMN_SYNONYMS).
CHURN_COLUMNS = (
    "churn", "churned", "exited", "attrition", "is churned", "has churned", "attrition flag",
    "churn label", "churn flag", "churn status", "churn value",
)  # fmt: skip
_CHURN_TRUE = frozenset(
    {"1", "yes", "y", "true", "t", "churn", "churned", "exited", "attrited", "attrited customer"}
)
_CHURN_FALSE = frozenset(
    {"0", "no", "n", "false", "f", "stayed", "retained", "existing", "existing customer"}
)
# The fields a customer table fills; its other columns become attributes.
_CUSTOMER_FIELDS = (
    "customer_id", "customer_name", "email", "region", "country", "signup_date", "satisfaction",
)  # fmt: skip
_MAX_REJECTIONS = 5


@dataclass(frozen=True)
class ParsedUpload:
    """A validated upload, as dataset tables ready to be written.

    Attributes
    ----------
    kind
        ``"transactions"`` (orders and lines) or ``"customers"`` (a customer
        table: customers only, no orders).
    rejections
        The first few rows skipped, as ``"row 14: missing customer id"``.
    sheet
        The worksheet read, for a workbook.
    """

    tables: DatasetTables
    column_mapping: dict[str, str]
    rows_read: int
    rows_rejected: int
    source: DatasetSource
    kind: str = "transactions"
    rejections: tuple[str, ...] = ()
    sheet: str | None = None

    @property
    def revenue(self) -> float:
        return float(self.tables.order_items["amount"].sum())

    @property
    def rows_imported(self) -> int:
        """Order lines for transactions, customers for a customer table."""
        if self.kind == "customers":
            return len(self.tables.customers)
        return len(self.tables.order_items)


# The name the transactions importer has always returned.
ParsedTransactions = ParsedUpload


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
    kind: str
    format: str
    sheet: str | None
    rejections: tuple[str, ...]


def import_file(
    engine: Engine,
    path: Path,
    dataset_id: str,
    *,
    name: str | None = None,
    original_name: str | None = None,
    kind: str | None = None,
    sheet: str | None = None,
    progress: ProgressCallback | None = None,
    publish: PublishCallback | None = None,
) -> ImportResult:
    """Read a CSV, .xlsx or .xls file and make it the whole content of a dataset.

    The file is fully validated before anything is written, and the write is
    one transaction: a bad file leaves the database as it was.

    Parameters
    ----------
    engine
        Database to write to.
    path
        The file, in any of the formats :func:`read_upload` accepts.
    dataset_id
        Dataset to create or replace (its version is bumped on replace).
    name
        Dataset name; defaults to the file name without its extension.
    original_name
        The name the file was uploaded with (``path`` may be a stored copy);
        used in messages and kept as the dataset's source file name.
    kind
        ``"transactions"`` or ``"customers"`` to insist on one; detected from
        the columns when None.
    sheet
        The worksheet to read from a workbook; by default the first one with
        the needed columns.
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
        When the file cannot be read or a value is missing or unreadable
        (:class:`UnsupportedFormatError` when it is no CSV or workbook).
    InvalidArgumentError
        When ``dataset_id`` or ``kind`` is not valid.
    """
    db.check_dataset_id(dataset_id)
    parsed = read_upload(
        path,
        original_name=original_name,
        kind=kind,
        sheet=sheet,
        progress=_scaled(progress, 0.0, 0.6),
    )
    dataset = db.replace_dataset(
        engine,
        dataset_id,
        name or Path(parsed.source.filename or path.name).stem,
        parsed.tables,
        kind=parsed.kind,
        source=parsed.source,
        progress=_scaled(progress, 0.6, 1.0),
    )
    if publish is not None:
        publish(dataset, parsed.tables)
    return ImportResult(
        dataset=dataset,
        rows_read=parsed.rows_read,
        rows_imported=parsed.rows_imported,
        rows_rejected=parsed.rows_rejected,
        customers=len(parsed.tables.customers),
        orders=len(parsed.tables.orders),
        revenue=parsed.revenue,
        column_mapping=parsed.column_mapping,
        kind=parsed.kind,
        format=parsed.source.format or "csv",
        sheet=parsed.sheet,
        rejections=parsed.rejections,
    )


def import_transactions(
    engine: Engine,
    path: Path,
    dataset_id: str,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    publish: PublishCallback | None = None,
) -> ImportResult:
    """:func:`import_file` for a file that must hold transactions."""
    return import_file(
        engine,
        path,
        dataset_id,
        name=name,
        kind="transactions",
        progress=progress,
        publish=publish,
    )


def read_upload(
    path: Path,
    *,
    original_name: str | None = None,
    kind: str | None = None,
    sheet: str | None = None,
    progress: ProgressCallback | None = None,
) -> ParsedUpload:
    """Read and validate a CSV, .xlsx or .xls file without writing anything.

    The format is told by the content, never by the name
    (:func:`analytics.formats.sniff_format`). CSV may be UTF-8 (with or
    without BOM), UTF-16 or Windows-1252/Latin-1, delimited by ``,``, ``;``,
    tab or ``|``. In a workbook the header row may sit below a title block.

    The kind is told by the columns: a customer id, a date and an amount (or
    quantity and unit price) make transactions; a customer id with other
    columns and no order data makes a customer table (one row per customer,
    its other columns kept as attributes, a churn label column as
    ``attributes["churn"]``).

    Rows without a customer id are skipped, counted and the first few listed
    in ``rejections``. Identical rows are all kept: real exports repeat
    identical lines (the same item scanned twice), so each counts.
    Negative quantities and amounts (returns, cancelled invoices) are kept as
    the file gives them.

    Parameters
    ----------
    path
        The file.
    original_name
        The name the file was sent with, for messages and the source.
    kind
        ``"transactions"`` or ``"customers"`` to insist on one.
    sheet
        The worksheet to read from a workbook (ignored for CSV).
    progress
        Called with ``(fraction, stage)``.

    Returns
    -------
    ParsedUpload

    Raises
    ------
    IngestError
        When the file cannot be read or a value is missing or unreadable.
    UnsupportedFormatError
        When the content is no CSV text or Excel workbook.
    InvalidArgumentError
        When ``kind`` is not one of :data:`KINDS`.
    """
    if kind is not None and kind not in KINDS:
        raise InvalidArgumentError(f"kind: must be one of {', '.join(KINDS)}, not {kind!r}")
    source_name = _base_name(original_name) if original_name else path.name
    if progress is not None:
        progress(0.0, "reading")
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            head = file.read(HEAD_BYTES)
    except OSError as exc:
        raise IngestError(f"{source_name}: cannot read the file ({exc.strerror})") from exc
    fmt = sniff_format(head, source_name)
    if fmt == "csv":
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        frame, delimiter = read_csv_bytes(data, source_name)
        del data
        parsed = parse_upload(
            frame,
            source_name,
            kind=kind,
            decimal_comma=delimiter == ";",
            progress=_scaled(progress, 0.4, 1.0),
        )
    else:
        workbook = read_excel_frame(
            path,
            fmt,
            sheet,
            header_score=lambda names: _header_score(names, kind),
            source_name=source_name,
            progress=_scaled(progress, 0.0, 0.4),
        )
        digest = _file_sha256(path)
        parsed = parse_upload(
            workbook.frame,
            source_name,
            kind=kind,
            header_row=workbook.header_row,
            progress=_scaled(progress, 0.4, 1.0),
        )
        parsed = dataclasses.replace(parsed, sheet=workbook.sheet)
    source = dataclasses.replace(parsed.source, format=fmt, size=size, sha256=digest)
    return dataclasses.replace(parsed, source=source)


def read_transactions(path: Path, progress: ProgressCallback | None = None) -> ParsedUpload:
    """:func:`read_upload` for a file that must hold transactions."""
    return read_upload(path, kind="transactions", progress=progress)


def parse_upload(
    frame: pd.DataFrame,
    source_name: str,
    *,
    kind: str | None = None,
    decimal_comma: bool = False,
    header_row: int = 1,
    progress: ProgressCallback | None = None,
) -> ParsedUpload:
    """Parse a frame as transactions or as a customer table, as its columns say.

    ``kind`` insists on one; then its required columns must be there.
    Other parameters are those of :func:`parse_transactions`.
    """
    columns = [str(column) for column in frame.columns]
    detected = kind or detect_kind(columns) or "transactions"
    parse = parse_customers if detected == "customers" else parse_transactions
    return parse(
        frame,
        source_name,
        decimal_comma=decimal_comma,
        header_row=header_row,
        progress=progress,
    )


def detect_kind(columns: list[str]) -> str | None:
    """``"transactions"``, ``"customers"`` or None, from column names alone.

    Transactions need a customer id, a date and an amount (or quantity and
    unit price); a customer table needs a customer id and at least one other
    named column.
    """
    mapping = map_columns(columns)
    if "customer_id" not in mapping:
        return None
    if "date" in mapping and ("amount" in mapping or {"quantity", "unit_price"} <= mapping.keys()):
        return "transactions"
    others = [c for c in columns if c.strip() and c != mapping["customer_id"]]
    return "customers" if others else None


def _header_score(names: list[str], kind: str | None) -> int:
    """A workbook row as a header: 0 when it is none, higher when it holds the wanted kind."""
    detected = detect_kind(names)
    if detected is None or (kind == "transactions" and detected != "transactions"):
        return 0
    wanted = kind or "transactions"
    return 2 if detected == wanted else 1


def _base_name(name: str) -> str:
    """A browser or robot may send a full client path; keep the file name."""
    return re.split(r"[\\/]", name)[-1] or name


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_csv_bytes(data: bytes, source_name: str) -> tuple[pd.DataFrame, str]:
    """Read CSV bytes into a frame of strings; returns the frame and its delimiter.

    Raises
    ------
    IngestError
        When the bytes are empty, binary, or not well-formed CSV.
    """
    if not data.strip():
        raise IngestError(f"{source_name}: the file is empty")
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
    header_row: int = 1,
    progress: ProgressCallback | None = None,
) -> ParsedUpload:
    """Map, validate and normalise a transactions frame into dataset tables.

    Row ``i`` of ``frame`` (by position) is reported as row
    ``header_row + 1 + i`` of the source.

    Parameters
    ----------
    frame
        One row per order line (or per order); any column names, matched to
        the fields through :data:`COLUMN_SYNONYMS`.
    source_name
        Used in error messages.
    decimal_comma
        Read ``1.234,50`` style numbers (files delimited by ``;``).
    header_row
        The source's row number of the header (1 in a CSV file).
    progress
        Called with ``(fraction, stage)``.

    Returns
    -------
    ParsedUpload

    Raises
    ------
    IngestError
        When a required column is missing or a value is missing or unreadable.
    """
    if progress is not None:
        progress(0.0, "validating")
    frame = frame.set_axis([str(column) for column in frame.columns], axis="columns")
    mapping = map_columns(list(frame.columns))
    _require_columns(mapping, list(frame.columns), source_name)
    selected = _select_rows(frame, mapping, source_name, header_row)
    columns = _Columns(selected.frame, mapping, selected.rows, decimal_comma)

    dates = columns.dates("date", required=True)
    if "amount" in mapping:
        amount = columns.numbers("amount", required=True)
        quantity = (
            columns.numbers("quantity", required=True)
            if "quantity" in mapping
            else np.ones(len(columns))
        )
        unit_price = (
            columns.numbers("unit_price", required=False)
            if "unit_price" in mapping
            else np.divide(amount, quantity, out=np.full(len(columns), np.nan), where=quantity != 0)
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
    return selected.parsed(tables, mapping, source_name, "transactions")


def parse_customers(
    frame: pd.DataFrame,
    source_name: str,
    *,
    decimal_comma: bool = False,
    header_row: int = 1,
    progress: ProgressCallback | None = None,
) -> ParsedUpload:
    """Map and validate a customer table (one row per customer) into dataset tables.

    The customer id, name, email, region, country, signup date and
    satisfaction columns fill the customer fields; every other column is kept
    in ``attributes`` under a snake_case key (``MonthlyCharges`` ->
    ``monthly_charges``), numbers as numbers. A churn label column
    (:data:`CHURN_COLUMNS`) becomes ``attributes["churn"]``, a bool. Blank
    values are left out of ``attributes``. The tables hold no orders.

    Parameters are those of :func:`parse_transactions`.

    Raises
    ------
    IngestError
        When there is no customer id column, a customer id appears on more
        than one row, or a value is unreadable.
    """
    if progress is not None:
        progress(0.0, "validating")
    frame = frame.set_axis([str(column) for column in frame.columns], axis="columns")
    names = list(frame.columns)
    mapping = {
        field: column for field, column in map_columns(names).items() if field in _CUSTOMER_FIELDS
    }
    if "customer_id" not in mapping:
        accepted = ", ".join(repr(name) for name in COLUMN_SYNONYMS["customer_id"])
        shown = ", ".join(repr(name) for name in names[:30]) or "none"
        raise IngestError(
            f"{source_name}: missing required column customer id (accepted names: "
            f"{accepted}). Columns found: {shown}"
        )
    churn_keys = {_key(name) for name in CHURN_COLUMNS}
    churn_column = next(
        (c for c in names if _key(c) in churn_keys and c not in mapping.values()), None
    )
    if churn_column is not None:
        mapping["churn"] = churn_column
    selected = _select_rows(frame, mapping, source_name, header_row)
    columns = _Columns(selected.frame, mapping, selected.rows, decimal_comma)
    customer = columns.keys("customer_id")
    assert customer is not None
    _refuse_duplicate_customers(columns, customer)

    if progress is not None:
        progress(0.5, "building")
    count = len(customer.labels)
    attributes = _attributes(columns, [c for c in names if c not in mapping.values()])
    customers = pd.DataFrame(
        {
            "id": np.arange(1, count + 1),
            "external_id": customer.labels,
            "name": _first_labels(columns.keys("customer_name"), customer.codes, count),
            "email": _first_labels(columns.keys("email"), customer.codes, count),
            "region": _first_labels(columns.keys("region"), customer.codes, count),
            "country": _first_labels(columns.keys("country"), customer.codes, count),
            "signup_date": (
                columns.dates("signup_date", required=False)
                if "signup_date" in mapping
                else np.full(count, np.datetime64("NaT"), dtype="datetime64[ns]")
            ),
            "satisfaction_score": (
                columns.numbers("satisfaction", required=False)
                if "satisfaction" in mapping
                else np.full(count, np.nan)
            ),
            "attributes": attributes,
        }
    )
    tables = DatasetTables(
        customers=customers,
        products=db.empty_frame(db.Product),
        sales_reps=db.empty_frame(db.SalesRep),
        orders=db.empty_frame(db.Order),
        order_items=db.empty_frame(db.OrderItem),
    )
    if progress is not None:
        progress(1.0, "building")
    return selected.parsed(tables, mapping, source_name, "customers")


@dataclass(frozen=True)
class _Selected:
    """The rows kept for parsing, with their source row numbers and what was skipped."""

    frame: pd.DataFrame
    rows: np.ndarray
    rows_read: int
    rejections: tuple[str, ...]

    def parsed(
        self, tables: DatasetTables, mapping: dict[str, str], source_name: str, kind: str
    ) -> ParsedUpload:
        rejected = self.rows_read - len(self.frame)
        return ParsedUpload(
            tables=tables,
            column_mapping=dict(mapping),
            rows_read=self.rows_read,
            rows_rejected=rejected,
            source=DatasetSource(
                filename=source_name, rows_read=self.rows_read, rows_rejected=rejected
            ),
            kind=kind,
            rejections=self.rejections,
        )


def _select_rows(
    frame: pd.DataFrame, mapping: dict[str, str], source_name: str, header_row: int
) -> _Selected:
    """Drop blank rows (not counted) and rows without a customer id (counted, rejected)."""
    frame = frame.reset_index(drop=True)
    filled = ~frame.isna().all(axis=1).to_numpy()
    has_id = _keys(frame[mapping["customer_id"]]).codes >= 0
    keep = filled & has_id
    if not keep.any():
        raise IngestError(
            f"{source_name}: no data rows with a customer id"
            + ("" if filled.any() else " (the file has a header but no data)"),
            column=mapping["customer_id"],
        )
    skipped = np.flatnonzero(filled & ~has_id)[:_MAX_REJECTIONS] + header_row + 1
    return _Selected(
        frame=frame.loc[keep].reset_index(drop=True),
        rows=np.flatnonzero(keep) + header_row + 1,
        rows_read=int(filled.sum()),
        rejections=tuple(f"row {row}: missing customer id" for row in skipped),
    )


def _refuse_duplicate_customers(columns: _Columns, customer: _Keys) -> None:
    repeated = pd.Series(customer.codes).duplicated(keep=False).to_numpy()
    if not repeated.any():
        return
    rows_by_code: dict[int, list[int]] = {}
    for position in np.flatnonzero(repeated):
        rows_by_code.setdefault(int(customer.codes[position]), []).append(
            int(columns.rows[position])
        )
    shown = [
        f"{customer.labels[code]!r} on rows {', '.join(str(r) for r in rows[:5])}"
        + (" ..." if len(rows) > 5 else "")
        for code, rows in itertools.islice(rows_by_code.items(), 5)
    ]
    more = f" and {len(rows_by_code) - 5} more" if len(rows_by_code) > 5 else ""
    column = columns.mapping["customer_id"]
    first = min(rows[1] for rows in rows_by_code.values())
    raise IngestError(
        f"column {column!r} (customer id): a customer table has one row per customer, but "
        f"these customer ids repeat: {'; '.join(shown)}{more}",
        column=column,
        row=first,
    )


def _attributes(columns: _Columns, names: list[str]) -> list[dict[str, Any] | None]:
    """One dict per customer row: the unmapped columns, plus ``churn`` as a bool."""
    keyed: list[tuple[str, list[Any]]] = []
    taken = {"churn"} if "churn" in columns.mapping else set()
    for name in names:
        key = _attribute_key(name)
        suffix = 2
        base = key
        while key in taken:
            key, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(key)
        keyed.append((key, _attribute_values(columns.frame[name])))
    if "churn" in columns.mapping:
        keyed.append(("churn", _churn_labels(columns)))
    keys = [key for key, _ in keyed]
    rows = zip(*(values for _, values in keyed), strict=True) if keyed else ()
    result: list[dict[str, Any] | None] = [
        {key: value for key, value in zip(keys, row, strict=True) if value is not None} or None
        for row in rows
    ]
    return result or [None] * len(columns)


def _attribute_key(name: str) -> str:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", spaced)
    return re.sub(r"[^0-9a-z]+", "_", spaced.lower()).strip("_") or "column"


def _attribute_values(series: pd.Series) -> list[Any]:
    """JSON-ready values: numbers when every value reads as one, else text."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return [bool(value) for value in series.tolist()]
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return [_iso(value) for value in series.tolist()]
    if pd.api.types.is_numeric_dtype(series.dtype):
        numbers = series.to_numpy(dtype="float64", na_value=np.nan)
    else:
        text = series.astype("str").str.strip().where(series.notna())
        text = text.where(text != "")
        numbers = _to_float(text)
        if (np.isnan(numbers) & text.notna().to_numpy()).any():
            return [
                _iso(value) if isinstance(value, dt.datetime | dt.date) else value
                for value in text.where(text.notna(), None).tolist()
            ]
    finite = numbers[np.isfinite(numbers)]
    integral = bool(np.all(finite == np.round(finite))) and bool(np.all(np.abs(finite) < 2**53))
    return [
        None if not math.isfinite(value) else int(value) if integral else value
        for value in numbers.tolist()
    ]


def _iso(value: Any) -> str | None:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _churn_labels(columns: _Columns) -> list[bool | None]:
    raw = columns.raw("churn")
    text = raw.astype("str").str.strip().str.lower().where(raw.notna())
    text = text.str.replace(r"^(-?\d+)\.0*$", r"\1", regex=True).where(text != "")
    labels: list[bool | None] = []
    for position, value in enumerate(text.tolist()):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            labels.append(None)
        elif value in _CHURN_TRUE:
            labels.append(True)
        elif value in _CHURN_FALSE:
            labels.append(False)
        else:
            raise columns.fail(
                "churn",
                position,
                f"has {raw.iloc[position]!r}",
                "a churn label: yes/no, true/false or 1/0",
            )
    return labels


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
    """Parse with the candidate format that reads the most values, then the rest likewise.

    A column may mix formats (ISO dates among ``31/01/2024``), but never both
    day-first and month-first numeric dates: once one order is chosen, the
    other is not tried, and its values stay unread (an error names the row).
    """
    result = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    unread = text.notna().to_numpy(copy=True)
    order: str | None = None
    while unread.any():
        remaining = text[unread]
        best: np.ndarray | None = None
        best_count, best_order = 0, ""
        for fmt in _DATE_FORMATS:
            fmt_order = _field_order(fmt)
            if order is not None and fmt_order in ("mdy", "dmy") and fmt_order != order:
                continue
            parsed = pd.to_datetime(remaining, format=fmt, errors="coerce")
            count = int(parsed.notna().sum())
            if count > best_count:
                best, best_count, best_order = parsed.to_numpy("datetime64[ns]"), count, fmt_order
                if count == len(remaining):
                    break
        if best is None:
            break
        positions = np.flatnonzero(unread)
        found = ~np.isnat(best)
        result[positions[found]] = best[found]
        unread[positions[found]] = False
        if best_order in ("mdy", "dmy"):
            order = best_order
    return result


def _field_order(fmt: str) -> str:
    """``ymd``, ``mdy``, ``dmy`` for numeric formats; ``named`` when the month is a name."""
    if "%b" in fmt or "%B" in fmt:
        return "named"
    if fmt.startswith("%Y"):
        return "ymd"
    return "mdy" if fmt.index("%m") < fmt.index("%d") else "dmy"


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
    encoding = text_encoding(data)
    if encoding is None:
        raise IngestError(f"{source_name}: this is a binary file, not a CSV text file")
    return encoding


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
    if not encoding.startswith("utf-16"):
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
