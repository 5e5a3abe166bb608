"""objective targets: a KPI (in words or an SLA target), baseline, target value and date

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 19:45:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('kpi', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=True)
        )
        batch_op.add_column(sa.Column('kpi_sla_target_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('kpi_baseline', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('kpi_target', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('kpi_target_date', sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column('kpi_since', storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        # Removing an SLA target leaves the objective's KPI named in words (`kpi`).
        batch_op.create_foreign_key(
            'fk_objectives_kpi_sla_target_id_sla_targets',
            'sla_targets',
            ['kpi_sla_target_id'],
            ['id'],
            ondelete='SET NULL',
        )


def downgrade() -> None:
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.drop_constraint('fk_objectives_kpi_sla_target_id_sla_targets', type_='foreignkey')
        batch_op.drop_column('kpi_since')
        batch_op.drop_column('kpi_target_date')
        batch_op.drop_column('kpi_target')
        batch_op.drop_column('kpi_baseline')
        batch_op.drop_column('kpi_sla_target_id')
        batch_op.drop_column('kpi')
