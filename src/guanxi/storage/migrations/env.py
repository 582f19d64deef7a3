"""Alembic environment: runs against the engine handed in by ``Database.alembic_config``."""

from alembic import context
from sqlalchemy import Engine

from guanxi.storage.models import Base

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through guanxi (Database.migrate), not the alembic CLI")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
