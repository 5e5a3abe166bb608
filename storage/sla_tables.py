"""The tables of service levels: services, their targets, and the measurements."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow

SERVICE_MAX = 80
METRIC_MAX = 80
UNIT_MAX = 20


def service_key(name: str) -> str:
    """How two spellings of one service compare: case and spacing do not matter."""
    return " ".join(name.split()).casefold()


class Service(SQLModel, table=True):
    """A service the organisation runs; proposals and SLA targets point to it."""

    __tablename__ = "services"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=SERVICE_MAX)
    # `service_key(name)`: "Email" and " email " are one service, whoever typed it first.
    key: str = Field(max_length=SERVICE_MAX, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class SlaTarget(SQLModel, table=True):
    """What a service should achieve on one metric over a period: aggregate, comparator, target."""

    __tablename__ = "sla_targets"
    __table_args__ = (
        UniqueConstraint(
            "service_id", "metric", "aggregate", "comparator", name="uq_sla_targets_definition"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    service_id: int = Field(foreign_key="services.id", index=True)
    metric: str = Field(max_length=METRIC_MAX)
    aggregate: str = Field(max_length=10)
    comparator: str = Field(max_length=2)
    target: float
    unit: str | None = Field(default=None, max_length=UNIT_MAX)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Measurement(SQLModel, table=True):
    """One measured value of a service's metric at one moment; stored once per moment."""

    __tablename__ = "measurements"
    # The unique key is also the index every period query walks: one service's metric, by time.
    __table_args__ = (
        UniqueConstraint("service_id", "metric", "timestamp", name="uq_measurements_moment"),
    )

    # Millions of rows over the years: a 64-bit key on PostgreSQL; SQLite's rowid is one already
    # (and only a plain INTEGER primary key is that rowid).
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    service_id: int = Field(foreign_key="services.id")
    metric: str = Field(max_length=METRIC_MAX)
    timestamp: datetime = Field(sa_type=UTCDateTime, nullable=False)
    value: float
