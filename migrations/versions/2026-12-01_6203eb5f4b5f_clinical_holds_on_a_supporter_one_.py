"""clinical holds on a supporter, one access-log row per look, renewal reminders

Revision ID: 6203eb5f4b5f
Revises: 29a27aa8879b
Create Date: 2026-12-01 21:52:19.403489

"""
from alembic import op
import sqlalchemy as sa

import app.models_base


# revision identifiers, used by Alembic.
revision = '6203eb5f4b5f'
down_revision = '29a27aa8879b'
branch_labels = None
depends_on = None


#: The tables as this step reads and writes their rows.
access_log = sa.table("access_log", sa.column("id", sa.Integer), sa.column("consent_id", sa.Integer),
                      sa.column("patient_id", sa.Integer), sa.column("supporter_id", sa.Integer),
                      sa.column("data_class", sa.String), sa.column("data_classes", sa.JSON),
                      sa.column("at", app.models_base.UTCDateTime(timezone=True)))
consent = sa.table("consent", sa.column("id", sa.Integer), sa.column("patient_id", sa.Integer),
                   sa.column("supporter_id", sa.Integer))
consent_event = sa.table("consent_event", sa.column("id", sa.Integer), sa.column("consent_id", sa.Integer),
                         sa.column("state", sa.String), sa.column("at", app.models_base.UTCDateTime(timezone=True)),
                         sa.column("by_id", sa.Integer), sa.column("reason", sa.Text))
supporter_link = sa.table("supporter_link", sa.column("id", sa.Integer), sa.column("patient_id", sa.Integer),
                          sa.column("supporter_id", sa.Integer))
clinical_hold = sa.table("clinical_hold", sa.column("id", sa.Integer), sa.column("link_id", sa.Integer),
                         sa.column("reason", sa.Text), sa.column("placed_by_id", sa.Integer),
                         sa.column("placed_at", app.models_base.UTCDateTime(timezone=True)))


def upgrade():
    op.create_table('clinical_hold',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('placed_by_id', sa.Integer(), nullable=True),
    sa.Column('placed_at', app.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lifted_by_id', sa.Integer(), nullable=True),
    sa.Column('lifted_at', app.models_base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['lifted_by_id'], ['user_account.id'], name=op.f('fk_clinical_hold_lifted_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['link_id'], ['supporter_link.id'], name=op.f('fk_clinical_hold_link_id_supporter_link'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['placed_by_id'], ['user_account.id'], name=op.f('fk_clinical_hold_placed_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinical_hold'))
    )
    with op.batch_alter_table('clinical_hold', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinical_hold_link_id'), ['link_id'], unique=False)

    connection = op.get_bind()
    # A hold used to sit on one consent: a consent whose last change is a hold puts its supporter on hold.
    last = sa.select(sa.func.max(consent_event.c.id)).group_by(consent_event.c.consent_id).scalar_subquery()
    held = connection.execute(
        sa.select(supporter_link.c.id, consent_event.c.reason, consent_event.c.by_id, consent_event.c.at)
        .select_from(consent_event.join(consent, consent.c.id == consent_event.c.consent_id)
                     .join(supporter_link, sa.and_(supporter_link.c.patient_id == consent.c.patient_id,
                                                   supporter_link.c.supporter_id == consent.c.supporter_id)))
        .where(consent_event.c.id.in_(last), consent_event.c.state == "on_hold")
        .order_by(consent_event.c.id)).all()
    placed = {}
    for link_id, reason, by_id, at in held:
        placed.setdefault(link_id, {"link_id": link_id, "reason": reason, "placed_by_id": by_id, "placed_at": at})
    if placed:
        connection.execute(clinical_hold.insert(), list(placed.values()))

    # One access-log row per look: each old row was one look at one class.
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_classes', sa.JSON(), nullable=True))
    for row_id, data_class in connection.execute(sa.select(access_log.c.id, access_log.c.data_class)).all():
        connection.execute(access_log.update().where(access_log.c.id == row_id).values(data_classes=[data_class]))
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.alter_column('data_classes', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('data_class')

    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('renewal_prompted_at', app.models_base.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.drop_column('renewal_prompted_at')

    connection = op.get_bind()
    # Back to one row per class: a look at several classes becomes one row for each, at the same moment.
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_class', sa.VARCHAR(length=40), nullable=True))
    rows = connection.execute(sa.select(access_log.c.id, access_log.c.consent_id, access_log.c.patient_id,
                                        access_log.c.supporter_id, access_log.c.data_classes,
                                        access_log.c.at)).all()
    for row_id, consent_id, patient_id, supporter_id, data_classes, at in rows:
        first, *others = list(data_classes or []) or [""]
        connection.execute(access_log.update().where(access_log.c.id == row_id).values(data_class=first))
        if others:
            connection.execute(access_log.insert(), [
                {"consent_id": consent_id, "patient_id": patient_id, "supporter_id": supporter_id,
                 "data_class": data_class, "data_classes": [data_class], "at": at} for data_class in others])
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.alter_column('data_class', existing_type=sa.VARCHAR(length=40), nullable=False)
        batch_op.drop_column('data_classes')

    # The consents a hold suspended keep their "on hold" history, which is what the earlier schema reads.
    with op.batch_alter_table('clinical_hold', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinical_hold_link_id'))

    op.drop_table('clinical_hold')
