"""feature vis peak

Revision ID: 1efc1b013bd9
Revises: c487cb545869
Create Date: 2026-11-21 10:05:59.255901
"""
from alembic import op
import sqlalchemy as sa


revision = '1efc1b013bd9'
down_revision = 'c487cb545869'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # feature_vis.peak: spatial max of the unit's output map on the render (null for older renders)
    with op.batch_alter_table('feature_vis', schema=None) as batch_op:
        batch_op.add_column(sa.Column('peak', sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('feature_vis', schema=None) as batch_op:
        batch_op.drop_column('peak')
