"""Read and validate a purchase file chunk by chunk, optionally in a second process.

Parsing is about half of an import's work and the database writes the other half. On a big
file, a child process reads and validates while the importing process writes, so a 2-core
machine uses both cores. The child sends plain tuples (see ``PurchaseLineRow``) so passing
them costs little. If the importing process dies (even by SIGKILL), the child notices that
its parent changed and exits.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from guanxi.errors import GuanxiError, InvalidInput
from guanxi.importers.headers import ColumnMap
from guanxi.importers.readers import open_table
from guanxi.importers.rows import CellError, PurchaseLineRow, PurchaseRowParser
from guanxi.importers.values import to_halfwidth

CHUNK = 4_000
BACKGROUND_MIN_BYTES = 4 << 20  # smaller files parse inline: a process start costs ~0.3 s
_QUEUE_DEPTH = 8  # chunks in flight: bounds memory


@dataclass(frozen=True, slots=True)
class BadLine:
    """A rejected line, with the (store, order id) it claims so its order can be held back."""

    line: int
    errors: list[CellError]
    order: tuple[str | None, str] | None


@dataclass(slots=True)
class ParsedChunk:
    """One chunk of the file: its good lines, its bad lines, and how many rows it held."""

    rows: int = 0
    good: list[PurchaseLineRow] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Source:
    """Where and how to read the file (picklable, for the child process)."""

    path: Path
    encoding: str | None
    sheet: str | None
    cmap: ColumnMap
    timezone: str


def parse_chunks(source: Source, *, background: bool | None = None) -> Iterator[ParsedChunk]:
    """Yield the file's chunks in order; parse in a child process when the file is big."""
    if background is None:
        background = source.path.stat().st_size >= BACKGROUND_MIN_BYTES
    yield from (_in_background(source) if background else _inline(source))


def _inline(source: Source) -> Iterator[ParsedChunk]:
    parser = PurchaseRowParser(source.cmap, ZoneInfo(source.timezone))
    with open_table(source.path, encoding=source.encoding, sheet=source.sheet) as table:
        chunk = ParsedChunk()
        for line, cells in table.rows:
            _parse_into(chunk, parser, line, cells)
            if chunk.rows >= CHUNK:
                yield chunk
                chunk = ParsedChunk()
        if chunk.rows:
            yield chunk


def _parse_into(chunk: ParsedChunk, parser: PurchaseRowParser, line: int, cells: list[str]) -> None:
    chunk.rows += 1
    parsed = parser.parse(line, cells)
    if isinstance(parsed, list):
        order_id = to_halfwidth(parser.cell(cells, "order_id"))
        order = (parser.cell(cells, "store") or None, order_id) if order_id else None
        chunk.bad.append(BadLine(line, parsed, order))
    else:
        chunk.good.append(parsed)


def _in_background(source: Source) -> Iterator[ParsedChunk]:
    ctx = mp.get_context("spawn")
    out: mp.Queue[ParsedChunk | str | None] = ctx.Queue(maxsize=_QUEUE_DEPTH)
    child = ctx.Process(target=_produce, args=(source, out, os.getpid()), daemon=True)
    child.start()
    try:
        while True:
            try:
                item = out.get(timeout=1.0)
            except queue.Empty:
                if not child.is_alive():
                    raise InvalidInput(
                        f"reading {source.path.name} stopped unexpectedly (exit code "
                        f"{child.exitcode}); try again, or report the file"
                    ) from None
                continue
            if item is None:
                return
            if isinstance(item, str):
                raise InvalidInput(item)
            item.good = [PurchaseLineRow._make(row) for row in item.good]
            yield item
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=5)


def _produce(source: Source, out: mp.Queue[ParsedChunk | str | None], parent: int) -> None:
    """Child process: parse the file and hand chunks to the parent while it lives."""
    try:
        for chunk in _inline(source):
            # Plain tuples pickle ~5x faster than named tuples; the parent restores them.
            chunk.good = [tuple(row) for row in chunk.good]  # type: ignore[misc]
            _put(out, chunk, parent)
        _put(out, None, parent)
    except GuanxiError as exc:
        _put(out, str(exc), parent)


def _put(
    out: mp.Queue[ParsedChunk | str | None], item: ParsedChunk | str | None, parent: int
) -> None:
    while True:
        if os.getppid() != parent:  # the importer died: nobody will read this
            os._exit(0)
        try:
            out.put(item, timeout=1.0)
            return
        except queue.Full:
            continue
