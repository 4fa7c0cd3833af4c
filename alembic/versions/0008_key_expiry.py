"""api_key: expiry and rotation (expires_at, replaced_by); an index for each key's last use in the audit log

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('api_key') as batch:
        batch.add_column(sa.Column('expires_at', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('replaced_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_index('ix_audit_key_use', 'audit_event', ['key_id', 'action', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_key_use', table_name='audit_event')
    with op.batch_alter_table('api_key') as batch:
        batch.drop_column('replaced_by')
        batch.drop_column('expires_at')
