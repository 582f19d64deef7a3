"""Child process for test_hostile_imports: ``guanxi import customers`` over each file given,
through the console-script entry (``guanxi.cli.main.run``, the real error handling, without
a process start per file), as JSON on stdout: {"results": {path: [exit code, output]},
"peak_mb": the peak resident memory of this process and of any process it started}.

Run as ``python -m tests.fuzz.cli_child DB FILE...``.
"""

from __future__ import annotations

import io
import json
import resource
import sys
from contextlib import redirect_stderr, redirect_stdout

from guanxi.cli.main import run

RUSAGE_SELF, RUSAGE_CHILDREN = resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN


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
    peak_kb = max(resource.getrusage(who).ru_maxrss for who in (RUSAGE_SELF, RUSAGE_CHILDREN))
    print(json.dumps({"results": results, "peak_mb": peak_kb / 1024}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
