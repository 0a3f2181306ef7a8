"""audit head carries an HMAC of where the chain ends

Revision ID: 12949c57d382
Revises: e33dc2db2162
Create Date: 2026-12-01 21:53:18.374156

"""
import hashlib
import hmac

import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = '12949c57d382'
down_revision = 'e33dc2db2162'
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _head_mac(last_seq, last_hash):
    """As app.audit.head_mac computes it at this revision, with the app's audit key."""
    key = (current_app.config.get("AUDIT_KEY") or current_app.config["SECRET_KEY"]).encode()
    message = "\x1f".join(("audit_head", str(last_seq), last_hash)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def upgrade():
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mac', sa.String(length=64), nullable=False, server_default=''))

    # The head as it stands is signed; a database without one gets the head of an empty trail, which is where every
    # database starts from now on. A head missing beside stored rows is left missing for `flask audit verify` to report.
    connection = op.get_bind()
    head = sa.table('audit_head', sa.column('id'), sa.column('last_seq'), sa.column('last_hash'), sa.column('mac'))
    row = connection.execute(sa.select(head.c.last_seq, head.c.last_hash).where(head.c.id == 1)).one_or_none()
    if row is not None:
        connection.execute(head.update().where(head.c.id == 1).values(mac=_head_mac(row.last_seq, row.last_hash)))
    elif not connection.execute(sa.text("SELECT 1 FROM audit_event LIMIT 1")).first():
        connection.execute(head.insert().values(id=1, last_seq=0, last_hash=GENESIS, mac=_head_mac(0, GENESIS)))

    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.alter_column('mac', existing_type=sa.String(length=64), existing_nullable=False, server_default=None)


def downgrade():
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_column('mac')
