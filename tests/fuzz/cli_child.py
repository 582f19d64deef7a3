"""Child process for test_hostile_imports: ``guanxi import customers`` over each file given,
through the console-script entry (``guanxi.cli.main.run``, the real error handling, without
a process start per file), as JSON on stdout: {"results": {path: [exit code, output]},
"peak_mb": the peak resident memory of this process (VmHWM: ``ru_maxrss`` would include
the pytest process it was forked from, which Linux carries across fork and exec)}.

Run as ``python -m tests.fuzz.cli_child DB FILE...``.
"""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stderr, redirect_stdout

from guanxi.cli.main import run


def _peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(database: str, files: list[str]) -> None:
    results: dict[str, list[object]] = {}
    for path in files:
        sys.argv = ["guanxi", "--db", database, "import", "customers", path]
        captured = io.StringIO()
        code: object = 0
        with redirect_stdout(captured), redirect_stderr(captured):
            try:
                run()
            except SystemExit as done:
                code = done.code
        results[path] = [code, captured.getvalue()]
    print(json.dumps({"results": results, "peak_mb": _peak_rss_mb()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
