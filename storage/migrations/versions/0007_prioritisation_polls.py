"""prioritisation polls

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 17:50:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('polls',
    sa.Column('id', sa.Integer(), nullable=False),
    # Unique and NULL once closed: the database keeps one poll open at a time.
    sa.Column('open_slot', sa.Integer(), nullable=True),
    sa.Column('channel_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('message_ts', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('opened_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('opened_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closes_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closing_until', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('voters', sa.Integer(), nullable=True),
    sa.Column('result_ts', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('open_slot')
    )
    op.create_table('poll_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('poll_id', 'user_id', name='uq_poll_notices_user')
    )
    with op.batch_alter_table('poll_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_poll_notices_poll_id'), ['poll_id'], unique=False)

    op.create_table('poll_candidates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], ),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('poll_id', 'number', name='uq_poll_candidates_number'),
    sa.UniqueConstraint('poll_id', 'proposal_id', name='uq_poll_candidates_proposal')
    )
    with op.batch_alter_table('poll_candidates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_poll_candidates_poll_id'), ['poll_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_poll_candidates_proposal_id'), ['proposal_id'], unique=False)

    op.create_table('poll_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('votes', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], ),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('poll_id', 'proposal_id', name='uq_poll_results_proposal')
    )
    with op.batch_alter_table('poll_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_poll_results_poll_id'), ['poll_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_poll_results_proposal_id'), ['proposal_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('poll_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_poll_results_proposal_id'))
        batch_op.drop_index(batch_op.f('ix_poll_results_poll_id'))

    op.drop_table('poll_results')
    with op.batch_alter_table('poll_candidates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_poll_candidates_proposal_id'))
        batch_op.drop_index(batch_op.f('ix_poll_candidates_poll_id'))

    op.drop_table('poll_candidates')
    with op.batch_alter_table('poll_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_poll_notices_poll_id'))

    op.drop_table('poll_notices')
    op.drop_table('polls')
