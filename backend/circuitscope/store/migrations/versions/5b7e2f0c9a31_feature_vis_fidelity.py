"""feature vis fidelity: feature_vis.fidelity and .note, feature_vis_failures

Revision ID: 5b7e2f0c9a31
Revises: 11cd7d1769ab
Create Date: 2026-12-01 23:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '5b7e2f0c9a31'
down_revision = '11cd7d1769ab'  # chained after the circuit-test table
branch_labels = None
depends_on = None


def upgrade() -> None:
    # fidelity: the render's peak / the unit's top dataset example; note: why a render is weak, when known
    with op.batch_alter_table('feature_vis', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fidelity', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('note', sa.String(length=300), nullable=True))
    op.create_table('feature_vis_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('objective', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_feature_vis_failures_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feature_vis_failures')),
    sa.UniqueConstraint('unit_id', 'objective', name=op.f('uq_feature_vis_failures_unit_id'))
    )


def downgrade() -> None:
    op.drop_table('feature_vis_failures')
    with op.batch_alter_table('feature_vis', schema=None) as batch_op:
        batch_op.drop_column('note')
        batch_op.drop_column('fidelity')
