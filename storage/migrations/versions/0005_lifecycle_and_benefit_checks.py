"""lifecycle and benefit checks

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 17:50:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'benefit_checks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('proposal_id', sa.Integer(), nullable=False),
        sa.Column('due_from', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('asked_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('reminded_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('answered_at', storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('answered_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('proposal_id', 'due_from', name='uq_benefit_checks_proposal_due'),
    )
    op.create_index(
        op.f('ix_benefit_checks_proposal_id'), 'benefit_checks', ['proposal_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_benefit_checks_proposal_id'), table_name='benefit_checks')
    op.drop_table('benefit_checks')
