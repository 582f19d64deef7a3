"""One load trial, end to end: seed the shop, serve it, load it (with faults), check it.

``run_trial`` is what the tests and ``bench/load_bench.py`` call. Faults run in a thread
beside the clients: ``kills`` ``kill -9``s of a random server worker at random moments (the
supervisor must bring the worker count back), and ``outage`` a callable that takes the
database away and back (the PostgreSQL restart trial).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.stress.shop import Server, seed
from tests.stress.traffic import Tally, figures, run_clients
from tests.stress.verify import problems

WORKER_BACK_S = 60.0  # how long the supervisor may take to replace a killed worker


@dataclass
class Size:
    """How big a trial is: CI size by default, full size under GUANXI_STRESS=1."""

    clients: int
    seconds: float
    workers: int
    kills: int
    customers: int = 200

    @classmethod
    def from_environment(cls) -> Size:
        if os.environ.get("GUANXI_STRESS") == "1":
            return cls(clients=50, seconds=60, workers=4, kills=20, customers=2000)
        return cls(clients=8, seconds=8, workers=2, kills=4)


@dataclass
class Phase:
    """One stretch of load on the running server, with its faults."""

    name: str
    kills: int = 0
    outage: Callable[[], None] | None = None


@dataclass
class Result:
    """What one phase saw; ``problems`` (checked against every phase so far) empty, and no
    errors: it held."""

    phase: str
    figures: dict[str, Any]
    problems: list[str]
    tally: Tally
    seconds: float
    kills: list[str] = field(default_factory=list)  # "t=N s: pid P"
    fault_errors: list[str] = field(default_factory=list)
    workers: tuple[list[int], list[int]] = ([], [])  # worker pids before and after the phase


def run_trial(url: str, size: Size, folder: Path, phases: list[Phase], *, seed_no: int = 8,
              give_up_s: float = 90.0) -> list[Result]:  # fmt: skip
    """Seed ``url``, serve it with ``size.workers`` workers, run each phase, check after each.

    One server for all phases: starting one costs seconds of imports per worker.
    """
    shop = seed(url, size.customers)
    results: list[Result] = []
    every = Tally()
    with Server(url, size.workers, folder / "server.log") as server:
        for n, phase in enumerate(phases):
            result = Result(phase.name, {}, [], Tally(), 0.0)
            before = server.worker_pids()
            faults = threading.Thread(target=_faults, daemon=True,
                                      args=(server, size, phase, result, seed_no + n))  # fmt: skip
            faults.start()
            tally, seconds = run_clients(shop, server.base, size.clients, size.seconds,
                                         give_up_s=give_up_s, seed=seed_no + n)  # fmt: skip
            faults.join(timeout=WORKER_BACK_S)
            if faults.is_alive():
                result.fault_errors.append("the fault thread did not finish")
            alive = server.worker_pids()
            result.workers = (before, alive)
            if len(alive) != size.workers:
                result.fault_errors.append(f"{len(alive)} workers alive, not {size.workers}")
            every.absorb(tally)
            result.tally, result.seconds = tally, seconds
            result.figures = figures(tally, size.seconds)
            result.problems = problems(shop, every)
            results.append(result)
    return results


def _faults(server: Server, size: Size, phase: Phase, result: Result, seed_no: int) -> None:
    """Kill a random worker at ``phase.kills`` random moments of the load (drawn up front,
    not waiting for the replacement, so a worker still starting may be hit too); then every
    victim must be gone and ``size.workers`` workers running. Or run ``phase.outage`` once."""
    chance = random.Random(seed_no)
    started = time.monotonic()
    try:
        if phase.outage is not None:
            time.sleep(size.seconds / 4)
            phase.outage()
        moments = sorted(chance.uniform(0.05, 0.85) * size.seconds for _ in range(phase.kills))
        victims = []
        for at in moments:
            time.sleep(max(0.0, started + at - time.monotonic()))
            workers = server.worker_pids()
            deadline = time.monotonic() + WORKER_BACK_S
            while not workers and time.monotonic() < deadline:  # all killed: wait for one
                time.sleep(0.1)
                workers = server.worker_pids()
            if not workers:
                result.fault_errors.append("no worker to kill")
                return
            victim = chance.choice(workers)
            os.kill(victim, signal.SIGKILL)
            victims.append(victim)
            result.kills.append(f"t={time.monotonic() - started:.1f} s: pid {victim}")
        if victims:
            after = server.wait_for_workers(size.workers, WORKER_BACK_S, gone=victims[-1])
            back = [v for v in victims if v in after]
            if len(after) != size.workers or back:
                result.fault_errors.append(f"killed workers were not replaced: {after}")
    except Exception as exc:  # reported by the test, not lost in the thread
        result.fault_errors.append(f"{exc.__class__.__name__}: {exc}")
