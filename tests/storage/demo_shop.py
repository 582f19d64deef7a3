"""A small demo shop that touches every area (sales, points, tiers, coupons, stored value,
referrals, care, clubs, service plans, complaints, surveys, scores), built once per session."""

from __future__ import annotations

from pathlib import Path

from guanxi.config import Settings
from guanxi.services.demo import DEMO_END, build_demo, start_points_programme
from guanxi.services.demo.care import build_care
from guanxi.services.demo.clubs import build_clubs
from guanxi.services.demo.complaints import build_complaints
from guanxi.services.demo.loyalty import start_loyalty
from guanxi.services.demo.service_plans import build_service_plans
from guanxi.services.demo.surveys import build_surveys
from guanxi.services.scoring import ScoringOptions, run_scoring
from guanxi.storage.db import Database

DEMO_CUSTOMERS = 40


def build_demo_shop(path: Path, *, seed: int = 3) -> None:
    """The steps of ``guanxi demo`` (one scoring run instead of a year of them), at 40 customers."""
    database = Database(f"sqlite:///{path}")
    database.migrate()
    end = DEMO_END
    build_demo(database, seed=seed, customers=DEMO_CUSTOMERS, end=end)
    build_care(database, end, seed=seed)
    run_scoring(database, ScoringOptions.for_shop(Settings(), end))
    start_points_programme(database, end)
    start_loyalty(database, end, seed=seed)
    build_clubs(database, end, seed=seed)
    build_service_plans(database, end, seed=seed)
    build_complaints(database, end, seed=seed)
    build_surveys(database, end, seed=seed)
    with database.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
