"""initial register

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 23:15:44.800894
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('objectives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('title')
    )
    op.create_table('processed_events',
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('received_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_table('proposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.Column('objective_id', sa.Integer(), nullable=True),
    sa.Column('service', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('benefit', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('value', sa.Integer(), nullable=True),
    sa.Column('effort', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('effort_days', sa.Float(), nullable=True),
    sa.Column('kpi', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=True),
    sa.Column('kpi_baseline', sa.Float(), nullable=True),
    sa.Column('kpi_target', sa.Float(), nullable=True),
    sa.Column('kpi_actual', sa.Float(), nullable=True),
    sa.Column('submitter', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('channel_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('message_ts', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('permalink', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('source_key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merged_into_id'], ['proposals.id'], ),
    sa.ForeignKeyConstraint(['objective_id'], ['objectives.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ref'),
    sa.UniqueConstraint('source_key')
    )
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.create_index('ix_proposals_card', ['channel_id', 'message_ts'], unique=False)
        batch_op.create_index(batch_op.f('ix_proposals_objective_id'), ['objective_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_proposals_service'), ['service'], unique=False)
        batch_op.create_index('ix_proposals_status', ['status'], unique=False)
        batch_op.create_index('ix_proposals_updated_at', ['updated_at'], unique=False)

    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entries_proposal_id'), ['proposal_id'], unique=False)

    op.create_table('proposal_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('related_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], ),
    sa.ForeignKeyConstraint(['related_id'], ['proposals.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('proposal_id', 'related_id', name='uq_proposal_links_pair')
    )
    with op.batch_alter_table('proposal_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proposal_links_proposal_id'), ['proposal_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_proposal_links_related_id'), ['related_id'], unique=False)

    op.create_table('votes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('proposal_id', 'user_id', name='uq_votes_proposal_user')
    )
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_votes_proposal_id'), ['proposal_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_votes_proposal_id'))

    op.drop_table('votes')
    with op.batch_alter_table('proposal_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_proposal_links_related_id'))
        batch_op.drop_index(batch_op.f('ix_proposal_links_proposal_id'))

    op.drop_table('proposal_links')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entries_proposal_id'))

    op.drop_table('audit_entries')
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_index('ix_proposals_updated_at')
        batch_op.drop_index('ix_proposals_status')
        batch_op.drop_index(batch_op.f('ix_proposals_service'))
        batch_op.drop_index(batch_op.f('ix_proposals_objective_id'))
        batch_op.drop_index('ix_proposals_card')

    op.drop_table('proposals')
    op.drop_table('processed_events')
    op.drop_table('objectives')
