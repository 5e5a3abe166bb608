"""Alembic environment: migrates the engine handed over in the config's attributes."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import storage.lifecycle_tables
import storage.models
import storage.poll_tables
import storage.sla_tables
import storage.submitter_notices  # noqa: F401
from storage.db import make_engine

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///./csi.db")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        # SQLite cannot ALTER most things in place: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
