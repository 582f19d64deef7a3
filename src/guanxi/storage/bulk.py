"""Fast bulk writes for imports: ids allocated up front, values pre-converted for the driver.

The ORM and typed Core inserts convert every value through Python type processors and, with
RETURNING, SQLite inserts row by row. Imports of a million lines instead allocate primary keys
in blocks and insert plain values with one ``executemany`` per chunk on SQLite, and one
``COPY FROM STDIN`` per chunk on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.orm import Session


class IdAllocator:
    """Hands out primary keys for new rows inside one write transaction.

    SQLite: the transaction began IMMEDIATE, so no one else inserts; keys continue from the
    current maximum. PostgreSQL: keys are drawn from the table's sequence, safe beside other
    writers.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.is_sqlite = session.get_bind().dialect.name == "sqlite"
        self._next: dict[str, int] = {}

    def take(self, t: Table, n: int) -> list[int]:
        if n <= 0:
            return []
        if not self.is_sqlite:
            rows = self.session.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
                ),
                {"t": t.name, "n": n},
            )
            return [int(r[0]) for r in rows]
        start = self._next.get(t.name)
        if start is None:
            start = (
                int(self.session.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar_one())
                + 1
            )
        self._next[t.name] = start + n
        return list(range(start, start + n))


class RawInsert:
    """An INSERT of plain tuples straight through the driver's ``executemany``.

    Values must already be in stored form (integer fen, naive UTC timestamps via
    ``timestamp_for``): nothing converts them on the way.
    """

    def __init__(self, t: Table, *names: str) -> None:
        unknown = set(names) - set(t.c.keys())
        if unknown:
            raise ValueError(f"{t.name} has no columns {sorted(unknown)}")
        self.table = t
        self.names = names

    def __call__(self, session: Session, rows: list[tuple[object, ...]]) -> None:
        if not rows:
            return
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            self._copy(conn, rows)
            return
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"INSERT INTO {self.table.name} ({', '.join(self.names)}) "
            f"VALUES ({', '.join([mark] * len(self.names))})"
        )
        conn.exec_driver_sql(sql, rows)

    def _copy(self, conn: Connection, rows: list[tuple[object, ...]]) -> None:
        """PostgreSQL: ``COPY ... FROM STDIN`` on the session's own connection (in its
        transaction), several times faster than a pipelined executemany; constraints,
        foreign keys and triggers apply as for an INSERT."""
        sql = f"COPY {self.table.name} ({', '.join(self.names)}) FROM STDIN"
        import psycopg  # only PostgreSQL shops need it loaded

        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection), "PostgreSQL is reached through psycopg"
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)


def stored_utc(is_sqlite: bool, naive_utc: datetime) -> str | datetime:
    """A naive UTC time as a UTCDateTime column stores it: text on SQLite, as is elsewhere."""
    return naive_utc.isoformat(sep=" ", timespec="microseconds") if is_sqlite else naive_utc


def timestamp_for(is_sqlite: bool, moment: datetime) -> str | datetime:
    """An aware datetime as the UTCDateTime column stores it."""
    return stored_utc(is_sqlite, moment.astimezone(UTC).replace(tzinfo=None))
