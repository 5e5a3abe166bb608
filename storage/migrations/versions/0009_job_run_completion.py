"""job run completion: due/running/done, the claim's owner and lease, the posted message

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 19:50:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        # Runs claimed before this version were claimed and done in one step.
        batch_op.add_column(sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), server_default='done', nullable=False))
        batch_op.add_column(sa.Column('due_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))
        batch_op.add_column(sa.Column('message_ts', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('finished_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.create_index('ix_job_runs_status_due_at', ['status', 'due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_job_runs_status_due_at')
        for column in ('note', 'finished_at', 'message_ts', 'channel', 'attempts',
                       'claimed_until', 'owner', 'due_at', 'status'):
            batch_op.drop_column(column)
