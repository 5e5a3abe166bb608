"""Tables of the lifecycle's last step: asking an implemented proposal's owner whether its
benefit was reached ("did we get there?")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models import SHORT_MAX
from storage.types import UTCDateTime, utcnow


class BenefitCheck(SQLModel, table=True):
    """One question to a proposal's owner about its measured result, and its answer.

    `due_from` is the moment the wait began (the proposal became implemented, or the previous
    question was answered); the unique key makes several replicas ask each question once.
    """

    __tablename__ = "benefit_checks"
    __table_args__ = (
        UniqueConstraint("proposal_id", "due_from", name="uq_benefit_checks_proposal_due"),
    )

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    due_from: datetime = Field(sa_type=UTCDateTime, nullable=False)
    owner: str = Field(max_length=SHORT_MAX)
    asked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # The last time the owner was asked or reminded; the weekly reminder counts from here.
    reminded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_by: str | None = Field(default=None, max_length=SHORT_MAX)
    # The measured KPI value; None for a proposal without a KPI (then `outcome` says it all).
    value: float | None = Field(default=None)
    # reached, missed, baseline (first measurement of a KPI without one), realised, not_realised
    outcome: str | None = Field(default=None, max_length=20)
