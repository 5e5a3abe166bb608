"""The tables of the CSI register."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

# Proposals point to services: their table must be known wherever proposals are.
import storage.sla_tables  # noqa: F401
from storage.types import UTCDateTime, utcnow

TITLE_MAX = 150
TEXT_MAX = 3000
SHORT_MAX = 80


class Objective(SQLModel, table=True):
    """A strategic objective set by the steering group; every proposal serves one."""

    __tablename__ = "objectives"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=TITLE_MAX, unique=True)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    weight: float = Field(default=1.0)
    active: bool = Field(default=True)
    created_by: str | None = Field(default=None, max_length=SHORT_MAX)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # Its measurable target, all optional (bot/objective_target.py): a KPI in words, or one of
    # the SLA targets (its words kept in `kpi`, so removing the target leaves the KPI named), a
    # baseline, a target value and the date to reach it by. `kpi_since` is when the baseline
    # was set: the path to the target starts there.
    kpi: str | None = Field(default=None, max_length=TITLE_MAX)
    kpi_sla_target_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey(
                "sla_targets.id",
                name="fk_objectives_kpi_sla_target_id_sla_targets",
                ondelete="SET NULL",
            ),
            nullable=True,
        ),
    )
    kpi_baseline: float | None = Field(default=None)
    kpi_target: float | None = Field(default=None)
    kpi_target_date: date | None = Field(default=None)
    kpi_since: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Proposal(SQLModel, table=True):
    """One entry of the CSI register."""

    __tablename__ = "proposals"
    __table_args__ = (
        Index("ix_proposals_status", "status"),
        Index("ix_proposals_card", "channel_id", "message_ts"),
        Index("ix_proposals_updated_at", "updated_at"),
        # A person's own proposals, newest first (the Home tab, `/improve list mine`).
        Index("ix_proposals_submitter", "submitter", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The register's own reference from an import (e.g. a spreadsheet row ID).
    ref: str | None = Field(default=None, max_length=SHORT_MAX, unique=True)
    title: str = Field(max_length=TITLE_MAX)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    outcome: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    objective_id: int | None = Field(default=None, foreign_key="objectives.id", index=True)
    service: str | None = Field(default=None, max_length=SHORT_MAX, index=True)
    # The service row (storage/sla_tables.py) the name stands for; the name stays as typed.
    service_id: int | None = Field(default=None, foreign_key="services.id", index=True)
    benefit: str | None = Field(default=None, max_length=40)
    value: int | None = Field(default=None)
    effort: str | None = Field(default=None, max_length=20)
    effort_days: float | None = Field(default=None)
    kpi: str | None = Field(default=None, max_length=TITLE_MAX)
    kpi_baseline: float | None = Field(default=None)
    kpi_target: float | None = Field(default=None)
    kpi_actual: float | None = Field(default=None)
    submitter: str = Field(max_length=SHORT_MAX)
    owner: str | None = Field(default=None, max_length=SHORT_MAX)
    status: str = Field(max_length=20)
    merged_into_id: int | None = Field(default=None, foreign_key="proposals.id")
    channel_id: str | None = Field(default=None, max_length=SHORT_MAX)
    message_ts: str | None = Field(default=None, max_length=40)
    permalink: str | None = Field(default=None, max_length=500)
    # The card outbox (bot/outbox.py): the process posting the card holds `card_claim` until
    # `card_claimed_until`; a claim that outlives its holder expires and is taken over. With no
    # claim, `card_claimed_until` is the earliest moment to try again after Slack refused.
    card_claim: str | None = Field(default=None, max_length=40)
    card_claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Makes a capture idempotent: the same modal or command delivered twice stores one proposal.
    source_key: str | None = Field(default=None, max_length=120, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Vote(SQLModel, table=True):
    """One person's vote for one proposal."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id", name="uq_votes_proposal_user"),)

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    user_id: str = Field(max_length=SHORT_MAX)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ProposalLink(SQLModel, table=True):
    """Two proposals known to be related (submitted anyway next to a similar one)."""

    __tablename__ = "proposal_links"
    __table_args__ = (UniqueConstraint("proposal_id", "related_id", name="uq_proposal_links_pair"),)

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    related_id: int = Field(foreign_key="proposals.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AuditEntry(SQLModel, table=True):
    """What changed on a proposal, who did it and when; never updated, only appended."""

    __tablename__ = "audit_entries"

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    actor: str = Field(max_length=SHORT_MAX)
    action: str = Field(max_length=40)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str | None = Field(default=None, max_length=20)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ProcessedEvent(SQLModel, table=True):
    """Slack event IDs already handled, so a retried delivery is not handled twice."""

    __tablename__ = "processed_events"

    event_id: str = Field(primary_key=True, max_length=120)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class JobRun(SQLModel, table=True):
    """One run of a scheduled job for one period; the key makes replicas run it once.

    A run of the scheduler's own kind goes `due` -> `running` (claimed by one replica until
    `claimed_until`) -> `done`, with the Slack message it posted kept in `channel`/`message_ts`
    so that a run taken over after a crash updates that message instead of posting another.
    A plain claim (`claim_job_run`) is `done` from the start."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job", "period", name="uq_job_runs_job_period"),
        Index("ix_job_runs_status_due_at", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=40)
    period: str = Field(max_length=40)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    status: str = Field(
        default="done", max_length=12, sa_column_kwargs={"server_default": "done"}
    )
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    owner: str | None = Field(default=None, max_length=SHORT_MAX)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    channel: str | None = Field(default=None, max_length=SHORT_MAX)
    message_ts: str | None = Field(default=None, max_length=40)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str | None = Field(default=None, max_length=200)


class PendingDraft(SQLModel, table=True):
    """A submitted form held back while its author decides about similar proposals.

    Slack's private_metadata holds 3,000 characters, less than a full proposal, so the draft
    waits here under a random key until "submit anyway" or "vote instead".
    """

    __tablename__ = "pending_drafts"

    key: str = Field(primary_key=True, max_length=40)
    user_id: str = Field(max_length=SHORT_MAX)
    draft: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
