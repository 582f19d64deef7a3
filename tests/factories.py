"""Test data: plain functions that write messy import files and make rows in the database."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from guanxi.domain.names import name_keys
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, CustomerTag

Rows = Sequence[Sequence[object]]


def write_csv(
    path: Path, header: Sequence[str], rows: Rows, *, encoding: str = "utf-8", delimiter: str = ","
) -> Path:
    """Write a CSV file the way a POS or Excel would (encoding as given, CRLF line ends)."""
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([["" if c is None else c for c in row] for row in rows])
    return path


def write_xlsx(path: Path, header: Sequence[str], rows: Rows) -> Path:
    """Write an XLSX file; numbers stay numbers (phones too, as Excel users do)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Sheet1")
    date_format = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write_row(0, 0, list(header))
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if hasattr(value, "year"):
                sheet.write_datetime(r, c, value, date_format)
            elif value is not None:
                sheet.write(r, c, value)
    book.close()
    return path


_counter = iter(range(1, 10**9))


def make_customer(db: Database, **overrides: Any) -> int:
    """Insert a customer with readable, unique defaults; returns its id."""
    n = next(_counter)
    name = overrides.pop("name", f"测试{n}")
    tags = overrides.pop("tags", [])
    pinyin, initials = name_keys(name)
    phone = overrides.pop("phone", f"+86139{n:08d}")
    values: dict[str, Any] = {
        "name": name,
        "name_pinyin": pinyin,
        "name_initials": initials,
        "phone": phone,
        "phone_last4": phone[-4:] if phone else None,
        "custom_fields": {},
    }
    values.update(overrides)
    with db.write() as session:
        customer = Customer(**values)
        session.add(customer)
        session.flush()
        for tag in tags:
            session.add(CustomerTag(customer_id=customer.id, name=tag))
        return customer.id
