"""participant_identity: identity ids a participant already publishes under, attached by the operator

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'participant_identity',
        sa.Column('identity_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('participant_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['participant_id'], ['participant.id']),
        sa.PrimaryKeyConstraint('identity_id'),
    )
    op.create_index(op.f('ix_participant_identity_participant_id'), 'participant_identity', ['participant_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_participant_identity_participant_id'), table_name='participant_identity')
    op.drop_table('participant_identity')
