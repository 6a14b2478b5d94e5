from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from analytics.formats import (
    IngestError,
    UnsupportedFormatError,
    check_xlsx_archive,
    read_excel_frame,
    sniff_format,
)

DATA = Path(__file__).parent.parent / "data"


def workbook_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def write_zeros_member(path: Path, member: str, megabytes: int) -> None:
    """A zip whose one member inflates to ``megabytes`` of zeros (about 1000:1)."""
    chunk = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open(member, "w", force_zip64=True) as out,
    ):
        for _ in range(megabytes):
            out.write(chunk)


def xlsx_with_big_member(path: Path, megabytes: int) -> None:
    write_zeros_member(path, "xl/worksheets/sheet1.xml", megabytes)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")


@pytest.mark.parametrize(
    "head",
    [
        b"customer,date,amount\n1,2024-01-01,5\n",
        "customer;date;amount\nJosé;2024-01-01;5\n".encode("latin-1"),
        "customer,date,amount\n1,2024-01-01,5 €\n".encode("cp1252"),
        "\ufeffcustomer,date\n1,2024-01-01\n".encode(),
        "customer\tdate\n1\t2024-01-01\n".encode("utf-16"),
        "customer\tdate\n1\t2024-01-01\n".encode("utf-16-le"),
        "customer,date\nłódź,2024-01-01\n".encode()[:-3] + b"\xc5",  # cut inside a character
    ],
)
def test_text_is_csv(head: bytes) -> None:
    assert sniff_format(head, "sales.csv") == "csv"


def test_workbook_is_xlsx_whatever_its_name() -> None:
    head = workbook_bytes({"Sheet": [["customer", "date", "amount"]]})

    assert sniff_format(head, "export.csv") == "xlsx"
    assert sniff_format(head, None) == "xlsx"


def test_ole2_workbook_is_xls() -> None:
    head = (DATA / "retail.xls").read_bytes()[:4096]

    assert sniff_format(head, "retail.csv") == "xls"


@pytest.mark.parametrize(
    ("head", "what"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        (bytes(range(256)) * 4, "binary data, not text"),
        (b"\x01\x02\x03\x04\x05\x06\x07\x08 mostly control", "binary data"),
        (zip_bytes({"sales.csv": b"customer,date,amount\n"}), "a zip archive (its first file is"),
        (zip_bytes({"[Content_Types].xml": b"x", "word/document.xml": b"x"}), "Word document"),
        (b"<!DOCTYPE html><html><table><tr><td>1</td></tr></table>", "an HTML page"),
        (b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com">', "XML"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "a gzip archive"),
    ],
)
def test_other_content_is_unsupported_and_says_what_it_is(head: bytes, what: str) -> None:
    with pytest.raises(UnsupportedFormatError) as caught:
        sniff_format(head, "sales.csv")

    message = str(caught.value)
    assert message.startswith("sales.csv: unsupported file type: the content is ")
    assert what in message
    assert "CSV text files (.csv) and Excel workbooks (.xlsx, .xls)" in message
    assert caught.value.code == "UNSUPPORTED_MEDIA_TYPE"
    assert isinstance(caught.value, IngestError)


def test_empty_head_is_an_ingest_error() -> None:
    with pytest.raises(IngestError, match=r"sales\.xlsx: the file is empty"):
        sniff_format(b"", "sales.xlsx")


def test_zip_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    xlsx_with_big_member(path, 300)
    assert path.stat().st_size < 2 * 1024 * 1024

    with pytest.raises(IngestError, match=r"bomb.xlsx: the workbook would inflate to 315 MB"):
        check_xlsx_archive(path, "bomb.xlsx")


def test_absurd_compression_ratio_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    xlsx_with_big_member(path, 20)

    with pytest.raises(IngestError, match=r"xl/worksheets/sheet1.xml is compressed [\d,]+:1"):
        check_xlsx_archive(path, "bomb.xlsx")


def test_truncated_xlsx_is_not_valid(tmp_path: Path) -> None:
    path = tmp_path / "cut.xlsx"
    path.write_bytes(workbook_bytes({"Sheet": [["customer"]]})[:300])

    with pytest.raises(IngestError, match=r"cut.xlsx: not a valid .xlsx workbook: "):
        check_xlsx_archive(path, "cut.xlsx")


def header_score(names: list[str]) -> int:
    return int({"CustomerID", "InvoiceDate"} <= set(names))


def test_header_is_found_below_a_title_in_the_first_matching_sheet(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    path.write_bytes(
        workbook_bytes(
            {
                "Notes": [["Exported by the robot"], ["CustomerID is the key"]],
                "Sales": [
                    ["Sales export"],
                    [],
                    ["CustomerID", "InvoiceDate", None, "Amount", None],
                    [17850, dt.datetime(2010, 12, 1, 8, 26), None, 2.5, None],
                    [None, None, None, None, None],
                    ["13047", dt.datetime(2010, 12, 2), None, "n/a", None],
                    [None, None, None, None, None],
                ],
            }
        )
    )

    read = read_excel_frame(path, "xlsx", None, header_score=header_score)

    assert read.sheet == "Sales"
    assert read.sheets == ("Notes", "Sales")
    assert read.header_row == 3
    assert list(read.frame.columns) == ["CustomerID", "InvoiceDate", "Amount"]
    assert len(read.frame) == 3  # trailing blank rows dropped, inner ones kept
    assert read.frame["CustomerID"].tolist()[0] == 17850
    assert read.frame["InvoiceDate"].iloc[0] == pd.Timestamp("2010-12-01 08:26")
    assert read.frame["Amount"].tolist()[2] == "n/a"


def test_named_sheet_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    path.write_bytes(workbook_bytes({"Notes": [["x"]], "Sales": [["y"]]}))

    with pytest.raises(
        IngestError, match=r"there is no sheet 'Orders'; the sheets are 'Notes', 'Sales'"
    ):
        read_excel_frame(path, "xlsx", "Orders", header_score=header_score)


def test_without_a_matching_header_the_first_filled_sheet_is_read(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    path.write_bytes(workbook_bytes({"Empty": [], "Data": [["a", "b"], [1, 2]]}))

    read = read_excel_frame(path, "xlsx", None, header_score=header_score)

    assert read.sheet == "Data"
    assert list(read.frame.columns) == ["a", "b"]


def test_workbook_with_only_empty_sheets(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    path.write_bytes(workbook_bytes({"A": [], "B": []}))

    with pytest.raises(IngestError, match="every sheet is empty"):
        read_excel_frame(path, "xlsx", None, header_score=header_score)


def test_xls_reader_types_dates_and_numbers() -> None:
    read = read_excel_frame(DATA / "retail.xls", "xls", None, header_score=header_score)

    assert read.sheet == "Sales"
    assert read.header_row == 3
    assert read.frame["InvoiceDate"].tolist()[:2] == [
        pd.Timestamp("2010-12-01 08:26"),
        pd.Timestamp("2010-12-01 08:26"),
    ]
    assert read.frame["Quantity"].tolist() == [6, 4, 10, 2, -1]
    assert read.frame["InvoiceNo"].tolist()[-1] == "C536379"


def test_ole2_file_that_is_no_workbook(tmp_path: Path) -> None:
    path = tmp_path / "fake.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))

    with pytest.raises(IngestError, match=r"fake.xls: "):
        read_excel_frame(path, "xls", None, header_score=header_score)
