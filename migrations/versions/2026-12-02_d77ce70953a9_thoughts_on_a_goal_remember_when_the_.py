"""Thoughts on a goal remember when the patient read them

Revision ID: d77ce70953a9
Revises: 4dfd45bf2be6
Create Date: 2026-12-02 02:07:34.214445

"""
import sqlalchemy as sa
from alembic import op

import app.models_base


# revision identifiers, used by Alembic.
revision = 'd77ce70953a9'
down_revision = '4dfd45bf2be6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('goal_comment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('read_at', app.models_base.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('goal_comment', schema=None) as batch_op:
        batch_op.drop_column('read_at')
