"""pending memberships: embargoed versions wait without a date_added until their embargo is released

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = 1 << 62  # app.store.objects.PENDING
_ONLY_PENDING = sa.text('release_at IS NOT NULL')


def upgrade() -> None:
    # Plain ADD COLUMN (native on SQLite too): a batch copy of membership would break nothing today, but costs a
    # full table copy at a million rows.
    op.add_column('membership', sa.Column('release_at', sa.BigInteger(), nullable=True))
    op.create_index('ix_membership_pending', 'membership', ['release_at', 'seq'], unique=False,
                    sqlite_where=_ONLY_PENDING, postgresql_where=_ONLY_PENDING)
    # Members stored with their embargo's end as date_added, and still under embargo, become pending: the release
    # job dates them when the embargo ends. (Those already released keep their dates: pollers have them.)
    op.execute(sa.text(
        'UPDATE membership SET date_added = :pending, release_at = '
        '(SELECT o.release_at FROM stix_object o WHERE o.seq = membership.object_seq) '
        'WHERE object_seq IN (SELECT seq FROM stix_object WHERE release_at > :now)'
    ).bindparams(pending=_PENDING, now=time.time_ns() // 1000))


def downgrade() -> None:
    op.execute(sa.text('UPDATE membership SET date_added = release_at WHERE release_at IS NOT NULL'))
    op.drop_index('ix_membership_pending', table_name='membership')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE membership DROP COLUMN release_at')
    else:
        op.drop_column('membership', 'release_at')
