"""Facilitators note what they did about a safety alert

Revision ID: ee5d01c32ce7
Revises: 927c6971fc6d
Create Date: 2026-12-03 13:47:46.343774

"""
import sqlalchemy as sa
from alembic import op

import app.models_base


# revision identifiers, used by Alembic.
revision = 'ee5d01c32ce7'
down_revision = '927c6971fc6d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('safety_alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.String(length=280), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('safety_alert', schema=None) as batch_op:
        batch_op.drop_column('note')
