"""membership: the (collection_id, stix_id) index also holds producer_id, so "does another producer hold a copy
of this id here?" — asked for every row of every page (the read statistics, rules 5 and 6) — is answered from
the index alone

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

"""

from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_membership_stix_id', table_name='membership')
    op.create_index('ix_membership_stix_id', 'membership', ['collection_id', 'stix_id', 'producer_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_membership_stix_id', table_name='membership')
    op.create_index('ix_membership_stix_id', 'membership', ['collection_id', 'stix_id'], unique=False)
