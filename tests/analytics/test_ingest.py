from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from analytics import db
from analytics.errors import InvalidArgumentError
from analytics.frames import load_frames
from analytics.ingest import (
    IngestError,
    UnsupportedFormatError,
    import_file,
    import_transactions,
    map_columns,
    parse_transactions,
    read_transactions,
    read_upload,
)
from tests.analytics.test_formats import DATA, xlsx_with_big_member

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
        (b"PK\x03\x04zipped", "the content is a zip archive, although the name ends in .csv"),
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


RETAIL_HEADER = [
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
    "CustomerID", "Country",
]  # fmt: skip
# The rows of tests/data/retail.xls: the RETAIL lines plus a cancelled invoice.
RETAIL_ROWS: list[list[object]] = [
    [
        "536365",
        "85123A",
        "WHITE HANGING HEART",
        6,
        dt.datetime(2010, 12, 1, 8, 26),
        2.55,
        17850,
        "United Kingdom",
    ],
    [
        "536365",
        "71053",
        "WHITE METAL LANTERN",
        4,
        dt.datetime(2010, 12, 1, 8, 26),
        3.25,
        17850,
        "United Kingdom",
    ],
    [
        "536366",
        "22633",
        "HAND WARMER",
        10,
        dt.datetime(2010, 12, 13, 9, 2),
        1.85,
        17850,
        "United Kingdom",
    ],
    [
        "536367",
        "71053",
        "WHITE METAL LANTERN",
        2,
        dt.datetime(2010, 12, 1, 8, 34),
        3.25,
        13047,
        "France",
    ],
    [
        "C536379",
        "71053",
        "WHITE METAL LANTERN",
        -1,
        dt.datetime(2010, 12, 2, 9, 41),
        3.25,
        13047,
        "France",
    ],
]
RETAIL_CSV = RETAIL.replace("17850.0", "17850") + (
    "C536379,71053,WHITE METAL LANTERN,-1,12/2/2010 9:41,3.25,13047,France\n"
)

TELCO = """customerID,gender,SeniorCitizen,tenure,Contract,MonthlyCharges,TotalCharges,Churn
7590-VHVEG,Female,0,1,Month-to-month,29.85,29.85,No
5575-GNVDE,Male,0,34,One year,56.95,1889.5,No
3668-QPYBK,Male,0,2,Month-to-month,53.85,108.15,Yes
4472-LVYGI,Female,0,0,Two year,52.55, ,No
"""


def write_xlsx(path: Path, rows: list[list[object]], *, title: str = "Sheet1") -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def assert_same_tables(actual: db.DatasetTables, expected: db.DatasetTables) -> None:
    for name in ("customers", "products", "sales_reps", "orders", "order_items"):
        pd.testing.assert_frame_equal(getattr(actual, name), getattr(expected, name), obj=name)


def test_csv_xlsx_and_xls_of_the_same_data_give_identical_tables(tmp_path: Path) -> None:
    from_csv = read_upload(write(tmp_path, RETAIL_CSV, "retail.csv"))
    xlsx = write_xlsx(
        tmp_path / "retail.xlsx", [["Online retail export"], RETAIL_HEADER, *RETAIL_ROWS]
    )
    from_xlsx = read_upload(xlsx)
    from_xls = read_upload(DATA / "retail.xls")

    assert (from_csv.source.format, from_xlsx.source.format, from_xls.source.format) == (
        "csv", "xlsx", "xls",
    )  # fmt: skip
    assert_same_tables(from_xlsx.tables, from_csv.tables)
    assert_same_tables(from_xls.tables, from_csv.tables)
    assert from_csv.revenue == from_xlsx.revenue == from_xls.revenue == pytest.approx(50.05)
    assert from_xlsx.sheet == "Sheet1"
    assert from_xls.sheet == "Sales"
    assert from_csv.sheet is None


def test_xlsx_import_records_format_kind_and_original_name(engine: Engine, tmp_path: Path) -> None:
    stored = write_xlsx(tmp_path / "3f2a9c.upload", [RETAIL_HEADER, *RETAIL_ROWS])

    result = import_file(engine, stored, "shop", original_name="C:\\robot\\Retail Q4.xlsx")

    assert result.format == "xlsx"
    assert result.kind == "transactions"
    assert result.rows_imported == 5
    assert result.orders == 4
    assert result.revenue == pytest.approx(50.05)
    assert result.dataset.name == "Retail Q4"
    assert result.dataset.kind == "transactions"
    assert result.dataset.source_filename == "Retail Q4.xlsx"
    assert result.dataset.source_format == "xlsx"
    assert result.dataset.source_size == stored.stat().st_size


def test_xlsx_content_named_csv_is_read_as_a_workbook(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "sales.csv", [RETAIL_HEADER, *RETAIL_ROWS])

    assert read_upload(path).source.format == "xlsx"


def test_text_where_a_number_belongs_names_column_row_and_value_in_a_sheet(tmp_path: Path) -> None:
    rows = [list(row) for row in RETAIL_ROWS]
    rows[2][5] = "free"
    path = write_xlsx(tmp_path / "retail.xlsx", [["Export"], [], RETAIL_HEADER, *rows])

    with pytest.raises(IngestError) as caught:
        read_upload(path)

    assert str(caught.value) == (
        "column 'UnitPrice' (unit price): row 6 has 'free', expected a number such as 12.50"
    )
    assert (caught.value.column, caught.value.row) == ("UnitPrice", 6)


def test_cancelled_invoices_and_returns_count_negative_as_the_file_says(tmp_path: Path) -> None:
    parsed = read_upload(write(tmp_path, RETAIL_CSV))

    orders = parsed.tables.orders.set_index("external_id")
    assert orders.loc["C536379", "total"] == pytest.approx(-3.25)
    assert parsed.tables.order_items["quantity"].tolist()[-1] == -1.0
    assert len(orders) == 4
    assert parsed.revenue == pytest.approx(53.3 - 3.25)


def test_identical_rows_are_kept_as_separate_lines(tmp_path: Path) -> None:
    line = "536365,71053,WHITE METAL LANTERN,4,12/1/2010 8:26,3.25,17850,United Kingdom\n"
    text = RETAIL_HEADER_LINE + line + line + line
    parsed = read_upload(write(tmp_path, text))

    assert parsed.rows_read == 3
    assert len(parsed.tables.order_items) == 3
    assert len(parsed.tables.orders) == 1
    assert parsed.revenue == pytest.approx(3 * 13.0)


RETAIL_HEADER_LINE = ",".join(RETAIL_HEADER) + "\n"


def test_first_rejections_are_listed_with_row_numbers(tmp_path: Path) -> None:
    text = "customer,date,amount\n" + "".join(
        f"{'' if i % 2 else 'c' + str(i)},2024-01-0{1 + i % 9},{i}\n" for i in range(14)
    )
    text += ",,\n"  # a blank line is neither read nor rejected
    parsed = read_upload(write(tmp_path, text))

    assert parsed.rows_read == 14
    assert parsed.rows_rejected == 7
    assert parsed.rejections == tuple(f"row {row}: missing customer id" for row in (3, 5, 7, 9, 11))


def test_import_result_carries_rejections(engine: Engine, tmp_path: Path) -> None:
    result = import_file(engine, write(tmp_path, CDNOW + ",19970105,1,9.99\n"), "cdnow")

    assert result.rows_rejected == 1
    assert result.rejections == ("row 8: missing customer id",)
    assert result.dataset.rows_rejected == 1


def test_mixed_date_formats_in_one_column_are_read_when_unambiguous() -> None:
    frame = pd.DataFrame(
        {
            "customer": ["a", "b", "c", "d"],
            "date": ["2024-01-31", "13/02/2024", "5 Mar 2024", "01/04/2024 10:00"],
            "amount": ["1", "2", "3", "4"],
        }
    )
    parsed = parse_transactions(frame, "frame")

    assert parsed.tables.orders["order_date"].tolist() == [
        pd.Timestamp("2024-01-31"),
        pd.Timestamp("2024-02-13"),
        pd.Timestamp("2024-03-05"),
        pd.Timestamp("2024-04-01"),
    ]


def test_day_first_and_month_first_in_one_column_is_an_error_naming_the_row() -> None:
    frame = pd.DataFrame(
        {
            "customer": ["a", "b", "c"],
            "date": ["01/02/2024", "02/13/2024", "13/02/2024"],
            "amount": ["1", "2", "3"],
        }
    )

    with pytest.raises(IngestError, match=r"column 'date' \(date\): row 4 has '13/02/2024'"):
        parse_transactions(frame, "frame")


@pytest.mark.parametrize(
    ("name", "content", "error", "message"),
    [
        ("empty.csv", b"", IngestError, "empty.csv: the file is empty"),
        ("blank.csv", b"  \n\n", IngestError, "blank.csv: the file is empty"),
        ("header.csv", b"customer_id,date,amount\n", IngestError, "no data rows"),
        ("junk.csv", bytes(range(256)) * 8, UnsupportedFormatError, "binary data"),
        ("junk.xlsx", b"\x00\x01garbage" * 50, UnsupportedFormatError, "binary data"),
        ("doc.pdf", b"%PDF-1.4 ...", UnsupportedFormatError, "a PDF document"),
    ],
)
def test_bad_files_are_clear_errors(
    tmp_path: Path, name: str, content: bytes, error: type[Exception], message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(error, match=message):
        read_upload(path)


def test_header_only_workbook_has_no_data_rows(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "empty.xlsx", [RETAIL_HEADER])

    with pytest.raises(IngestError, match=r"empty\.xlsx: no data rows with a customer id"):
        read_upload(path)


def test_zip_bomb_upload_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    xlsx_with_big_member(path, 300)

    with pytest.raises(IngestError, match="would inflate to"):
        read_upload(path, original_name="bomb.xlsx")


def test_zip_that_is_no_workbook_is_unsupported(tmp_path: Path) -> None:
    archive = shutil.make_archive(str(tmp_path / "sales"), "zip", DATA, "make_retail_xls.py")

    with pytest.raises(UnsupportedFormatError, match=r"make_retail_xls\.py"):
        read_upload(Path(archive), original_name="sales.xlsx")


def test_customer_table_becomes_customers_with_attributes(tmp_path: Path) -> None:
    parsed = read_upload(write(tmp_path, TELCO, "telco.csv"))

    assert parsed.kind == "customers"
    assert parsed.rows_imported == 4
    assert parsed.column_mapping == {"customer_id": "customerID", "churn": "Churn"}
    customers = parsed.tables.customers
    assert customers["external_id"].tolist() == [
        "7590-VHVEG", "5575-GNVDE", "3668-QPYBK", "4472-LVYGI",
    ]  # fmt: skip
    assert customers["attributes"].tolist()[1] == {
        "gender": "Male",
        "senior_citizen": 0,
        "tenure": 34,
        "contract": "One year",
        "monthly_charges": 56.95,
        "total_charges": 1889.5,
        "churn": False,
    }
    assert [a["churn"] for a in customers["attributes"]] == [False, False, True, False]
    assert "total_charges" not in customers["attributes"].tolist()[3]
    assert parsed.tables.orders.empty
    assert parsed.tables.order_items.empty
    assert parsed.revenue == 0.0


def test_customer_table_import_writes_customers_only(engine: Engine, tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "churn.xlsx",
        [
            ["CustomerId", "Surname", "Geography", "Tenure", "Balance", "Exited"],
            [15634602, "Hargrave", "France", 2, 0.0, 1],
            [15647311, "Hill", "Spain", 1, 83807.86, 0],
        ],
    )

    result = import_file(engine, path, "churn")

    assert result.kind == "customers"
    assert (result.customers, result.orders, result.rows_imported) == (2, 0, 2)
    assert result.dataset.kind == "customers"
    frames = load_frames(engine, "churn", result.dataset.version)
    assert frames.customers["external_id"].tolist() == ["15634602", "15647311"]
    assert frames.customers["region"].tolist() == ["France", "Spain"]
    with engine.connect() as conn:
        stored = conn.execute(
            db.Customer.__table__.select().order_by(db.Customer.__table__.c.id)  # type: ignore[attr-defined]
        ).all()
    assert [row.attributes for row in stored] == [
        {"surname": "Hargrave", "tenure": 2, "balance": 0, "churn": True},
        {"surname": "Hill", "tenure": 1, "balance": 83807.86, "churn": False},
    ]


def test_repeated_customer_ids_in_a_customer_table_name_the_rows(tmp_path: Path) -> None:
    text = TELCO + "7590-VHVEG,Female,0,2,Month-to-month,29.85,59.7,Yes\n"

    with pytest.raises(IngestError, match=r"repeat: '7590-VHVEG' on rows 2, 6") as caught:
        read_upload(write(tmp_path, text))
    assert caught.value.row == 6


def test_unknown_churn_label_names_column_row_and_value(tmp_path: Path) -> None:
    text = TELCO.replace("53.85,108.15,Yes", "53.85,108.15,maybe")

    with pytest.raises(IngestError, match=r"column 'Churn' \(churn label\): row 4 has 'maybe'"):
        read_upload(write(tmp_path, text))


def test_kind_can_be_forced_and_must_then_fit(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="missing required columns date"):
        read_upload(write(tmp_path, TELCO), kind="transactions")
    with pytest.raises(InvalidArgumentError, match="kind: must be one of"):
        read_upload(write(tmp_path, TELCO), kind="orders")

    with pytest.raises(IngestError, match=r"these customer ids repeat: '2' on rows 3, 4; '3' on"):
        read_upload(write(tmp_path, CDNOW), kind="customers")


def test_workbook_prefers_the_transactions_sheet(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    customers = book.active
    assert customers is not None
    customers.title = "Customers"
    customers.append(["CustomerID", "Region", "Segment"])
    customers.append([17850, "North", "Retail"])
    orders = book.create_sheet("Orders")
    for row in [RETAIL_HEADER, *RETAIL_ROWS]:
        orders.append(row)
    path = tmp_path / "book.xlsx"
    book.save(path)

    assert read_upload(path).sheet == "Orders"
    assert read_upload(path, kind="customers").sheet == "Customers"
    assert read_upload(path, sheet="Customers").kind == "customers"
