"""The PostgreSQL client programs (pg_dump, pg_restore, psql) run against a SQLAlchemy URL.

The URL's host, port, user and database become the programs' own options and the password
travels in PGPASSWORD (never on a command line other users can read in ``ps``).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL

from guanxi.errors import ConfigError, GuanxiError


def find_tool(name: str) -> str:
    """The path of a PostgreSQL client program: on PATH, else the newest /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found

    def version(path: str) -> int:
        part = Path(path).parts[-3]
        return int(part) if part.isdigit() else 0

    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version, reverse=True)
    if candidates:
        return candidates[0]
    raise ConfigError(
        f"{name} not found (PATH, /usr/lib/postgresql/*/bin): install the PostgreSQL client "
        "programs (Debian: apt install postgresql-client) of the server's version or newer"
    )


def connection_options(url: URL) -> tuple[list[str], dict[str, str]]:
    """Command-line options naming the server and database of ``url``, and the environment."""
    options = []
    if url.host:
        options += ["--host", url.host]
    if url.port:
        options += ["--port", str(url.port)]
    if url.username:
        options += ["--username", url.username]
    options += ["--dbname", url.database or "postgres"]
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    sslmode = url.query.get("sslmode")
    if isinstance(sslmode, str):
        env["PGSSLMODE"] = sslmode
    return options, env


def run_tool(name: str, args: list[str], url: URL, *, stdin: bytes | None = None) -> bytes:
    """Run ``name`` with the connection options of ``url``; its first error line on failure."""
    options, env = connection_options(url)
    result = subprocess.run(
        [find_tool(name), *options, *args], input=stdin, capture_output=True, env=env, check=False
    )
    if result.returncode != 0:
        lines = [ln for ln in result.stderr.decode(errors="replace").splitlines() if ln.strip()]
        reason = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else "")
        raise GuanxiError(f"{name} failed (exit {result.returncode}): {reason.strip()}")
    return result.stdout


def dump_contents(path: Path) -> tuple[str | None, dict[str, int]]:
    """The Alembic revision and the rows per table held in a ``pg_dump --format=custom`` file.

    Streams the dump's data section (``pg_restore --data-only -f -``) and counts COPY rows, so
    a restore can be checked against what the backup held, not only against itself.
    """
    proc = subprocess.Popen(
        [find_tool("pg_restore"), "--data-only", "--file", "-", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    counts: dict[str, int] = {}
    revision = None
    table: str | None = None
    for raw in proc.stdout:
        line = raw.rstrip(b"\n")
        if table is None:
            if line.startswith(b"COPY ") and line.endswith(b"FROM stdin;"):
                name = line.split(b" ", 2)[1].decode().split(".")[-1].strip('"')
                table, counts[name] = name, 0
        elif line == b"\\.":
            table = None
        else:
            counts[table] += 1
            if table == "alembic_version":
                revision = line.decode()
    error = proc.stderr.read().decode(errors="replace").strip()
    if proc.wait() != 0:
        raise GuanxiError(f"{path} is not a readable pg_dump file: {error.splitlines()[0]}")
    return revision, counts


def run_script_from_dump(dump: Path, url: URL, preamble: str) -> None:
    """``preamble`` then the SQL of ``dump`` in one psql transaction: all of it or nothing."""
    options, env = connection_options(url)
    script = subprocess.Popen(
        [find_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--file", "-", str(dump)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    psql = subprocess.run(
        [find_tool("psql"), *options, "--no-psqlrc", "--quiet", "--single-transaction",
         "--set", "ON_ERROR_STOP=1", "--command", preamble, "--file", "-"],
        stdin=script.stdout, capture_output=True, env=env, check=False,
    )  # fmt: skip
    assert script.stdout is not None and script.stderr is not None
    script.stdout.close()
    script_error = script.stderr.read().decode(errors="replace").strip()
    if script.wait() != 0:
        raise GuanxiError(f"pg_restore could not read {dump}: {script_error}")
    if psql.returncode != 0:
        lines = [ln for ln in psql.stderr.decode(errors="replace").splitlines() if "ERROR" in ln]
        reason = lines[0] if lines else psql.stderr.decode(errors="replace").strip()
        raise GuanxiError(f"restore rolled back, the database is unchanged: {reason}")
