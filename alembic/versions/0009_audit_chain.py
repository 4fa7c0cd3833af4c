"""audit: a hash chain over audit_event (position, prev_hash, hash; subject), key use per minute in key_use,
reads of AMBER/RED objects per reader, object and day in object_read

Existing audit records are chained in id order (their commit order: writers are serialised). The per-minute
key.use rows move to key_use (summed per key and minute: earlier flushes wrote one row per flush) and leave the
audit log, which from now on holds only events, each chained.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import orjson
import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.store.audit import GENESIS, record_hash

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    op.create_table(
        'key_use',
        sa.Column('key_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('minute', sa.BigInteger(), nullable=False),
        sa.Column('participant_id', sa.Integer(), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('key_id', 'minute'),
    )
    op.create_index(op.f('ix_key_use_participant_id'), 'key_use', ['participant_id'], unique=False)
    op.create_table(
        'object_read',
        sa.Column('reader_id', sa.Integer(), nullable=False),
        sa.Column('producer_id', sa.Integer(), nullable=False),
        sa.Column('stix_id', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
        sa.Column('day', sa.BigInteger(), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('reader_id', 'producer_id', 'stix_id', 'day'),
    )
    op.create_index('ix_object_read_producer', 'object_read', ['producer_id', 'day'], unique=False)
    op.create_index('ix_object_read_day', 'object_read', ['day'], unique=False)

    bind = op.get_bind()
    bind.execute(sa.text(
        "INSERT INTO key_use (key_id, minute, participant_id, count) "
        "SELECT key_id, at, MAX(participant_id), SUM(object_count) FROM audit_event "
        "WHERE action = 'key.use' AND key_id IS NOT NULL AND participant_id IS NOT NULL GROUP BY key_id, at"))
    bind.execute(sa.text("DELETE FROM audit_event WHERE action = 'key.use'"))
    op.drop_index('ix_audit_key_use', table_name='audit_event')

    with op.batch_alter_table('audit_event') as batch:
        batch.add_column(sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch.add_column(sa.Column('position', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch.add_column(sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    _chain(bind)
    with op.batch_alter_table('audit_event') as batch:
        batch.alter_column('position', existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column('prev_hash', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        batch.alter_column('hash', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
    op.create_index('ux_audit_position', 'audit_event', ['position'], unique=True)
    op.create_index('ix_audit_subject', 'audit_event', ['subject', 'position'], unique=False)


def _chain(bind: sa.Connection) -> None:
    """Chain the existing records in id order, a batch at a time (bounded memory)."""
    slugs = {row.id: row.slug for row in bind.execute(sa.text("SELECT id, slug FROM participant"))}
    position, previous, after = 0, GENESIS, 0
    while True:
        rows = bind.execute(sa.text(
            "SELECT id, at, participant_id, key_id, action, collection_id, object_count, detail FROM audit_event "
            "WHERE id > :after ORDER BY id LIMIT :n"), {"after": after, "n": _BATCH}).mappings().all()
        if not rows:
            return
        updates = []
        for row in rows:
            position += 1
            record = dict(row)
            detail = orjson.loads(record["detail"]) if record["detail"] else None
            subject = detail.get("slug") if isinstance(detail, dict) and isinstance(detail.get("slug"), str) else None
            if subject is None and record["participant_id"] is not None and record["action"].startswith("objects."):
                subject = slugs.get(record["participant_id"])
            record.update(subject=subject, position=position, prev_hash=previous)
            record["hash"] = previous = record_hash(record)
            updates.append({"id": record["id"], "subject": subject, "position": position,
                            "prev_hash": record["prev_hash"], "hash": record["hash"]})
        bind.execute(sa.text("UPDATE audit_event SET subject = :subject, position = :position, "
                             "prev_hash = :prev_hash, hash = :hash WHERE id = :id"), updates)
        after = rows[-1]["id"]


def downgrade() -> None:
    op.drop_index('ix_audit_subject', table_name='audit_event')
    op.drop_index('ux_audit_position', table_name='audit_event')
    with op.batch_alter_table('audit_event') as batch:
        batch.drop_column('hash')
        batch.drop_column('prev_hash')
        batch.drop_column('position')
        batch.drop_column('subject')
    op.execute("INSERT INTO audit_event (at, participant_id, key_id, action, collection_id, object_count) "
               "SELECT minute, participant_id, key_id, 'key.use', NULL, count FROM key_use")
    op.create_index('ix_audit_key_use', 'audit_event', ['key_id', 'action', 'at'], unique=False)
    op.drop_index('ix_object_read_day', table_name='object_read')
    op.drop_index('ix_object_read_producer', table_name='object_read')
    op.drop_table('object_read')
    op.drop_index(op.f('ix_key_use_participant_id'), table_name='key_use')
    op.drop_table('key_use')
