"""submitter notices: the confirmation owed to whoever stored a proposal from the form

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 22:20:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Proposals stored before this version were confirmed (or not) the old way: none is owed.
    op.create_table('submitter_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('due_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claim', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', name='uq_submitter_notices_key')
    )
    with op.batch_alter_table('submitter_notices', schema=None) as batch_op:
        batch_op.create_index('ix_submitter_notices_state_due_at', ['state', 'due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('submitter_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_submitter_notices_state_due_at')
    op.drop_table('submitter_notices')
