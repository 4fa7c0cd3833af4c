"""drop object_ref and stix_object.has_essential_refs: no rule hides an object by what it references any more

Hiding a relationship or sighting whose endpoint the reader could not see made relationships an existence oracle
(issue 12, class 2; docs/threat-model/oracles.md), so the rule, and with it the table of essential references and
the flag that said a row had some, are gone.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table('object_ref')
    with op.batch_alter_table('stix_object') as batch:
        batch.drop_column('has_essential_refs')


def downgrade() -> None:
    with op.batch_alter_table('stix_object') as batch:
        batch.add_column(sa.Column('has_essential_refs', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'object_ref',
        sa.Column('object_seq', sa.BigInteger(), nullable=False),
        sa.Column('ref_id', sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(['object_seq'], ['stix_object.seq']),
        sa.PrimaryKeyConstraint('object_seq', 'ref_id'),
    )
