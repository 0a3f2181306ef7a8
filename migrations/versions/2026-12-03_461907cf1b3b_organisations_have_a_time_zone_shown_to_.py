"""Organisations have a time zone, shown to people whose own zone no longer loads

Revision ID: 461907cf1b3b
Revises: d77ce70953a9
Create Date: 2026-12-03 08:53:09.480484

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '461907cf1b3b'
down_revision = 'd77ce70953a9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), server_default='UTC', nullable=False))


def downgrade():
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.drop_column('timezone')
