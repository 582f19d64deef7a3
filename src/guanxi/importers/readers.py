"""Read CSV and spreadsheet files as a header plus numbered rows of stripped strings.

Usage::

    with open_table(path) as table:
        for line, cells in table.rows:
            ...

The file stays open for the ``with`` block only, so iterate ``table.rows`` inside it.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from python_calamine import CalamineError, CalamineSheet, CalamineWorkbook

from guanxi.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from _csv import Reader

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
SHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
ZIP_SUFFIXES = (".xlsx", ".xlsm", ".ods")  # workbooks that are zip archives of XML parts
SAMPLE_BYTES = 64 * 1024
MAX_UNPACKED = 512 * 1024 * 1024  # a workbook's parts, unpacked: more is a zip bomb or a CSV job
MAX_CELL = 131_072  # characters in one cell, as the csv module's field limit
DELIMITERS = (",", "\t", ";", "|")

# Undecodable bytes decode to this lone surrogate, which no strict decoder ever produces, so a
# line holding it pinpoints where the bytes do not match the encoding.
_BAD_BYTES = "\udfff"
_MARK_ERRORS = "guanxi.mark-undecodable"


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: replace undecodable bytes with the marker character."""
    if isinstance(error, UnicodeDecodeError):
        return _BAD_BYTES, error.end
    raise error


codecs.register_error(_MARK_ERRORS, _mark_undecodable)

Row = tuple[int, list[str]]


@dataclass(frozen=True)
class Table:
    """A file's header and its non-empty rows as (1-based line or sheet row, stripped cells).

    ``encoding`` is the text encoding of a CSV file and None for a spreadsheet; ``sheet`` is the
    sheet read from a spreadsheet and None for a CSV file.
    """

    header: list[str]
    encoding: str | None
    rows: Iterator[Row]
    path: Path
    sheet: str | None = None


def detect_encoding(sample: bytes) -> str:
    """Guess a file's encoding from its first bytes: a BOM, else UTF-8 if valid, else GB18030."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    bomless = _utf16_without_bom(sample)
    if bomless:
        return bomless
    try:
        # final=False tolerates a multi-byte character cut at the end of the sample.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 written without a BOM (some Windows tools): its ASCII characters (digits,
    commas, line ends) show as a NUL byte at every other position; the other position holds
    a NUL only now and then (a CJK character such as U+4E00)."""
    if len(sample) < 4 or len(sample) % 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > len(sample) // 6 and even * 10 < odd:
        return "utf-16-le"
    if even > len(sample) // 6 and odd * 10 < even:
        return "utf-16-be"
    return None


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 digest of a file, read in chunks."""
    _check_file(path)
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


@contextmanager
def open_table(
    path: Path, *, encoding: str | None = None, sheet: str | None = None
) -> Iterator[Table]:
    """Open a CSV/TSV/TXT or XLSX/XLSM/XLS/ODS file as a Table for the ``with`` block.

    ``encoding`` overrides detection for text files; ``sheet`` picks a spreadsheet sheet by
    name (default: the first). Each is ignored for the other kind of file.
    """
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        with _open_csv(path, encoding) as table:
            yield table
    elif suffix in SHEET_SUFFIXES:
        with _open_sheet(path, sheet) as table:
            yield table
    else:
        supported = ", ".join(CSV_SUFFIXES + SHEET_SUFFIXES)
        raise InvalidInput(
            f"{path.name}: cannot read '{suffix or 'no suffix'}' files; supported: {supported}"
        )


def _check_file(path: Path) -> None:
    """Raise NotFound for a missing path and InvalidInput for a directory."""
    if not path.exists():
        raise NotFound(f"file not found: {path}")
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file")


# --- CSV -----------------------------------------------------------------------------------


@contextmanager
def _open_csv(path: Path, encoding: str | None) -> Iterator[Table]:
    """Open a delimited text file, detecting its encoding and delimiter."""
    with path.open("rb") as raw:
        sample = raw.read(SAMPLE_BYTES)
    chosen = encoding or detect_encoding(sample)
    try:
        codecs.lookup(chosen)
    except LookupError:
        raise InvalidInput(f"unknown encoding {chosen!r}: try utf-8 or gb18030") from None
    delimiter = sniff_delimiter(sample.decode(chosen, errors="replace"), path.suffix.lower())
    with path.open(encoding=chosen, errors=_MARK_ERRORS, newline="") as text:
        reader = csv.reader(_checked_lines(text, path, chosen), delimiter=delimiter)
        rows = _csv_rows(reader, path)
        first = next(rows, None)
        if first is None:
            raise InvalidInput(f"{path.name} has no header row")
        yield Table(_header(first[1]), chosen, rows, path)


def sniff_delimiter(text: str, suffix: str = ".csv") -> str:
    """Pick the delimiter among , TAB ; | that occurs most in the first non-blank line."""
    default = "\t" if suffix == ".tsv" else ","
    line = next((candidate for candidate in text.splitlines() if candidate.strip()), "")
    counts = {delimiter: line.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: (counts[delimiter], delimiter == default))
    return best if counts[best] else default


def _checked_lines(lines: Iterable[str], path: Path, encoding: str) -> Iterator[str]:
    """Pass physical lines through, raising InvalidInput at the first undecodable one."""
    for number, line in enumerate(lines, 1):
        if "\x00" in line:
            raise InvalidInput(
                f"{path.name} line {number} holds a NUL byte: it is not a {encoding} text file "
                "(save it again as CSV UTF-8)"
            )
        if _BAD_BYTES in line:
            other = "gb18030" if encoding.replace("_", "-").lower().startswith("utf") else "utf-8"
            raise InvalidInput(
                f"{path.name} line {number} is not valid {encoding} text; "
                f"the file may use another encoding: try --encoding {other}"
            )
        yield line


def _csv_rows(reader: Reader, path: Path) -> Iterator[Row]:
    """Yield (line where the record starts, stripped cells) for each non-empty record."""
    start = 1
    try:
        for record in reader:
            cells = [cell.strip() for cell in record]
            if any(cells):
                yield start, cells
            start = reader.line_num + 1
    except csv.Error as error:
        raise InvalidInput(f"{path.name} line {start}: cannot read CSV ({error})") from None


def _header(cells: list[str]) -> list[str]:
    """Strip header cells and drop any byte-order mark left in them."""
    return [cell.replace("\ufeff", "").strip() for cell in cells]


# --- spreadsheets ----------------------------------------------------------------------------


@contextmanager
def _open_sheet(path: Path, sheet: str | None) -> Iterator[Table]:
    """Open one sheet of a spreadsheet through calamine."""
    if path.suffix.lower() in ZIP_SUFFIXES:
        _check_unpacked_size(path)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError) as error:
        raise InvalidInput(f"cannot read {path.name} as a spreadsheet: {error}") from None
    with workbook:
        names = workbook.sheet_names
        if sheet is not None and sheet not in names:
            raise InvalidInput(
                f"{path.name} has no sheet named {sheet!r}; its sheets are: {', '.join(names)}"
            )
        if not names:
            raise InvalidInput(f"{path.name} has no sheets")
        name = sheet if sheet is not None else names[0]
        try:
            data = workbook.get_sheet_by_name(name)
        except CalamineError as error:
            raise InvalidInput(f"cannot read sheet {name!r} of {path.name}: {error}") from None
        rows = _sheet_rows(data, path) if data.start is not None else iter(())
        first = next(rows, None)
        if first is None:
            raise InvalidInput(f"{path.name} (sheet {name!r}) has no header row")
        yield Table(_header(first[1]), None, rows, path, name)


def _check_unpacked_size(path: Path) -> None:
    """Refuse a zip workbook whose parts unpack to more than MAX_UNPACKED bytes (a zip bomb
    would otherwise be inflated into memory whole). A part that inflates beyond its declared
    size is refused by calamine itself."""
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as error:
        raise InvalidInput(f"cannot read {path.name} as a spreadsheet: {error}") from None
    if unpacked > MAX_UNPACKED:
        raise InvalidInput(
            f"{path.name} unpacks to {unpacked // 2**20:,} MB, more than the "
            f"{MAX_UNPACKED // 2**20} MB a workbook may hold: save it as CSV and import that"
        )


def _sheet_rows(sheet: CalamineSheet, path: Path) -> Iterator[Row]:
    """Yield (sheet row number, cells as text) for each non-empty row, lazily; a cell over
    MAX_CELL characters or with a NUL character is refused, as in a CSV file."""
    # iter_rows pads the rows above the used range, so enumerate gives sheet row numbers.
    for number, row in enumerate(sheet.iter_rows(), 1):
        cells = [value.strip() if type(value) is str else cell_text(value) for value in row]
        for cell in cells:
            if len(cell) > MAX_CELL:
                raise InvalidInput(
                    f"{path.name} row {number}: a cell holds {len(cell):,} characters, "
                    f"more than {MAX_CELL:,}"
                )
            if "\x00" in cell:
                raise InvalidInput(f"{path.name} row {number}: a cell holds a NUL character")
        if any(cells):
            yield number, cells


CellValue = int | float | str | bool | time | date | datetime | timedelta


def cell_text(value: CellValue | None) -> str:
    """Render a spreadsheet cell as the text a person would type for it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="seconds")
    return _duration_text(value)


def _float_text(value: float) -> str:
    """Whole floats without ``.0`` (phones stored as numbers), others in shortest form."""
    if value.is_integer():
        return str(int(value))
    text = repr(value)
    if "e" in text:  # 1e-05 -> 0.00001; inf and nan have no "e"
        return format(Decimal(text), "f")
    return text


def _duration_text(value: timedelta) -> str:
    """Render a duration as ``H:MM:SS`` (hours may exceed 24)."""
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"
