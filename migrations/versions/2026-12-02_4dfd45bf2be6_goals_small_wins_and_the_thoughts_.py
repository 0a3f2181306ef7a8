"""Goals, small wins, and the thoughts patients ask their supporters for

Revision ID: 4dfd45bf2be6
Revises: 3230ae87a715
Create Date: 2026-12-02 01:24:14.666075

"""
import sqlalchemy as sa
from alembic import op

import app.models_base


# revision identifiers, used by Alembic.
revision = '4dfd45bf2be6'
down_revision = '3230ae87a715'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('goal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('why', sa.String(length=500), nullable=False),
    sa.Column('next_step', sa.String(length=200), nullable=False),
    sa.Column('status', sa.Enum('active', 'done', 'set_aside', name='goal_status', native_enum=False, length=30), nullable=False),
    sa.Column('created_at', app.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', app.models_base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_goal_organisation_id_organisation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['user_account.id'], name=op.f('fk_goal_patient_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_goal'))
    )
    with op.batch_alter_table('goal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_goal_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_goal_patient_id'), ['patient_id'], unique=False)

    op.create_table('goal_comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('goal_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.String(length=500), nullable=False),
    sa.Column('created_at', app.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_goal_comment_author_id_user_account'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['goal_id'], ['goal.id'], name=op.f('fk_goal_comment_goal_id_goal'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_goal_comment'))
    )
    with op.batch_alter_table('goal_comment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_goal_comment_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_goal_comment_goal_id'), ['goal_id'], unique=False)

    op.create_table('goal_commenter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('goal_id', sa.Integer(), nullable=False),
    sa.Column('supporter_id', sa.Integer(), nullable=False),
    sa.Column('invited_at', app.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', app.models_base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['goal_id'], ['goal.id'], name=op.f('fk_goal_commenter_goal_id_goal'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['supporter_id'], ['user_account.id'], name=op.f('fk_goal_commenter_supporter_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_goal_commenter')),
    sa.UniqueConstraint('goal_id', 'supporter_id', name=op.f('uq_goal_commenter_goal_id'))
    )
    with op.batch_alter_table('goal_commenter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_goal_commenter_goal_id'), ['goal_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_goal_commenter_supporter_id'), ['supporter_id'], unique=False)

    op.create_table('small_win',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('goal_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.String(length=200), nullable=False),
    sa.Column('created_at', app.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['goal_id'], ['goal.id'], name=op.f('fk_small_win_goal_id_goal'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['user_account.id'], name=op.f('fk_small_win_patient_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_small_win'))
    )
    with op.batch_alter_table('small_win', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_small_win_goal_id'), ['goal_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_small_win_patient_id'), ['patient_id'], unique=False)


def downgrade():
    with op.batch_alter_table('small_win', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_small_win_patient_id'))
        batch_op.drop_index(batch_op.f('ix_small_win_goal_id'))

    op.drop_table('small_win')
    with op.batch_alter_table('goal_commenter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_goal_commenter_supporter_id'))
        batch_op.drop_index(batch_op.f('ix_goal_commenter_goal_id'))

    op.drop_table('goal_commenter')
    with op.batch_alter_table('goal_comment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_goal_comment_goal_id'))
        batch_op.drop_index(batch_op.f('ix_goal_comment_author_id'))

    op.drop_table('goal_comment')
    with op.batch_alter_table('goal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_goal_patient_id'))
        batch_op.drop_index(batch_op.f('ix_goal_organisation_id'))

    op.drop_table('goal')