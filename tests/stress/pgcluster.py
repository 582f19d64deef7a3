"""A private, throwaway PostgreSQL cluster that a test may stop and start at will.

The shared server on 5432 serves other tests, so the restart trial runs its own: ``initdb``
into a temporary folder (owned by the ``postgres`` user when running as root), listening on
a free port of 127.0.0.1 with its socket in that folder, trust authentication.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support import free_port


def initdb_path() -> str | None:
    """The newest ``initdb`` of the Debian packages, or one on PATH; None if there is none."""

    def version(path: str) -> int:
        part = Path(path).parts[-3]
        return int(part) if part.isdigit() else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    return found[-1] if found else shutil.which("initdb")


class Cluster:
    """``initdb`` + ``pg_ctl`` on a temporary folder; ``url`` names its ``postgres`` database."""

    def __init__(self) -> None:
        initdb = initdb_path()
        if initdb is None:
            raise FileNotFoundError("initdb is not installed (apt-get install postgresql)")
        self.bin = Path(initdb).parent
        self.folder = Path(tempfile.mkdtemp(prefix="guanxi-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else os.environ.get("USER", "postgres")
        self.url = f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [*(["runuser", "-u", "postgres", "--"] if self.as_root else []), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        if self.as_root:
            shutil.chown(self.folder, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user,
                  "--no-sync")  # fmt: skip
        self.start()

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=200")  # fmt: skip
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w",
                  "-l", str(self.folder / "log"), "start")  # fmt: skip

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
