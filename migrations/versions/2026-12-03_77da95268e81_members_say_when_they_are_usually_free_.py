"""Members say when they are usually free, for peer pair suggestions

Revision ID: 77da95268e81
Revises: 4fb3592fb000
Create Date: 2026-12-03 17:12:59.451296

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '77da95268e81'
down_revision = '4fb3592fb000'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('availability', sa.JSON(), server_default='[]', nullable=False))


def downgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('availability')
