"""Concerns keep the words of the peer messages they report, as they were when reported

Revision ID: ebd6e413eaa0
Revises: 2316709abb9b
Create Date: 2026-12-03 15:38:42.914732

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'ebd6e413eaa0'
down_revision = '2316709abb9b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('peer_concern', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reported_words', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('peer_concern', schema=None) as batch_op:
        batch_op.drop_column('reported_words')
