"""Small things several test packages and the benchmarks need: a free TCP port, a private
PostgreSQL database, this process's peak memory. (Benchmarks put the repository root on
``sys.path`` to import it.)"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from guanxi.config import normalise_database_url


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mib() -> float:
    """This process's peak resident memory since it started, in MiB: VmHWM from /proc.

    Not ``getrusage().ru_maxrss``: Linux carries the parent's high-water mark across fork and
    exec, so a child started by a large process (pytest, a benchmark runner) would report that
    one's size."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # not Linux: the best figure there is

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def scratch_database(server_url: str, prefix: str = "guanxi_scratch") -> Iterator[str]:
    """Create an empty database on the server of ``server_url``; yield its URL (password
    kept, for ``Database`` or ``guanxi --db``); drop it afterwards, connections and all."""
    admin_url = make_url(normalise_database_url(server_url)).set(database="postgres")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
