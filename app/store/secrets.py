"""Server secrets shared by every worker and host: generated once, kept in ``exchange_meta``."""

import secrets

from sqlalchemy import Connection, insert, select

from app.store.engine import read_connection, write_transaction
from app.store.models import exchange_meta_table

_meta = exchange_meta_table
_CURSOR_KEY = "cursor_secret"


def _stored(conn: Connection) -> str | None:
    return conn.execute(select(_meta.c.value).where(_meta.c.key == _CURSOR_KEY)).scalar()


def cursor_secret() -> bytes:
    """The key that authenticates and encrypts ``next`` tokens: 32 random bytes, created by whichever worker
    needs it first (under the write lock, so all workers end up with the same one)."""
    with read_connection() as conn:
        value = _stored(conn)
    if value is None:
        with write_transaction() as conn:
            value = _stored(conn)
            if value is None:
                value = secrets.token_hex(32)
                conn.execute(insert(_meta).values(key=_CURSOR_KEY, value=value))
    return bytes.fromhex(value)
