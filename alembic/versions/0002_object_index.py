"""object index: object_term and the confidence / revoked / atlas_id columns of stix_object

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('object_term',
    sa.Column('object_seq', sa.BigInteger(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.ForeignKeyConstraint(['object_seq'], ['stix_object.seq'], ),
    sa.PrimaryKeyConstraint('object_seq', 'kind', 'value')
    )
    op.create_index('ix_object_term_lookup', 'object_term', ['kind', 'value', 'object_seq'], unique=False)
    # Plain ADD COLUMN (native on SQLite too): a batch copy of stix_object would break the foreign keys of the
    # rows that reference it once the table holds data.
    op.add_column('stix_object', sa.Column('confidence', sa.Integer(), nullable=True))
    op.add_column('stix_object', sa.Column('revoked', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('stix_object', sa.Column('atlas_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    op.create_index(op.f('ix_stix_object_atlas_id'), 'stix_object', ['atlas_id'], unique=False)

    # Objects stored before this revision get their index entries from their stored JSON.
    from app.store.index import reindex
    reindex(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('object_term', schema=None) as batch_op:
        batch_op.drop_index('ix_object_term_lookup')

    op.drop_table('object_term')
    with op.batch_alter_table('stix_object', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stix_object_atlas_id'))

    if op.get_bind().dialect.name == 'sqlite':
        # Native DROP COLUMN (SQLite >= 3.35): a batch copy of stix_object would break the foreign keys of the
        # rows that reference it.
        for column in ('atlas_id', 'revoked', 'confidence'):
            op.execute(f'ALTER TABLE stix_object DROP COLUMN {column}')
    else:
        with op.batch_alter_table('stix_object', schema=None) as batch_op:
            batch_op.drop_column('atlas_id')
            batch_op.drop_column('revoked')
            batch_op.drop_column('confidence')
