"""TAXII status resources, stored so that any worker, after any restart, can answer for them."""

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from app.store.models import status_resource_table

_status = status_resource_table


@dataclass(frozen=True)
class StatusRow:
    id: str
    api_root: str
    collection_id: str
    participant_id: int
    request_timestamp: int
    total_count: int
    success_count: int
    failure_count: int
    pending_count: int
    successes: str  # JSON list of {"id", "version"}
    failures: str  # JSON list of {"id", "version", "message"}
    pendings: str


def insert_status(conn: Connection, row: StatusRow) -> None:
    conn.execute(insert(_status).values(**row.__dict__))


def get_status(conn: Connection, api_root: str, status_id: str) -> StatusRow | None:
    row = conn.execute(select(_status).where(_status.c.id == status_id, _status.c.api_root == api_root)).first()
    return StatusRow(**row._mapping) if row else None
