"""Assertions every trial shares, failing with a list of what went wrong."""

from __future__ import annotations

from tests.stress.trial import Result


def assert_held(result: Result) -> None:
    """No 5xx but clean 503s, no "database is locked", no unexpected refusal, every operation
    answered before the client gave up, the database checks clean, the faults ran."""
    tally, phase = result.tally, result.phase
    assert not tally.server_errors, (phase, tally.server_errors[:5])
    assert not tally.locked, (phase, tally.locked[:5])
    assert not tally.client_errors, (phase, tally.client_errors[:5])
    assert not tally.unfinished, (phase, tally.unfinished[:5])
    assert not result.problems, (phase, result.problems[:10])
    assert not result.fault_errors, (phase, result.fault_errors)
