"""A shop to load: a migrated database with customers, a store, an API token; a real server.

``sqlite_shop`` / ``postgres_shop`` make the database (a file, or a private PostgreSQL
database created on the server the caller names and dropped afterwards); ``seed`` fills it;
``Server`` runs ``guanxi serve --workers N`` as a subprocess on a free port and finds its
worker processes (for ``kill -9``). Used by tests/stress and bench/load_bench.py.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import insert

from guanxi.domain.staff import Role
from guanxi.loyalty import ledger
from guanxi.services.api_tokens import create_token
from guanxi.services.staff import add_staff, make_hasher
from guanxi.storage.db import Database
from guanxi.storage.models import Customer, Store
from tests.support import free_port, scratch_database

SCOPES = ("purchases:write", "points:redeem", "customers:read")
STORE_CODE = "LOAD"
OPENING = 300


@dataclass(frozen=True)
class Shop:
    """What the clients need: where, who, and which customers (the first one is hot); each
    customer starts with ``opening`` points, so that most redemptions find a balance."""

    url: str
    token: str
    store_code: str
    customer_ids: tuple[int, ...]
    opening: int = 0


@contextmanager
def sqlite_shop(folder: Path) -> Iterator[str]:
    """A migrated SQLite file in ``folder`` (WAL, as ``guanxi`` opens it)."""
    url = f"sqlite:///{folder / 'load.db'}"
    Database(url).migrate()
    yield url


@contextmanager
def postgres_shop(admin_url: str) -> Iterator[str]:
    """A private, migrated database on the server of ``admin_url``; dropped afterwards."""
    with scratch_database(admin_url, prefix="guanxi_load") as url:
        database = Database(url)
        database.migrate()
        database.dispose()
        yield url


def seed(url: str, customers: int, opening: int = OPENING) -> Shop:
    """A store, ``customers`` customers with ``opening`` points each (a never-expiring lot),
    and an owner's API token with the POS scopes."""
    db = Database(url)
    try:
        with db.write() as session:
            store = Store(code=STORE_CODE, name="压力测试店")
            session.add(store)
            session.flush()
            rows = [{"name": f"顾客{n}", "name_pinyin": f"guke{n}", "name_initials": "gk",
                     "phone": f"+86137{n:08d}", "phone_last4": f"{n:08d}"[-4:],
                     "custom_fields": {}, "home_store_id": store.id}
                    for n in range(customers)]  # fmt: skip
            ids = session.scalars(insert(Customer).returning(Customer.id), rows).all()
            for customer in ids:
                ledger.earn(session, customer, opening, source_type="opening", source_id=None,
                            expires_on=None, reason="load test: opening balance",
                            explanation=None, idempotency_key=None)  # fmt: skip
        owner = add_staff(db, "Load owner", Role.OWNER, hasher=make_hasher(cheap=True),
                          username="load-owner", password="load owner pw")  # fmt: skip
        token, _ = create_token(db, owner.id, "load", SCOPES)
        return Shop(url, token, STORE_CODE, tuple(sorted(ids)), opening)
    finally:
        db.dispose()


class Server:
    """``guanxi --db URL serve --workers N`` on a free port; output goes to ``log``."""

    def __init__(self, url: str, workers: int, log: Path) -> None:
        self.url, self.workers, self.log_path = url, workers, log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, "GUANXI_DATABASE_URL": self.url}
        self._log = self.log_path.open("ab")
        command = [sys.executable, "-m", "guanxi", "--db", self.url, "serve",
                   "--port", str(self.port), "--workers", str(self.workers)]  # fmt: skip
        self.process = subprocess.Popen(command, env=env, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"guanxi serve exited: see {self.log_path}")
            if len(self.worker_pids()) == self.workers and self._answers():
                return
            time.sleep(0.2)
        raise RuntimeError(f"guanxi serve did not start in {timeout:.0f} s: see {self.log_path}")

    def _answers(self) -> bool:
        """A worker answers HTTP (the socket alone is bound by the supervisor early)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/login")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes: children of the server run by multiprocessing's
        spawn (``spawn_main``), not its resource tracker."""
        if self.process is None:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            state = stat.rsplit(")", 1)[1].split()[0]
            if parent == self.process.pid and b"spawn_main" in cmdline and state != "Z":
                found.append(int(entry.name))
        return sorted(found)

    def wait_for_workers(self, count: int, timeout: float, gone: int | None = None) -> list[int]:
        """Wait until ``count`` workers run, ``gone`` not among them (the supervisor replaces
        killed ones); the workers then."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids()
            if (len(pids) == count and gone not in pids) or time.monotonic() > deadline:
                return pids
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
