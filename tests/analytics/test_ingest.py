from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from analytics import db
from analytics.frames import load_frames
from analytics.ingest import (
    IngestError,
    import_transactions,
    map_columns,
    parse_transactions,
    read_transactions,
)

CDNOW = """customer_id,date,quantity,amount
1,19970101,1,11.77
2,19970112,1,12.00
2,19970112,5,77.00
3,19970102,2,20.76
3,19970330,2,20.76
3,19970402,2,19.54
"""

RETAIL = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,4,12/1/2010 8:26,3.25,17850.0,United Kingdom
536366,22633,HAND WARMER,10,12/13/2010 9:02,1.85,17850.0,United Kingdom
536367,71053,WHITE METAL LANTERN,2,12/1/2010 8:34,3.25,13047,France
"""


def write(tmp_path: Path, text: str, name: str = "sales.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_map_columns_ignores_case_and_punctuation_and_knows_synonyms() -> None:
    columns = [
        "Client-ID", "INVOICE_NO", "Invoice Date", "Line Total", "Qty", "Unit.Price",
        "Stock Code", "Product Name", "Category", "Region", "Country", "Sales Rep", "E-mail",
    ]  # fmt: skip
    assert map_columns(columns) == {
        "customer_id": "Client-ID",
        "order_id": "INVOICE_NO",
        "date": "Invoice Date",
        "amount": "Line Total",
        "quantity": "Qty",
        "unit_price": "Unit.Price",
        "sku": "Stock Code",
        "description": "Product Name",
        "category": "Category",
        "region": "Region",
        "country": "Country",
        "sales_rep": "Sales Rep",
        "email": "E-mail",
    }


def test_map_columns_uses_country_as_region_when_there_is_no_region() -> None:
    mapping = map_columns(["CustomerID", "InvoiceDate", "Sales", "Country"])
    assert mapping["region"] == "Country"
    assert mapping["country"] == "Country"
    assert mapping["amount"] == "Sales"


def test_cdnow_style_file_gives_hand_computed_totals(engine: Engine, tmp_path: Path) -> None:
    result = import_transactions(engine, write(tmp_path, CDNOW), "cdnow")

    assert result.rows_read == 6
    assert result.rows_imported == 6
    assert result.orders == 6
    assert result.customers == 3
    assert result.revenue == pytest.approx(161.83)
    assert result.dataset.name == "sales"
    assert result.dataset.source_filename == "sales.csv"
    assert result.dataset.source_format == "csv"
    assert result.dataset.version == 1
    frames = load_frames(engine, "cdnow", result.dataset.version)
    assert frames.customers["external_id"].tolist() == ["1", "2", "3"]
    assert frames.orders["total"].sum() == pytest.approx(161.83)
    assert frames.orders["order_date"].min() == pd.Timestamp("1997-01-01")
    assert frames.orders["order_date"].max() == pd.Timestamp("1997-04-02")
    by_customer = frames.orders.groupby("customer_id")["total"].sum()
    assert by_customer.tolist() == pytest.approx([11.77, 89.0, 61.06])


def test_amount_is_quantity_times_unit_price_and_orders_group_lines(tmp_path: Path) -> None:
    parsed = read_transactions(write(tmp_path, RETAIL))
    tables = parsed.tables

    assert tables.order_items["amount"].tolist() == pytest.approx([15.3, 13.0, 18.5, 6.5])
    assert tables.orders["external_id"].tolist() == ["536365", "536366", "536367"]
    assert tables.orders["total"].tolist() == pytest.approx([28.3, 18.5, 6.5])
    assert tables.orders["order_date"].tolist() == [
        pd.Timestamp("2010-12-01"),
        pd.Timestamp("2010-12-13"),
        pd.Timestamp("2010-12-01"),
    ]
    assert tables.customers["external_id"].tolist() == ["17850", "13047"]
    assert tables.customers["country"].tolist() == ["United Kingdom", "France"]
    assert tables.products["sku"].tolist() == ["85123A", "71053", "22633"]
    assert tables.order_items["product_id"].tolist() == [1, 2, 3, 2]
    assert parsed.column_mapping["date"] == "InvoiceDate"


def test_amount_without_quantity_counts_one_unit(tmp_path: Path) -> None:
    text = "Customer,Order Date,Revenue,Product,Category,Salesperson\n"
    text += "a,2024-03-01,10.5,p1,Toys,Ann\nb,2024-03-02,4,p1,Books,Bob\n"
    tables = read_transactions(write(tmp_path, text)).tables

    assert tables.order_items["quantity"].tolist() == [1.0, 1.0]
    assert tables.products["category"].tolist() == ["Toys"]
    assert tables.sales_reps["name"].tolist() == ["Ann", "Bob"]
    assert tables.orders["sales_rep_id"].tolist() == [1, 2]


def test_missing_required_column_names_it(tmp_path: Path) -> None:
    path = write(tmp_path, "CustomerID,Quantity,UnitPrice\n1,2,3\n")

    with pytest.raises(IngestError, match="missing required column date") as caught:
        read_transactions(path)

    message = str(caught.value)
    assert message.endswith("Columns found: 'CustomerID', 'Quantity', 'UnitPrice'")
    assert "'invoice date'" in message
    assert caught.value.column is None


def test_bad_date_names_column_row_and_value(tmp_path: Path) -> None:
    text = RETAIL.replace("12/13/2010 9:02", "not a date")

    with pytest.raises(IngestError) as caught:
        read_transactions(write(tmp_path, text))

    assert str(caught.value) == (
        "column 'InvoiceDate' (date): row 4 has 'not a date', expected a date such as 2024-01-31"
    )
    assert caught.value.column == "InvoiceDate"
    assert caught.value.row == 4


def test_bad_number_names_column_row_and_value(tmp_path: Path) -> None:
    text = CDNOW.replace("77.00", "seventy")

    with pytest.raises(IngestError, match=r"column 'amount' \(amount\): row 4 has 'seventy'"):
        read_transactions(write(tmp_path, text))


def test_empty_required_value_names_the_row(tmp_path: Path) -> None:
    text = CDNOW.replace("3,19970330,2,20.76", "3,,2,20.76")

    with pytest.raises(IngestError, match=r"column 'date' \(date\): row 6 is empty"):
        read_transactions(write(tmp_path, text))


def test_order_id_of_two_customers_is_an_error(tmp_path: Path) -> None:
    text = RETAIL.replace("536367,71053", "536365,71053")

    with pytest.raises(IngestError, match=r"row 5 reuses order '536365' of customer '17850'"):
        read_transactions(write(tmp_path, text))


def test_rows_without_customer_id_are_rejected_and_counted(tmp_path: Path) -> None:
    text = CDNOW + ",19970105,1,9.99\n"
    parsed = read_transactions(write(tmp_path, text))

    assert parsed.rows_read == 7
    assert parsed.rows_rejected == 1
    assert len(parsed.tables.order_items) == 6


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"customer_id,date,amount\n", "no data rows"),
        (b"\x00\x01\x02binary\x00", "binary"),
        (b"PK\x03\x04zipped", "not a CSV"),
    ],
)
def test_unreadable_files_are_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)

    with pytest.raises(IngestError, match=message):
        read_transactions(path)


def test_ragged_row_names_the_row(tmp_path: Path) -> None:
    text = CDNOW.replace("2,19970112,5,77.00", "2,19970112,5,77.00,extra")

    with pytest.raises(IngestError, match="row 4 has 5 fields, expected 4") as caught:
        read_transactions(write(tmp_path, text))
    assert caught.value.row == 4


def test_reimport_replaces_and_bumps_version(engine: Engine, tmp_path: Path) -> None:
    first = import_transactions(engine, write(tmp_path, CDNOW), "sales", name="Sales")
    second = import_transactions(engine, write(tmp_path, RETAIL, "retail.csv"), "sales")

    assert first.dataset.version == 1
    assert second.dataset.version == 2
    assert second.dataset.name == "retail"
    frames = load_frames(engine, "sales", 2)
    assert frames.customers["external_id"].tolist() == ["17850", "13047"]
    assert len(frames.lines) == 4


def test_failed_reimport_leaves_previous_data(engine: Engine, tmp_path: Path) -> None:
    import_transactions(engine, write(tmp_path, CDNOW), "sales")
    bad = write(tmp_path, CDNOW.replace("20.76", "n/a", 1), "bad.csv")

    with pytest.raises(IngestError):
        import_transactions(engine, bad, "sales")

    dataset = db.get_dataset(engine, "sales")
    assert dataset.version == 1
    assert dataset.source_filename == "sales.csv"
    frames = load_frames(engine, "sales", 1)
    assert frames.orders["total"].sum() == pytest.approx(161.83)


def test_latin1_file(tmp_path: Path) -> None:
    text = "Customer,Date,Amount,Country\nJosé,2024-01-31,10,España\n"
    tables = read_transactions(write(tmp_path, text, encoding="latin-1")).tables

    assert tables.customers["external_id"].tolist() == ["José"]
    assert tables.customers["country"].tolist() == ["España"]


def test_utf8_bom_semicolons_and_decimal_comma(tmp_path: Path) -> None:
    text = "\ufeffKunde;Customer ID;Datum;Date;Betrag;Amount\nx;7;x;31/01/2024;x;1.234,50\n"
    text += "x;8;x;13/02/2024;x;2,25\n"
    parsed = read_transactions(write(tmp_path, text))

    assert parsed.column_mapping["customer_id"] == "Customer ID"
    assert parsed.tables.order_items["amount"].tolist() == pytest.approx([1234.5, 2.25])
    assert parsed.tables.orders["order_date"].tolist() == [
        pd.Timestamp("2024-01-31"),
        pd.Timestamp("2024-02-13"),
    ]


def test_tab_delimiter(tmp_path: Path) -> None:
    text = "customer\tdate\tsales\n1\t2024-05-01 10:30:00\t3.5\n"
    parsed = read_transactions(write(tmp_path, text))

    assert parsed.tables.orders["order_date"].tolist() == [pd.Timestamp("2024-05-01")]
    assert parsed.revenue == pytest.approx(3.5)


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (["01/02/2024", "03/04/2024"], ["2024-01-02", "2024-03-04"]),
        (["01/02/2024", "13/04/2024"], ["2024-02-01", "2024-04-13"]),
        (["20240102", "20241231"], ["2024-01-02", "2024-12-31"]),
        (["2024-01-02T08:00:00Z", "2024-12-31"], ["2024-01-02", "2024-12-31"]),
        (["1/2/2011 8:26", "12/13/2010 17:05"], ["2011-01-02", "2010-12-13"]),
    ],
)
def test_date_formats_are_inferred(dates: list[str], expected: list[str]) -> None:
    frame = pd.DataFrame({"customer": ["a", "b"], "date": dates, "amount": ["1", "2"]})
    parsed = parse_transactions(frame, "frame")

    assert parsed.tables.orders["order_date"].tolist() == [pd.Timestamp(d) for d in expected]


def test_typed_frame_from_a_spreadsheet() -> None:
    frame = pd.DataFrame(
        {
            "CustomerID": [17850.0, 13047.0],
            "InvoiceDate": pd.to_datetime(["2010-12-01 08:26", "2010-12-02 09:00"]),
            "Quantity": [2, 3],
            "UnitPrice": [1.5, 2.0],
        }
    )
    tables = parse_transactions(frame, "sheet").tables

    assert tables.customers["external_id"].tolist() == ["17850", "13047"]
    assert tables.order_items["amount"].tolist() == [3.0, 6.0]
    assert tables.orders["order_date"].tolist() == [
        pd.Timestamp("2010-12-01"),
        pd.Timestamp("2010-12-02"),
    ]


def test_progress_reports_each_stage_in_order(engine: Engine, tmp_path: Path) -> None:
    calls: list[tuple[float, str]] = []

    import_transactions(
        engine, write(tmp_path, RETAIL), "p", progress=lambda f, s: calls.append((f, s))
    )

    fractions = [fraction for fraction, _ in calls]
    stages = [stage.split()[0] for _, stage in calls]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0
    assert fractions[-1] == pytest.approx(1.0)
    assert list(dict.fromkeys(stages)) == ["reading", "validating", "building", "writing"]
