"""Alembic environment: migrates the database named by AISX_DATABASE_URL (or the connection handed in
by ``app.store.migrate``)."""

from sqlmodel import SQLModel

import app.store.models  # noqa: F401  (registers the tables)
from alembic import context
from app.store.engine import get_engine

target_metadata = SQLModel.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with get_engine().connect() as conn:
        _run(conn)
        conn.commit()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("AISX migrations run online only: use `aisx db upgrade`.")
run_migrations()
