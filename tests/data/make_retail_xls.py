"""Writes retail.xls, the legacy-Excel fixture of tests/analytics/test_formats.py.

xlwt (the only writer of .xls) is not a dependency; to regenerate the file:
``python -m venv /tmp/xlwt && /tmp/xlwt/bin/pip install xlwt &&
/tmp/xlwt/bin/python tests/data/make_retail_xls.py``. The rows are
``RETAIL_ROWS`` of the test module, below a title block, with a note sheet first.
"""

import datetime as dt
from pathlib import Path

import xlwt  # type: ignore[import-not-found]

ROWS = [
    (
        "536365",
        "85123A",
        "WHITE HANGING HEART",
        6,
        dt.datetime(2010, 12, 1, 8, 26),
        2.55,
        17850,
        "United Kingdom",
    ),
    (
        "536365",
        "71053",
        "WHITE METAL LANTERN",
        4,
        dt.datetime(2010, 12, 1, 8, 26),
        3.25,
        17850,
        "United Kingdom",
    ),
    (
        "536366",
        "22633",
        "HAND WARMER",
        10,
        dt.datetime(2010, 12, 13, 9, 2),
        1.85,
        17850,
        "United Kingdom",
    ),
    (
        "536367",
        "71053",
        "WHITE METAL LANTERN",
        2,
        dt.datetime(2010, 12, 1, 8, 34),
        3.25,
        13047,
        "France",
    ),
    (
        "C536379",
        "71053",
        "WHITE METAL LANTERN",
        -1,
        dt.datetime(2010, 12, 2, 9, 41),
        3.25,
        13047,
        "France",
    ),
]
HEADER = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
    "CustomerID", "Country",
)  # fmt: skip


def main() -> None:
    book = xlwt.Workbook()
    notes = book.add_sheet("Notes")
    notes.write(0, 0, "Exported by the robot")
    sheet = book.add_sheet("Sales")
    sheet.write(0, 0, "Online retail export")
    date_style = xlwt.easyxf(num_format_str="dd/mm/yyyy hh:mm")
    for column, name in enumerate(HEADER):
        sheet.write(2, column, name)
    for row, values in enumerate(ROWS, start=3):
        for column, value in enumerate(values):
            if isinstance(value, dt.datetime):
                sheet.write(row, column, value, date_style)
            else:
                sheet.write(row, column, value)
    book.save(str(Path(__file__).with_name("retail.xls")))


if __name__ == "__main__":
    main()
