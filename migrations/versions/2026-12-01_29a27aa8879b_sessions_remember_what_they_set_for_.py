"""sessions remember what they set for themselves; calendar sequence and last change

Revision ID: 29a27aa8879b
Revises: c2990f25b8bf
Create Date: 2026-12-01 21:53:39.987739

"""
from alembic import op
import sqlalchemy as sa

import app.models_base


# revision identifiers, used by Alembic.
revision = '29a27aa8879b'
down_revision = 'c2990f25b8bf'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('session_occurrence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('overrides', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('sequence', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('updated_at', app.models_base.UTCDateTime(timezone=True), nullable=True))

    # What each session changed on its own already set for itself, read from how it differs from its series.
    occurrence = sa.table('session_occurrence', sa.column('id', sa.Integer), sa.column('group_id', sa.Integer),
                          sa.column('recurrence_id', app.models_base.UTCDateTime(timezone=True)),
                          sa.column('starts_at', app.models_base.UTCDateTime(timezone=True)),
                          sa.column('duration_minutes', sa.Integer), sa.column('video_link', sa.String),
                          sa.column('location', sa.String), sa.column('is_exception', sa.Boolean),
                          sa.column('overrides', sa.JSON),
                          sa.column('created_at', app.models_base.UTCDateTime(timezone=True)),
                          sa.column('updated_at', app.models_base.UTCDateTime(timezone=True)))
    schedule = sa.table('schedule', sa.column('group_id', sa.Integer), sa.column('duration_minutes', sa.Integer))
    connection = op.get_bind()
    lengths = dict(connection.execute(sa.select(schedule.c.group_id, schedule.c.duration_minutes)).all())
    for row in connection.execute(sa.select(occurrence).where(occurrence.c.is_exception.is_(True))).all():
        overrides = []
        if row.recurrence_id is not None and row.starts_at != row.recurrence_id:
            overrides.append('start')
        if row.duration_minutes != lengths.get(row.group_id, row.duration_minutes):
            overrides.append('duration')
        if row.video_link:
            overrides.append('video_link')
        if row.location:
            overrides.append('location')
        if overrides:
            connection.execute(sa.update(occurrence).where(occurrence.c.id == row.id)
                               .values(overrides=sorted(overrides)))
    connection.execute(sa.update(occurrence).values(updated_at=occurrence.c.created_at))

    with op.batch_alter_table('session_occurrence', schema=None) as batch_op:
        batch_op.alter_column('updated_at', existing_type=app.models_base.UTCDateTime(timezone=True), nullable=False)


def downgrade():
    with op.batch_alter_table('session_occurrence', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
        batch_op.drop_column('sequence')
        batch_op.drop_column('overrides')
