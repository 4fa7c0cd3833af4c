"""rate_counter: an index on (scope, window) for the flushers' once-a-second read and the cleanup's delete

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

"""

from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_rate_counter_scope_window', 'rate_counter', ['scope', 'window'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_rate_counter_scope_window', table_name='rate_counter')
