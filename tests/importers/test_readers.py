"""Tests for reading CSV and spreadsheet files, on real files written to tmp_path."""

from __future__ import annotations

import codecs
import hashlib
from datetime import date, datetime, time
from pathlib import Path

import pytest
import xlsxwriter

from guanxi.errors import InvalidInput, NotFound
from guanxi.importers.readers import Table, detect_encoding, open_table, sha256_of

HEADER = "姓名,手机,生日\n"
BODY = "张三,13812345678,1990-01-05\n李四,13900001111,农历八月十五\n"


def read_all(path: Path, **options: str) -> tuple[Table, list[tuple[int, list[str]]]]:
    with open_table(path, **options) as table:
        return table, list(table.rows)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- encodings -------------------------------------------------------------------------------


def test_detect_encoding() -> None:
    assert detect_encoding(codecs.BOM_UTF8 + "姓名".encode()) == "utf-8-sig"
    assert detect_encoding("姓名".encode("utf-16-le").join([codecs.BOM_UTF16_LE, b""])) == "utf-16"
    assert detect_encoding(codecs.BOM_UTF16_BE + "姓名".encode("utf-16-be")) == "utf-16"
    assert detect_encoding(b"name,phone\n") == "utf-8"
    assert detect_encoding("姓名".encode()) == "utf-8"
    assert detect_encoding("姓名".encode()[:-1]) == "utf-8"  # character cut at the end
    assert detect_encoding("姓名".encode("gbk")) == "gb18030"
    assert detect_encoding(b"") == "utf-8"


def test_gbk_csv_with_chinese_header(tmp_path: Path) -> None:
    path = write(tmp_path, "customers.csv", (HEADER + BODY).encode("gbk"))
    table, rows = read_all(path)
    assert table.encoding == "gb18030"
    assert table.header == ["姓名", "手机", "生日"]
    assert rows == [
        (2, ["张三", "13812345678", "1990-01-05"]),
        (3, ["李四", "13900001111", "农历八月十五"]),
    ]


def test_utf8_with_bom_has_no_bom_in_header(tmp_path: Path) -> None:
    path = write(tmp_path, "customers.csv", codecs.BOM_UTF8 + (HEADER + BODY).encode())
    table, rows = read_all(path)
    assert table.encoding == "utf-8-sig"
    assert table.header == ["姓名", "手机", "生日"]
    assert rows[0] == (2, ["张三", "13812345678", "1990-01-05"])


def test_bom_removed_even_when_utf8_is_forced(tmp_path: Path) -> None:
    path = write(tmp_path, "customers.csv", codecs.BOM_UTF8 + (HEADER + BODY).encode())
    table, _ = read_all(path, encoding="utf-8")
    assert table.header == ["姓名", "手机", "生日"]


def test_plain_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "customers.csv", (HEADER + BODY).encode())
    table, rows = read_all(path)
    assert table.encoding == "utf-8"
    assert table.header == ["姓名", "手机", "生日"]
    assert [line for line, _ in rows] == [2, 3]
    assert rows[1][1][2] == "农历八月十五"


def test_gb18030_only_characters(tmp_path: Path) -> None:
    names = "𠀀先生,13812345678\n王䶮,13900001111\n"
    with pytest.raises(UnicodeEncodeError):
        "𠀀".encode("gbk")
    path = write(tmp_path, "customers.csv", ("姓名,手机\n" + names).encode("gb18030"))
    table, rows = read_all(path)
    assert table.encoding == "gb18030"
    assert [cells[0] for _, cells in rows] == ["𠀀先生", "王䶮"]


def test_utf16_tab_separated_text(tmp_path: Path) -> None:
    content = "姓名\t手机\r\n张三\t13812345678\r\n"
    path = write(tmp_path, "export.txt", content.encode("utf-16"))
    table, rows = read_all(path)
    assert table.encoding == "utf-16"
    assert table.header == ["姓名", "手机"]
    assert rows == [(2, ["张三", "13812345678"])]


def test_forced_encoding_is_used(tmp_path: Path) -> None:
    path = write(tmp_path, "customers.csv", (HEADER + BODY).encode("gbk"))
    table, rows = read_all(path, encoding="gbk")
    assert table.encoding == "gbk"
    assert rows[0][1][0] == "张三"


def test_unknown_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "customers.csv", b"a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="unknown encoding 'klingon'"):
        read_all(path, encoding="klingon")


def test_decoding_error_after_the_sample_names_the_line(tmp_path: Path) -> None:
    filler = "".join(f"客户{n},1380000{n:04d}\n" for n in range(5000))
    assert len(filler.encode()) > 64 * 1024
    data = "姓名,手机\n".encode() + filler.encode() + b"bad \xff\xfe name,123\n" + b"ok,1\n"
    path = write(tmp_path, "big.csv", data)
    with open_table(path, encoding="utf-8") as table:
        rows = table.rows
        with pytest.raises(InvalidInput) as caught:
            for _ in rows:
                pass
    message = str(caught.value)
    assert "big.csv" in message
    assert "line 5002" in message
    assert "--encoding gb18030" in message


def test_gbk_text_after_an_ascii_sample_is_reported(tmp_path: Path) -> None:
    filler = "".join(f"customer{n},1380000{n:04d}\n" for n in range(4000))
    data = b"name,phone\n" + filler.encode() + "张三,13812345678\n".encode("gbk")
    path = write(tmp_path, "late.csv", data)
    with open_table(path) as table:
        assert table.encoding == "utf-8"
        with pytest.raises(InvalidInput, match=r"late\.csv line 4002 .*--encoding gb18030"):
            list(table.rows)


# --- CSV structure ---------------------------------------------------------------------------


def test_quoted_multiline_field_keeps_line_numbers(tmp_path: Path) -> None:
    content = (
        'name,note\n"张三","first line\nsecond line\nthird line"\n'
        '李四,plain\n王五,"a\r\nb"\n赵六,x\n'
    )
    path = write(tmp_path, "notes.csv", content.encode())
    _, rows = read_all(path)
    assert rows == [
        (2, ["张三", "first line\nsecond line\nthird line"]),
        (5, ["李四", "plain"]),
        (6, ["王五", "a\r\nb"]),
        (8, ["赵六", "x"]),
    ]


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    content = "\n\nname, phone \r\n\r\n 张三 ,13812345678\n,,\n   \n李四,13900001111\n\n"
    path = write(tmp_path, "gaps.csv", content.encode())
    table, rows = read_all(path)
    assert table.header == ["name", "phone"]
    assert rows == [(5, ["张三", "13812345678"]), (8, ["李四", "13900001111"])]


def test_carriage_return_only_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path, "mac.csv", b"a,b\r1,2\r\r3,4\r")
    _, rows = read_all(path)
    assert rows == [(2, ["1", "2"]), (4, ["3", "4"])]


@pytest.mark.parametrize(
    ("name", "delimiter"),
    [("t.tsv", "\t"), ("t.txt", "\t"), ("t.csv", ";"), ("t.csv", "|"), ("t.csv", ",")],
)
def test_delimiter_is_sniffed_from_the_header(tmp_path: Path, name: str, delimiter: str) -> None:
    content = delimiter.join(["姓名", "手机", "备注"]) + "\n"
    content += delimiter.join(["张三", "13812345678", '"a, b; c | d\te"']) + "\n"
    path = write(tmp_path, name, content.encode())
    table, rows = read_all(path)
    assert table.header == ["姓名", "手机", "备注"]
    assert rows == [(2, ["张三", "13812345678", "a, b; c | d\te"])]


def test_single_column_file(tmp_path: Path) -> None:
    path = write(tmp_path, "phones.csv", b"phone\n13812345678\n")
    table, rows = read_all(path)
    assert table.header == ["phone"]
    assert rows == [(2, ["13812345678"])]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b",,,\n"])
def test_empty_file_has_no_header(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, "empty.csv", content)
    with pytest.raises(InvalidInput, match=r"empty\.csv has no header row"):
        read_all(path)


# --- files -----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="nothing.csv"):
        read_all(tmp_path / "nothing.csv")
    with pytest.raises(NotFound):
        sha256_of(tmp_path / "nothing.csv")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(InvalidInput, match="is not a file"):
        read_all(folder)


def test_unknown_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, "customers.pdf", b"%PDF")
    with pytest.raises(InvalidInput, match=r"cannot read '\.pdf' files; supported: \.csv.*\.xlsx"):
        read_all(path)


def test_sha256_of(tmp_path: Path) -> None:
    data = b"x" * 200_000
    path = write(tmp_path, "data.csv", data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()


# --- spreadsheets ----------------------------------------------------------------------------


def make_workbook(path: Path) -> None:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("客户")
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    datetime_format = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    time_format = book.add_format({"num_format": "hh:mm:ss"})
    sheet.write_row(0, 0, [" 姓名 ", "手机", "生日", "消费", "备注", "会员", "登记", "时间"])
    sheet.write_string(1, 0, "张三")
    sheet.write_number(1, 1, 13812345678)
    sheet.write_datetime(1, 2, date(1990, 1, 5), date_format)
    sheet.write_number(1, 3, 1234.5)
    # column 4 (备注) left empty
    sheet.write_boolean(1, 5, True)
    sheet.write_datetime(1, 6, datetime(2024, 1, 5, 14, 30, 5), datetime_format)
    sheet.write_datetime(1, 7, time(9, 15), time_format)
    # row 3 (index 2) left empty
    sheet.write_row(3, 0, ["李四 ", "0755-12345678"])
    sheet.write_number(3, 3, 0.1)
    sheet.write_number(3, 4, 7)
    sheet.write_number(3, 5, 1e-7)
    other = book.add_worksheet("Purchases")
    other.write_row(2, 1, ["单号", "金额"])
    other.write_row(3, 1, ["A001", 99.9])
    book.add_worksheet("Blank")
    book.close()


def test_xlsx_cells_become_text(tmp_path: Path) -> None:
    path = tmp_path / "customers.xlsx"
    make_workbook(path)
    table, rows = read_all(path)
    assert table.encoding is None
    assert table.sheet == "客户"
    assert table.header == ["姓名", "手机", "生日", "消费", "备注", "会员", "登记", "时间"]
    assert rows == [
        (
            2,
            [
                "张三",
                "13812345678",
                "1990-01-05",
                "1234.5",
                "",
                "1",
                "2024-01-05 14:30:05",
                "09:15:00",
            ],
        ),
        (4, ["李四", "0755-12345678", "", "0.1", "7", "0.0000001", "", ""]),
    ]


def test_xlsx_sheet_selection_keeps_sheet_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "shop.xlsx"
    make_workbook(path)
    table, rows = read_all(path, sheet="Purchases")
    assert table.sheet == "Purchases"
    assert table.header == ["单号", "金额"]
    assert rows == [(4, ["A001", "99.9"])]


def test_xlsx_unknown_sheet_lists_the_sheets(tmp_path: Path) -> None:
    path = tmp_path / "shop.xlsx"
    make_workbook(path)
    with pytest.raises(
        InvalidInput, match="no sheet named 'Orders'; its sheets are: 客户, Purchases"
    ):
        read_all(path, sheet="Orders")


def test_xlsx_empty_sheet_has_no_header(tmp_path: Path) -> None:
    path = tmp_path / "shop.xlsx"
    make_workbook(path)
    with pytest.raises(InvalidInput, match="has no header row"):
        read_all(path, sheet="Blank")


def test_corrupt_xlsx(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.xlsx", b"this is not a zip file")
    with pytest.raises(InvalidInput, match=r"cannot read broken\.xlsx as a spreadsheet"):
        read_all(path)


def test_xlsx_suffix_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "SHOP.XLSX"
    make_workbook(path)
    table, _ = read_all(path)
    assert table.header[0] == "姓名"
