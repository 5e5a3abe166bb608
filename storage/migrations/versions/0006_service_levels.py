"""service levels

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 17:50:00
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('services',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_table('measurements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('metric', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('timestamp', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('service_id', 'metric', 'timestamp', name='uq_measurements_moment')
    )
    op.create_table('sla_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('metric', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('aggregate', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('comparator', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('target', sa.Float(), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('service_id', 'metric', 'aggregate', 'comparator', name='uq_sla_targets_definition')
    )
    op.create_index(op.f('ix_sla_targets_service_id'), 'sla_targets', ['service_id'], unique=False)
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('service_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_proposals_service_id'), ['service_id'], unique=False)
        batch_op.create_foreign_key(
            'fk_proposals_service_id_services', 'services', ['service_id'], ['id']
        )
    _services_from_proposals()


def _services_from_proposals() -> None:
    """The free-text services of existing proposals become service rows the proposals point to.

    Spellings that differ only in case or spacing are one service, named as first typed.
    """
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT id, service FROM proposals WHERE service IS NOT NULL ORDER BY id")
    ).all()
    services: dict[str, int] = {}
    now = datetime.now(UTC)
    services_table = sa.table(
        'services',
        sa.column('id', sa.Integer()),
        sa.column('name', sa.String()),
        sa.column('key', sa.String()),
        sa.column('created_at', storage.types.UTCDateTime()),
    )
    for proposal_id, service in rows:
        name = " ".join(str(service).split())
        if not name:
            continue
        key = name.casefold()
        if key not in services:
            connection.execute(
                services_table.insert().values(name=name[:80], key=key[:80], created_at=now)
            )
            services[key] = connection.execute(
                sa.select(services_table.c.id).where(services_table.c.key == key[:80])
            ).scalar_one()
        connection.execute(
            sa.text("UPDATE proposals SET service_id = :service_id WHERE id = :id"),
            {"service_id": services[key], "id": proposal_id},
        )


def downgrade() -> None:
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_constraint('fk_proposals_service_id_services', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_proposals_service_id'))
        batch_op.drop_column('service_id')
    op.drop_index(op.f('ix_sla_targets_service_id'), table_name='sla_targets')
    op.drop_table('sla_targets')
    op.drop_table('measurements')
    op.drop_table('services')
