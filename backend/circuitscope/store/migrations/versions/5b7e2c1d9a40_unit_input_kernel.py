"""unit input kernel

Revision ID: 5b7e2c1d9a40
Revises: 5b7e2f0c9a31
Create Date: 2026-12-02 00:25:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '5b7e2c1d9a40'
down_revision = '5b7e2f0c9a31'  # chained after the feature-vis fidelity columns
branch_labels = None
depends_on = None


def upgrade() -> None:
    # units.input_kernel: a first-layer unit's weights on the image channels [channels][kh][kw] (RGB kernels)
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('input_kernel', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_column('input_kernel')
