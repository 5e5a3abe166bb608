"""Queries of service levels: services, targets and the bulk store of measurements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from storage.sla_tables import Service, SlaTarget, service_key
from storage.types import utcnow

# One measurement ready to store: service ID, metric, aware timestamp, value.
MeasurementRow = tuple[int, str, datetime, float]


def service_by_name(*, session: Session, name: str) -> Service | None:
    """The service with this name (case and spacing aside), or None."""
    return session.exec(select(Service).where(Service.key == service_key(name))).first()


def ensure_service(*, session: Session, name: str) -> Service:
    """The service with this name, created when new; safe when two writers create it at once."""
    name = " ".join(name.split())
    table = Service.__table__  # type: ignore[attr-defined]
    values = {"name": name, "key": service_key(name), "created_at": utcnow()}
    statement = (
        postgresql.insert(table) if _dialect(session) == "postgresql" else sqlite.insert(table)
    )
    session.execute(statement.values(**values).on_conflict_do_nothing(index_elements=["key"]))
    service = service_by_name(session=session, name=name)
    assert service is not None, "inserted or already there"
    return service


def list_services(*, session: Session) -> list[Service]:
    """Every known service by name."""
    return list(session.exec(select(Service).order_by(func.lower(Service.name))))


def add_target(
    *,
    session: Session,
    service_id: int,
    metric: str,
    aggregate: str,
    comparator: str,
    target: float,
    unit: str | None,
) -> SlaTarget:
    """Store a new target (the unique constraint refuses a second of the same definition)."""
    row = SlaTarget(
        service_id=service_id,
        metric=metric,
        aggregate=aggregate,
        comparator=comparator,
        target=target,
        unit=unit,
    )
    session.add(row)
    session.flush()
    return row


def find_target(
    *, session: Session, service_id: int, metric: str, aggregate: str, comparator: str
) -> SlaTarget | None:
    """The target with this definition, or None."""
    statement = select(SlaTarget).where(
        SlaTarget.service_id == service_id,
        SlaTarget.metric == metric,
        SlaTarget.aggregate == aggregate,
        SlaTarget.comparator == comparator,
    )
    return session.exec(statement).first()


def list_targets(*, session: Session) -> list[tuple[SlaTarget, Service]]:
    """Every target with its service, by service name, metric and ID."""
    statement = (
        select(SlaTarget, Service)
        .join(Service, col(Service.id) == col(SlaTarget.service_id))
        .order_by(func.lower(Service.name), col(SlaTarget.metric), col(SlaTarget.id))
    )
    return [(target, service) for target, service in session.exec(statement)]


def remove_target(*, session: Session, target_id: int) -> bool:
    """Delete the target; False when there was none."""
    result = session.execute(delete(SlaTarget).where(col(SlaTarget.id) == target_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def insert_measurements(*, session: Session, rows: Sequence[MeasurementRow]) -> int:
    """Store the rows in bulk, skipping any (service, metric, timestamp) already stored or
    repeated; returns how many were stored."""
    if not rows:
        return 0
    if _dialect(session) == "postgresql":
        return _copy_postgres(session, rows)
    return _executemany_sqlite(session, rows)


def _executemany_sqlite(session: Session, rows: Sequence[MeasurementRow]) -> int:
    # Bypasses the ORM's per-row work; the timestamp text is exactly what the column type
    # writes on SQLite (naive UTC with microseconds), so period queries compare like with like.
    params = [
        (service_id, metric, _sqlite_time(at), value) for service_id, metric, at, value in rows
    ]
    result = session.connection().exec_driver_sql(
        "INSERT INTO measurements (service_id, metric, timestamp, value) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (service_id, metric, timestamp) DO NOTHING",
        params,
    )
    return max(int(result.rowcount), 0)


def _sqlite_time(at: datetime) -> str:
    at = at.astimezone(UTC)
    return (
        f"{at.year:04d}-{at.month:02d}-{at.day:02d} "
        f"{at.hour:02d}:{at.minute:02d}:{at.second:02d}.{at.microsecond:06d}"
    )


def _copy_postgres(session: Session, rows: Sequence[MeasurementRow]) -> int:
    # COPY into a scratch table, then one INSERT ... SELECT that skips what is already stored:
    # far faster than row-by-row inserts, and still all or nothing with the session's work.
    connection = session.connection()
    connection.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS measurements_incoming "
        "(service_id integer, metric text, timestamp timestamptz, value double precision) "
        "ON COMMIT DROP"
    )
    connection.exec_driver_sql("TRUNCATE measurements_incoming")
    raw = connection.connection.driver_connection
    assert raw is not None
    copy_sql = "COPY measurements_incoming (service_id, metric, timestamp, value) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(row)
    result = connection.exec_driver_sql(
        "INSERT INTO measurements (service_id, metric, timestamp, value) "
        "SELECT service_id, metric, timestamp, value FROM measurements_incoming "
        "ON CONFLICT (service_id, metric, timestamp) DO NOTHING"
    )
    return max(int(result.rowcount), 0)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name
