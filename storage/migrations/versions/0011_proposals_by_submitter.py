"""proposals by submitter: a person's own proposals read without reading the whole register

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 02:40:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every Home tab counts and lists its owner's proposals: without this index, both read all
    # of them (100,000 rows for each Home tab on a large register).
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.create_index('ix_proposals_submitter', ['submitter', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_index('ix_proposals_submitter')
