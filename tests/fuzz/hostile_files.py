"""A corpus of hostile import files, written at test time (no binaries in the repository).

Each maker writes one file into a folder and returns its path. The files aim at the readers'
weak spots: zip bombs (honest and lying about their size), a 10 MB cell, formula-looking
values, wrong and broken encodings, NUL bytes, empty and header-only files, binary garbage
named .csv, thousands of columns.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from tests.factories import write_csv, write_xlsx

CUSTOMER_HEADER = ["姓名", "手机", "会员卡号", "备注"]
FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2", "@SUM(A1:A9)", '=HYPERLINK("http://x")']
BOMB_CHUNK_ROWS = 20_000  # rows in one repeated, separately compressed piece of the sheet
_ROW = b'<row><c t="inlineStr"><is><t>AAAAAAAA</t></is></c></row>'

_SHEET_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
    b'openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
_SHEET_TAIL = b"</sheetData></worksheet>"
_WORKBOOK_PARTS: dict[str, bytes] = {
    "[Content_Types].xml": (
        b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org'
        b'/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
        b'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="'
        b'application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
        b'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
        b'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        b'spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        b'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
        b'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target='
        b'"xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.'
        b'org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"'
        b"/></sheets></workbook>"
    ),
    "xl/_rels/workbook.xml.rels": (
        b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        b'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
        b'schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target='
        b'"worksheets/sheet1.xml"/></Relationships>'
    ),
}


def _deflate_repeated(head: bytes, chunk: bytes, times: int, tail: bytes) -> tuple[bytes, int, int]:
    """Raw deflate of head + chunk * times + tail without compressing it all: each piece is
    flushed to a byte boundary, so the compressed chunk can be repeated as it is.
    Returns (deflate data, CRC-32 and length of the inflated data)."""

    def piece(data: bytes) -> bytes:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush(zlib.Z_FULL_FLUSH)

    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(tail, crc)
    final = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = piece(head) + piece(chunk) * times + final.compress(tail) + final.flush()
    return body, crc, len(head) + len(chunk) * times + len(tail)


def _write_zip(path: Path, entries: list[tuple[str, bytes, int, int, int]]) -> None:
    """Write a zip of raw deflate entries (name, data, crc, real size, declared size);
    ZIP64 is avoided, so every declared size must stay below 4 GiB."""
    local, central = bytearray(), bytearray()
    for name, data, crc, _size, declared in entries:
        raw = name.encode()
        sizes = (crc, len(data), declared, len(raw))  # crc, compressed, uncompressed, name
        offset = len(local)
        # version 20, no flags, method 8 (deflate), time and date 0
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, *sizes, 0) + raw
        local += data
        tail = (0, 0, 0, 0, 0, offset)  # extra, comment, disk, attributes, offset
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, *sizes, *tail)
        central += raw
    count = len(entries)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(local), 0)
    path.write_bytes(bytes(local) + bytes(central) + end)


def zip_bomb_xlsx(folder: Path, *, gigabytes: float = 2.0, lying: bool = False) -> Path:
    """A small .xlsx whose one sheet inflates to ``gigabytes`` of rows. ``lying``: the zip
    directory claims the sheet is 1 KB (the CRC is then of nothing the reader will see)."""
    chunk = _ROW * BOMB_CHUNK_ROWS
    times = max(1, int(gigabytes * 2**30 / len(chunk)))
    sheet, crc, size = _deflate_repeated(_SHEET_HEAD, chunk, times, _SHEET_TAIL)
    entries = [(n, *_deflated(d)) for n, d in _WORKBOOK_PARTS.items()]
    entries.append(("xl/worksheets/sheet1.xml", sheet, crc, size, 1024 if lying else size))
    path = folder / ("lying_bomb.xlsx" if lying else "zip_bomb.xlsx")
    _write_zip(path, entries)
    return path


def _deflated(data: bytes) -> tuple[bytes, int, int, int]:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(), zlib.crc32(data), len(data), len(data)


def _good_rows(n: int = 30) -> list[list[str]]:
    """Valid customers put before a bad row: a refused file must not keep them."""
    return [[f"顾客{i}", f"1390000{i:04d}", f"G{i}", ""] for i in range(n)]


def huge_cell_csv(folder: Path) -> Path:
    return write_csv(
        folder / "huge_cell.csv",
        CUSTOMER_HEADER,
        [*_good_rows(), ["张三", "13812345678", "M1", "x" * 10_000_000]],
    )


def _inline_row(cells: list[str]) -> bytes:
    inner = "".join(f'<c t="inlineStr"><is><t>{c}</t></is></c>' for c in cells)
    return f"<row>{inner}</row>".encode()


def _xlsx(path: Path, rows: list[list[str]]) -> Path:
    """A minimal workbook written by hand, so that no writer's limits apply."""
    sheet = _SHEET_HEAD + b"".join(_inline_row(r) for r in rows) + _SHEET_TAIL
    entries = [(n, *_deflated(d)) for n, d in _WORKBOOK_PARTS.items()]
    entries.append(("xl/worksheets/sheet1.xml", *_deflated(sheet)))
    _write_zip(path, entries)
    return path


def huge_cell_xlsx(folder: Path) -> Path:
    """Excel caps a cell at 32,767 characters (xlsxwriter refuses more); a hostile writer
    does not."""
    bad = ["张三", "13812345678", "M1", "x" * 10**7]
    return _xlsx(folder / "huge_cell.xlsx", [CUSTOMER_HEADER, *_good_rows(), bad])


def nul_xlsx(folder: Path) -> Path:
    """OOXML escapes a NUL character as _x0000_, which the reader turns back into a NUL
    (PostgreSQL text cannot hold one)."""
    bad = ["张_x0000_三", "13812345678", "M1", ""]
    return _xlsx(folder / "nul.xlsx", [CUSTOMER_HEADER, *_good_rows(), bad])


def formulas_xlsx(folder: Path) -> Path:
    rows = [[f, f"1381235{n:04d}", f"X{n}", f] for n, f in enumerate(FORMULAS)]
    return write_xlsx(folder / "formulas.xlsx", CUSTOMER_HEADER, rows)


def formulas_csv(folder: Path) -> Path:
    rows = [[f, f"1381234{n:04d}", f"F{n}", f] for n, f in enumerate(FORMULAS)]
    return write_csv(folder / "formulas.csv", CUSTOMER_HEADER, rows)


def gbk_named_utf8(folder: Path) -> Path:
    """GBK bytes where UTF-8 is expected: detected and read as GB18030."""
    return write_csv(
        folder / "gbk.csv",
        CUSTOMER_HEADER,
        [["张三", "13812345678", "M1", "老客户"]],
        encoding="gbk",
    )


def utf16_without_bom(folder: Path) -> Path:
    path = folder / "utf16.csv"
    text = "\r\n".join(",".join(r) for r in [CUSTOMER_HEADER, ["张三", "13812345678", "M1", ""]])
    path.write_bytes(text.encode("utf-16-le"))
    return path


def latin1(folder: Path) -> Path:
    return write_csv(
        folder / "latin1.csv",
        ["Name", "Phone", "Code", "Notes"],
        [["José Müller", "13812345678", "M1", "café"]],
        encoding="latin-1",
    )


def invalid_utf8(folder: Path) -> Path:
    path = folder / "invalid.csv"
    path.write_bytes("姓名,手机\r\n张三,13812345678\r\n".encode() + b"\xff\xfe\xc3(,\x80\x81\r\n")
    return path


def empty_csv(folder: Path) -> Path:
    path = folder / "empty.csv"
    path.write_bytes(b"")
    return path


def header_only(folder: Path) -> Path:
    return write_csv(folder / "header_only.csv", CUSTOMER_HEADER, [])


def garbage_named_csv(folder: Path) -> Path:
    path = folder / "garbage.csv"
    path.write_bytes(bytes(range(256)) * 64 + os.urandom(4096))
    return path


def garbage_named_xlsx(folder: Path) -> Path:
    path = folder / "garbage.xlsx"
    path.write_bytes(b"PK\x03\x04" + os.urandom(8192))
    return path


def many_columns(folder: Path) -> Path:
    header = CUSTOMER_HEADER + [f"列{n}" for n in range(20_000)]
    row = ["张三", "13812345678", "M1", ""] + ["v"] * 20_000
    return write_csv(folder / "many_columns.csv", header, [row])


def nul_bytes(folder: Path) -> Path:
    path = folder / "nul.csv"
    good = "".join(",".join(r[:3]) + "\r\n" for r in _good_rows())
    path.write_bytes(f"姓名,手机,会员卡号\r\n{good}张\x00三,13812345678,M\x001\r\n".encode())
    return path


REFUSED: dict[str, Callable[[Path], Path]] = {
    "zip_bomb": zip_bomb_xlsx,
    "lying_bomb": lambda folder: zip_bomb_xlsx(folder, lying=True),
    "huge_cell_csv": huge_cell_csv,
    "huge_cell_xlsx": huge_cell_xlsx,
    "invalid_utf8": invalid_utf8,
    "empty": empty_csv,
    "header_only": header_only,
    "garbage_csv": garbage_named_csv,
    "garbage_xlsx": garbage_named_xlsx,
    "nul_bytes": nul_bytes,
    "nul_xlsx": nul_xlsx,
}
"""Files no import may accept: each must end in a one-line error and change nothing."""

ACCEPTED: dict[str, Callable[[Path], Path]] = {
    "formulas_csv": formulas_csv,
    "formulas_xlsx": formulas_xlsx,
    "gbk": gbk_named_utf8,
    "utf16_without_bom": utf16_without_bom,
    "many_columns": many_columns,
}
"""Odd but valid customer files: imported as they are, formulas kept as plain text."""
