"""CSV and XLSX files that a spreadsheet opens safely: text never runs as a formula.

"CSV injection" (OWASP): a spreadsheet app treats a cell that starts with ``=``, ``+``, ``-``
or ``@`` (and, when importing text, TAB or CR) as a formula, so a customer named
``=HYPERLINK("http://x","y")`` becomes a live link, or worse a DDE command, in the hands of
the manager who opens an export. Every file the product writes for people goes through this
module, which writes such text with a leading apostrophe ``'``: spreadsheets show it as text.

The full-width forms ``＝ ＋ － ＠`` are treated the same: spreadsheet apps with an East Asian
input method convert full-width operators typed or pasted into a cell to half-width ones and
then read a formula, and our shops write Chinese. Only text is touched: numbers written as
numbers (a negative amount, a points balance) stay numbers.

One exception, for phone numbers: a text that is exactly ``+`` and 7 to 15 digits (E.164, the
form we store) is written unchanged. Digits only cannot call a function, name a cell or run a
command; the worst a spreadsheet does is show the number without its ``+``. SMS platforms and
our own importer need the ``+`` (an apostrophe would break the address).

XLSX files are written by xlsxwriter with ``write_string`` for text (``write`` would turn a
``=`` string into a formula) and with the formula, URL and number conversions off, in
constant-memory mode (rows go to disk as they are written: an export of 100,000 customers
holds one row in memory).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import xlsxwriter  # type: ignore[import-untyped]

from guanxi.errors import InvalidInput

FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")
_PHONE = re.compile(r"\+[0-9]{7,15}")
XLSX_MAX_ROWS = 1_048_576  # a worksheet's limit, the header row included

Cell = str | int | float | Decimal | date | None


def neutralise(text: str) -> str:
    """``text`` as a spreadsheet shows it literally: with a leading ``'`` if it would start a
    formula (an E.164 phone number excepted, see the module docstring)."""
    if text and text[0] in FORMULA_STARTS and not _PHONE.fullmatch(text):
        return "'" + text
    return text


def csv_cell(value: Cell) -> str | int | float | Decimal:
    """One value as the csv module writes it: text neutralised, numbers untouched, dates in
    ISO 8601, None empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


class SafeCsvWriter:
    """``csv.writer`` whose text cells are neutralised; same ``writerow`` / ``writerows``."""

    def __init__(self, out: TextIO, *, lineterminator: str = "\r\n") -> None:
        self._writer = csv.writer(out, lineterminator=lineterminator)

    def writerow(self, row: Iterable[Cell]) -> None:
        self._writer.writerow([csv_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Cell]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out: TextIO, *, lineterminator: str = "\r\n") -> SafeCsvWriter:
    """A CSV writer for a file that people open in a spreadsheet (RFC 4180 line ends)."""
    return SafeCsvWriter(out, lineterminator=lineterminator)


WORKBOOK_OPTIONS: dict[str, Any] = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "remove_timezone": True,
}


class XlsxWriter:
    """One worksheet written row by row to ``path`` (a context manager: the file is complete
    once the block ends without an error)."""

    def __init__(self, path: Path, *, sheet: str = "Sheet1") -> None:
        self._book = xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS)
        self._sheet = self._book.add_worksheet(sheet)
        self._date = self._book.add_format({"num_format": "yyyy-mm-dd"})
        self._datetime = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        self._row = 0

    def writerow(self, row: Iterable[Cell]) -> None:
        if self._row >= XLSX_MAX_ROWS:
            raise InvalidInput(
                f"more than {XLSX_MAX_ROWS - 1:,} rows do not fit in one Excel sheet: "
                "export as CSV instead"
            )
        for col, value in enumerate(row):
            self._write(col, value)
        self._row += 1

    def _write(self, col: int, value: Cell) -> None:
        sheet, row = self._sheet, self._row
        if value is None:
            return
        if isinstance(value, str):
            sheet.write_string(row, col, neutralise(value))
        elif isinstance(value, datetime):
            sheet.write_datetime(row, col, value, self._datetime)
        elif isinstance(value, date):
            sheet.write_datetime(row, col, datetime.combine(value, datetime.min.time()),
                                 self._date)  # fmt: skip
        else:  # money as a number a spreadsheet can sum (float: 15 significant digits)
            sheet.write_number(row, col, float(value) if isinstance(value, Decimal) else value)

    def writerows(self, rows: Iterable[Iterable[Cell]]) -> None:
        for row in rows:
            self.writerow(row)

    def close(self) -> None:
        self._book.close()

    def __enter__(self) -> XlsxWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
