"""A scratch database for a benchmark: emptied, then migrated."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from storage.db import make_engine, upgrade


def emptied(url: str) -> Engine:
    """An engine on `url` whose database holds the migrated tables and nothing else.

    On PostgreSQL every table goes, whichever module defines it (a table another one refers to
    cannot be dropped alone); a SQLite URL names a new file."""
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    upgrade(engine)
    return engine
