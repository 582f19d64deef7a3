"""Mixed POS load, then ``kill -9`` of server workers during it (issue 8, points 2 and 3).

A real ``guanxi serve --workers N`` on a SQLite file or a private PostgreSQL database; CI
size: 8 clients, 8 s per phase, 2 workers, 4 kills; GUANXI_STRESS=1: 50 clients, 60 s, 4
workers, 20 kills. After each phase every customer's balance equals the replay of the
acknowledged answers; every acknowledged purchase is stored exactly once (a retry with the
same Idempotency-Key after a kill did not record it twice), the ledger holds exactly the
acknowledged redemptions and returns, no claim is left in flight, and SQLite's
``PRAGMA integrity_check`` is ok.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stress.checks import assert_held
from tests.stress.trial import Phase, Size, run_trial

pytestmark = pytest.mark.slow


def test_load_then_kill_9_keeps_every_balance(shop_url: str, size: Size, tmp_path: Path) -> None:
    load, kills = run_trial(shop_url, size, tmp_path,
                            [Phase("load"), Phase("kill -9", kills=size.kills)])  # fmt: skip
    print(json.dumps({"load": load.figures, "kill -9": kills.figures, "kills": kills.kills},
                     indent=1))  # fmt: skip  # the figures, with -s

    assert_held(load)
    counts = {kind: load.figures[kind]["count"] for kind in ("purchase", "redeem", "adjust")}
    assert all(counts.values()), counts  # every kind of operation really ran
    total = sum(counts.values())
    assert 0.55 < counts["purchase"] / total < 0.85, counts
    hot_id = min(op.customer_id for op in load.tally.acked)  # the shop's first customer
    hot = sum(1 for op in load.tally.acked if op.customer_id == hot_id)
    assert 0.12 < hot / total < 0.35, (hot, total)  # about 20 % on the hot customer
    assert sum(op.points for op in load.tally.acked if op.kind == "purchase") > 0

    assert_held(kills)
    assert len(kills.kills) == size.kills, kills.kills  # and each was replaced (fault_errors)
    assert kills.figures["all"]["count"] > 0
