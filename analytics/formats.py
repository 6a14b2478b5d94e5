"""What an uploaded file is, decided by its bytes, and reading workbooks into frames.

The file name never decides the format: robots save CSV as ``.xls`` and
workbooks as ``.csv`` often enough, and a name is easy to fake. The content
decides, and anything that is not CSV text, an ``.xlsx`` or an ``.xls``
workbook is refused with a message saying what it looks like.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import itertools
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analytics.db import ProgressCallback
from analytics.errors import AnalyticsError

# Enough to see the first zip members' names and to judge text.
HEAD_BYTES = 65536
# An .xlsx is a zip: refuse to inflate more than this, or members that
# inflate absurdly, before any XML parser sees them.
MAX_XLSX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100
RATIO_CHECKED_FROM_BYTES = 10 * 1024 * 1024
# The header row may sit below a title block; it is looked for this far down.
HEADER_SCAN_ROWS = 20

ACCEPTED = "accepted are CSV text files (.csv) and Excel workbooks (.xlsx, .xls)"
FORMATS = ("csv", "xlsx", "xls")

_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x7fELF", "an executable program"),
    (b"MZ", "a Windows executable program"),
    (b"PK\x05\x06", "an empty zip archive"),
)
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_MAX_CONTROL_RATIO = 0.01


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


class UnsupportedFormatError(IngestError):
    """The content is not CSV text, an .xlsx or an .xls workbook."""

    code = "UNSUPPORTED_MEDIA_TYPE"


def sniff_format(head: bytes, filename: str | None) -> str:
    """Tell the format of a file from its first bytes (:data:`HEAD_BYTES` suffice).

    Parameters
    ----------
    head
        The start of the file.
    filename
        The name the file was sent with; only used in messages.

    Returns
    -------
    str
        ``"csv"``, ``"xlsx"`` or ``"xls"``.

    Raises
    ------
    IngestError
        When the file is empty.
    UnsupportedFormatError
        When the content is anything else, saying what it looks like.
    """
    name = filename or "the file"
    if not head:
        raise IngestError(f"{name}: the file is empty")
    if head.startswith(_ZIP_MAGIC):
        what = _zip_kind(head)
        if what is None:
            return "xlsx"
        raise _unsupported(name, what)
    if head.startswith(_OLE2_MAGIC):
        return "xls"
    if head.startswith(b"%PDF"):
        raise _unsupported(name, "a PDF document")
    encoding = text_encoding(head, partial=True)
    if encoding is not None:
        text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head)
        start = text.lstrip("\ufeff \t\r\n")[:200].lower()
        if start.startswith(("<!doctype html", "<html", "<table")):
            raise _unsupported(
                name, "an HTML page (some systems save web tables under an Excel name)"
            )
        if start.startswith("<?xml"):
            raise _unsupported(name, "an XML document (such as an Excel 2003 XML spreadsheet)")
        if start.startswith("{\\rtf"):
            raise _unsupported(name, "an RTF document")
        return "csv"
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            raise _unsupported(name, what)
    raise _unsupported(name, "binary data, not text")


def text_encoding(data: bytes, *, partial: bool = False) -> str | None:
    """The encoding that reads ``data`` as text, or None when it is not text.

    UTF-8 (with or without BOM), UTF-16 (with BOM, or little-endian without)
    and otherwise Windows-1252 / Latin-1. NUL bytes outside UTF-16, or more
    than 1% of control characters, mean binary. With ``partial``, ``data`` is
    the start of a file and may end inside a character.
    """
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif _looks_like_utf16le(data):
        encoding = "utf-16-le"
    elif b"\x00" in data[:HEAD_BYTES]:
        return None
    else:
        encoding = next(
            (enc for enc in ("utf-8-sig", "cp1252") if _decodes(data, enc, partial)), "latin-1"
        )
    sample = codecs.getincrementaldecoder(encoding)(errors="replace").decode(data[:HEAD_BYTES])
    if not sample.strip("\ufeff"):
        return encoding
    if len(_CONTROL_CHARS.findall(sample)) > _MAX_CONTROL_RATIO * len(sample):
        return None
    return encoding


def check_xlsx_archive(path: Path, source_name: str) -> None:
    """Refuse a corrupt .xlsx, a zip that is no workbook, and zip bombs.

    Only the zip directory is read. Python's zip reader never inflates a
    member past the size the directory declares, so checking the declared
    sizes bounds what the XML parser can be made to read.

    Raises
    ------
    IngestError
        When the archive is corrupt or would inflate too much.
    UnsupportedFormatError
        When the zip holds something other than an .xlsx workbook.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise IngestError(f"{source_name}: not a valid .xlsx workbook: {exc}") from exc
    names = {member.filename for member in members}
    if "xl/workbook.bin" in names:
        raise _unsupported(source_name, "an Excel binary workbook (.xlsb)")
    if not any(name.startswith("xl/") for name in names) or "[Content_Types].xml" not in names:
        raise _unsupported(source_name, _zip_kind(b"".join(n.encode() for n in names)) or "a zip")
    total = sum(member.file_size for member in members)
    if total > MAX_XLSX_UNCOMPRESSED_BYTES:
        raise IngestError(
            f"{source_name}: the workbook would inflate to {total / 1e6:,.0f} MB, more than "
            f"the {MAX_XLSX_UNCOMPRESSED_BYTES / 1e6:,.0f} MB allowed; split it or upload a CSV"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size >= RATIO_CHECKED_FROM_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise IngestError(
                f"{source_name}: not a valid .xlsx workbook: {member.filename} is compressed "
                f"{ratio:,.0f}:1 (more than {MAX_COMPRESSION_RATIO}:1 is refused as a zip bomb)"
            )


@dataclass(frozen=True)
class ExcelSheet:
    """One worksheet read into a frame.

    Attributes
    ----------
    frame
        The rows below the header, one column per header cell, values as the
        workbook typed them (numbers, datetimes, text, None).
    sheet
        The worksheet's name.
    header_row
        The 1-based row number of the header; data row ``i`` (by position)
        is row ``header_row + 1 + i`` of the sheet.
    sheets
        Every worksheet's name, in workbook order.
    """

    frame: pd.DataFrame
    sheet: str
    header_row: int
    sheets: tuple[str, ...]


def read_excel_frame(
    path: Path,
    fmt: str,
    sheet: str | None,
    *,
    header_score: Callable[[list[str]], int],
    source_name: str | None = None,
    progress: ProgressCallback | None = None,
) -> ExcelSheet:
    """Read the worksheet holding the data of an .xlsx or .xls workbook.

    Parameters
    ----------
    path
        The workbook.
    fmt
        ``"xlsx"`` (read with openpyxl, read-only, cached formula values) or
        ``"xls"`` (read with xlrd).
    sheet
        The worksheet to read. When None, the first worksheet whose header
        scores highest with ``header_score`` is read.
    header_score
        Scores a row of cells as a header: 0 when it is not one, higher for
        better. The header is the first of the first :data:`HEADER_SCAN_ROWS`
        rows with a positive score, else the first non-empty row.
    source_name
        Used in error messages; defaults to the file name.
    progress
        Called with ``(fraction, "reading")`` as rows are read.

    Returns
    -------
    ExcelSheet

    Raises
    ------
    IngestError
        When the workbook is corrupt, would inflate too much, has no such
        sheet or no data.
    """
    name = source_name or path.name
    if fmt == "xlsx":
        check_xlsx_archive(path, name)
        book: _Workbook = _XlsxWorkbook(path, name)
    elif fmt == "xls":
        book = _XlsWorkbook(path, name)
    else:
        raise ValueError(f"fmt must be 'xlsx' or 'xls', not {fmt!r}")
    with book:
        sheets = tuple(book.sheet_names())
        if sheet is not None:
            if sheet not in sheets:
                shown = ", ".join(repr(s) for s in sheets)
                raise IngestError(f"{name}: there is no sheet {sheet!r}; the sheets are {shown}")
            chosen, header_index = sheet, _find_header(book.head(sheet), header_score)[1]
        else:
            chosen, header_index = _choose_sheet(book, sheets, header_score, name)
        if progress is not None:
            progress(0.0, "reading")
        frame = _frame(book.rows(chosen, progress), header_index, name, chosen)
    if progress is not None:
        progress(1.0, "reading")
    return ExcelSheet(frame=frame, sheet=chosen, header_row=header_index + 1, sheets=sheets)


def _choose_sheet(
    book: _Workbook, sheets: Sequence[str], header_score: Callable[[list[str]], int], name: str
) -> tuple[str, int]:
    best: tuple[int, str, int] | None = None
    first_filled: tuple[str, int] | None = None
    for sheet in sheets:
        score, index = _find_header(book.head(sheet), header_score)
        if index >= 0 and first_filled is None:
            first_filled = (sheet, index)
        if score > 0 and (best is None or score > best[0]):
            best = (score, sheet, index)
    if best is not None:
        return best[1], best[2]
    if first_filled is None:
        raise IngestError(f"{name}: the workbook has no data (every sheet is empty)")
    # No sheet has the needed columns: read the first one so that the error
    # lists the columns it does have.
    return first_filled


def _find_header(
    rows: list[tuple[Any, ...]], header_score: Callable[[list[str]], int]
) -> tuple[int, int]:
    """``(score, index)`` of the header row; score 0 with the first non-empty row else."""
    first_filled = -1
    for index, row in enumerate(rows):
        names = [_cell_name(cell) for cell in row]
        if not any(names):
            continue
        if first_filled < 0:
            first_filled = index
        score = header_score(names)
        if score > 0:
            return score, index
    return 0, first_filled


def _cell_name(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _frame(
    rows: Iterator[tuple[Any, ...]], header_index: int, name: str, sheet: str
) -> pd.DataFrame:
    if header_index < 0:
        raise IngestError(f"{name}: sheet {sheet!r} is empty")
    header: tuple[Any, ...] = ()
    data: list[tuple[Any, ...]] = []
    for index, row in enumerate(rows):
        if index == header_index:
            header = row
        elif index > header_index:
            data.append(row)
    while data and all(_blank(cell) for cell in data[-1]):
        data.pop()
    width = max([len(header), *(len(row) for row in data)])
    names = [_cell_name(cell) for cell in header] + [""] * (width - len(header))
    # Cells past a row's end are blank (readers may shorten rows).
    padded = [row + (None,) * (width - len(row)) if len(row) < width else row for row in data]
    keep = [
        position
        for position, column in enumerate(names)
        if column or any(not _blank(row[position]) for row in padded)
    ]
    columns = _unique_names([names[p] or f"Unnamed: {p}" for p in keep])
    records = [tuple(row[p] for p in keep) for row in padded] if len(keep) < width else padded
    return pd.DataFrame.from_records(records, columns=columns, coerce_float=False)


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for column in names:
        count = seen.get(column, 0)
        seen[column] = count + 1
        unique.append(column if count == 0 else f"{column}.{count}")
    return unique


class _Workbook:
    """The few operations the sheet chooser needs, over openpyxl or xlrd."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name

    def __enter__(self) -> _Workbook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError

    def sheet_names(self) -> list[str]:
        raise NotImplementedError

    def rows(
        self, sheet: str, progress: ProgressCallback | None = None
    ) -> Iterator[tuple[Any, ...]]:
        raise NotImplementedError

    def head(self, sheet: str) -> list[tuple[Any, ...]]:
        return list(itertools.islice(self.rows(sheet), HEADER_SCAN_ROWS))


_PROGRESS_EVERY = 20_000


class _XlsxWorkbook(_Workbook):
    def __init__(self, path: Path, name: str) -> None:
        super().__init__(path, name)
        import openpyxl

        # A file object, not the path: openpyxl would refuse a stored upload's
        # name that does not end in .xlsx.
        self.file = path.open("rb")
        try:
            # openpyxl warns about workbook features it ignores (styles, data
            # validation); they change nothing that is read here.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.book = openpyxl.load_workbook(self.file, read_only=True, data_only=True)
        except Exception as exc:  # a malformed workbook fails in many ways
            self.file.close()
            raise IngestError(f"{name}: not a valid .xlsx workbook: {_reason(exc)}") from exc

    def close(self) -> None:
        self.book.close()
        self.file.close()

    def sheet_names(self) -> list[str]:
        return [ws.title for ws in self.book.worksheets]

    def rows(
        self, sheet: str, progress: ProgressCallback | None = None
    ) -> Iterator[tuple[Any, ...]]:
        worksheet = self.book[sheet]
        total = worksheet.max_row or 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for index, row in enumerate(worksheet.iter_rows(values_only=True)):
                    if progress is not None and index % _PROGRESS_EVERY == 0 and total:
                        progress(min(index / total, 1.0), "reading")
                    yield tuple(_xlsx_value(cell) for cell in row)
        except IngestError:
            raise
        except Exception as exc:  # a malformed sheet fails in many ways
            raise IngestError(
                f"{self.name}: not a valid .xlsx workbook: sheet {sheet!r}: {_reason(exc)}"
            ) from exc


def _xlsx_value(cell: Any) -> Any:
    if isinstance(cell, dt.time | dt.timedelta):
        return str(cell)
    return cell


class _XlsWorkbook(_Workbook):
    def __init__(self, path: Path, name: str) -> None:
        super().__init__(path, name)
        import xlrd

        self._xlrd = xlrd
        try:
            self.book = xlrd.open_workbook(str(path), on_demand=True, logfile=io.StringIO())
        except Exception as exc:  # a malformed workbook fails in many ways
            message = _reason(exc)
            if "encrypt" in message.lower() or _is_encrypted_package(path):
                raise _unsupported(name, "a password-protected workbook") from exc
            if "can't find workbook" in message.lower():
                raise _unsupported(
                    name, "an Office document without a workbook (such as a Word .doc)"
                ) from exc
            raise IngestError(f"{name}: not a valid .xls workbook: {message}") from exc

    def close(self) -> None:
        self.book.release_resources()

    def sheet_names(self) -> list[str]:
        return list(self.book.sheet_names())

    def rows(
        self, sheet: str, progress: ProgressCallback | None = None
    ) -> Iterator[tuple[Any, ...]]:
        xlrd = self._xlrd
        try:
            worksheet = self.book.sheet_by_name(sheet)
        except Exception as exc:  # a malformed sheet fails in many ways
            raise IngestError(
                f"{self.name}: not a valid .xls workbook: sheet {sheet!r}: {_reason(exc)}"
            ) from exc
        total = worksheet.nrows
        for index in range(total):
            if progress is not None and index % _PROGRESS_EVERY == 0:
                progress(index / total, "reading")
            types = worksheet.row_types(index)
            values = worksheet.row_values(index)
            yield tuple(
                _xls_value(xlrd, kind, value, self.book.datemode)
                for kind, value in zip(types, values, strict=True)
            )


def _xls_value(xlrd: Any, kind: int, value: Any, datemode: int) -> Any:
    if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if kind == xlrd.XL_CELL_DATE:
        try:
            return xlrd.xldate.xldate_as_datetime(value, datemode)
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return value
    if kind == xlrd.XL_CELL_BOOLEAN:
        return bool(value)
    if kind == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(value, "#ERROR")
    return value


def _is_encrypted_package(path: Path) -> bool:
    """An encrypted .xlsx is an OLE2 file holding an ``EncryptedPackage`` stream."""
    with path.open("rb") as file:
        return "EncryptedPackage".encode("utf-16-le") in file.read(HEAD_BYTES * 8)


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _zip_kind(head: bytes) -> str | None:
    """None for an .xlsx, else what the zip holds, judged from member names."""
    if b"xl/workbook.bin" in head:
        return "an Excel binary workbook (.xlsb)"
    if b"xl/" in head and b"word/" not in head and b"ppt/" not in head:
        return None
    if b"word/" in head:
        return "a Word document (.docx)"
    if b"ppt/" in head:
        return "a PowerPoint presentation (.pptx)"
    if b"opendocument.spreadsheet" in head:
        return "an OpenDocument spreadsheet (.ods)"
    if b"opendocument" in head:
        return "an OpenDocument file"
    if head.startswith(_ZIP_MAGIC) and len(head) >= 30:
        length = int.from_bytes(head[26:28], "little")
        first = head[30 : 30 + length].decode("utf-8", errors="replace")
        if first:
            return f"a zip archive (its first file is {first!r})"
    return "a zip archive"


def _unsupported(name: str, what: str) -> UnsupportedFormatError:
    suffix = Path(name).suffix.lower()
    named = f", although the name ends in {suffix}" if suffix in (".csv", ".xlsx", ".xls") else ""
    return UnsupportedFormatError(
        f"{name}: unsupported file type: the content is {what}{named}; {ACCEPTED}"
    )


def _looks_like_utf16le(data: bytes) -> bool:
    """BOM-less UTF-16LE text: mostly ASCII, so every odd byte is NUL and no even one."""
    sample = data[:4096]
    if len(sample) < 4:
        return False
    odd, even = sample[1::2], sample[0::2]
    return odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0


def _decodes(data: bytes, encoding: str, partial: bool) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(data, final=not partial)
    except UnicodeDecodeError:
        return False
    return True
