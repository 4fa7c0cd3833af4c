"""shared_id: the ids more than one producer holds a copy of, so that each page says cheaply which of its ids
need the reads of the other copies counted (app.store.objects.PageRow.shared); filled from what is stored

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'shared_id',
        sa.Column('stix_id', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
        sa.PrimaryKeyConstraint('stix_id'),
    )
    op.execute("INSERT INTO shared_id (stix_id) SELECT stix_id FROM stix_object GROUP BY stix_id "
               "HAVING count(DISTINCT coalesce(producer_id, -1)) > 1")


def downgrade() -> None:
    op.drop_table('shared_id')
