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
from tests.support import peak_rss_mib


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
    print(json.dumps({"results": results, "peak_mb": peak_rss_mib()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
