"""live sockets of each account; a client key on calls for support

Revision ID: e33dc2db2162
Revises: 6203eb5f4b5f
Create Date: 2026-12-01 22:02:38.157217

"""
from alembic import op
import sqlalchemy as sa

import app.models_base


# revision identifiers, used by Alembic.
revision = 'e33dc2db2162'
down_revision = '6203eb5f4b5f'
branch_labels = None
depends_on = None


def upgrade():
    # Every open socket of an account, so that ending a login or a membership reaches it on any app process.
    op.create_table('live_socket',
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('opened_at', app.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_live_socket_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sid', name=op.f('pk_live_socket'))
    )
    with op.batch_alter_table('live_socket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_socket_user_id'), ['user_id'], unique=False)

    # "I need support now" carries the client's key: a retried press raises no second alert.
    with op.batch_alter_table('safety_alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_id', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_safety_alert_patient_id'), ['patient_id', 'group_id', 'client_id'])



def downgrade():
    with op.batch_alter_table('safety_alert', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_safety_alert_patient_id'), type_='unique')
        batch_op.drop_column('client_id')

    with op.batch_alter_table('live_socket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_socket_user_id'))

    op.drop_table('live_socket')
