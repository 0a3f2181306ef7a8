"""Organisations choose the language of invitations to new people

Revision ID: 3230ae87a715
Revises: 12949c57d382
Create Date: 2026-12-02 01:08:09.504599

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '3230ae87a715'
down_revision = '12949c57d382'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=8), server_default='en', nullable=False))


def downgrade():
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.drop_column('locale')
