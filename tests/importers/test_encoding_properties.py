"""Property: any table of Chinese and Latin text survives a round trip through a CSV file in
each encoding shops use, with encoding detection, and line numbers stay right."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.importers.readers import open_table

# Characters every one of the encodings below can hold: ASCII letters and digits, CJK
# ideographs, full-width forms, and a few symbols seen in shop data.
ALPHABET = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5),
    st.sampled_from("abcXYZ0123456789 -./:()（）￥，、张王李单曾"),
)
CELL = st.text(ALPHABET, min_size=1, max_size=12).map(str.strip).filter(bool)
TABLE = st.lists(st.lists(CELL, min_size=3, max_size=3), min_size=1, max_size=20)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    rows=TABLE,
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "gbk"]),
    multiline=st.booleans(),
)
def test_round_trip_with_detection(rows: list[list[str]], encoding: str, multiline: bool) -> None:
    header = ["姓名", "手机", "备注"]
    if multiline:
        rows = [[a, b, f"{c}\n第二行"] for a, b, c in rows]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *rows])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        path.write_bytes(buffer.getvalue().encode(encoding))
        with open_table(path) as table:
            got = list(table.rows)
    assert table.header == header
    assert [cells for _, cells in got] == [[c.strip() for c in r] for r in rows]
    step = 2 if multiline else 1
    assert [line for line, _ in got] == [2 + i * step for i in range(len(rows))]
