"""API roots, collections and their grants."""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Row, and_, func, insert, or_, select, update

from app.store.models import api_root_table, collection_table, grant_table

_roots = api_root_table
_collections = collection_table
_grants = grant_table


@dataclass(frozen=True)
class ApiRootRow:
    name: str
    title: str
    description: str | None
    max_content_length: int


@dataclass(frozen=True)
class CollectionRow:
    id: str
    api_root: str
    alias: str | None
    title: str
    description: str | None
    public: bool
    default_group: str | None = None
    validation: str = "strict"  # strict: reject any STIX MUST violation; lenient: accept and warn


@dataclass(frozen=True)
class Subject:
    """Who a grant names: ``participant`` (slug), ``group`` (name) or ``kind`` (lab, …, or ``*``)."""

    kind: str
    value: str


def list_api_roots(conn: Connection) -> list[ApiRootRow]:
    return [ApiRootRow(**r._mapping) for r in conn.execute(select(_roots).order_by(_roots.c.name))]


def get_api_root(conn: Connection, name: str) -> ApiRootRow | None:
    row = conn.execute(select(_roots).where(_roots.c.name == name)).first()
    return ApiRootRow(**row._mapping) if row else None


def ensure_api_root(conn: Connection, name: str, title: str, description: str | None, max_len: int) -> None:
    if get_api_root(conn, name) is None:
        conn.execute(insert(_roots).values(name=name, title=title, description=description,
                                           max_content_length=max_len))


def _collection(row: Row) -> CollectionRow:
    return CollectionRow(row.id, row.api_root, row.alias, row.title, row.description, row.public, row.default_group,
                         row.validation)


def list_collections(conn: Connection, api_root: str) -> list[CollectionRow]:
    query = select(_collections).where(_collections.c.api_root == api_root)
    return [_collection(r) for r in conn.execute(query.order_by(_collections.c.created_at, _collections.c.id))]


def get_collection(conn: Connection, api_root: str, collection_id: str) -> CollectionRow | None:
    row = conn.execute(
        select(_collections).where(_collections.c.api_root == api_root, _collections.c.id == collection_id)
    ).first()
    return _collection(row) if row else None


def find_collection(conn: Connection, id_or_alias: str, api_root: str | None = None) -> CollectionRow | None:
    """A collection by id, or by alias (within ``api_root`` when given)."""
    query = select(_collections).where(
        or_(_collections.c.id == id_or_alias, _collections.c.alias == id_or_alias)
    )
    if api_root is not None:
        query = query.where(_collections.c.api_root == api_root)
    rows = conn.execute(query).all()
    return _collection(rows[0]) if len(rows) == 1 else None


def title_holder(conn: Connection, api_root: str, title: str, other_than: str | None = None) -> str | None:
    """The id of a collection of ``api_root`` already titled ``title`` (compared without case), if any: XSOAR and
    OpenCTI pick a collection by its title, so two alike would make them sync the wrong one."""
    query = select(_collections.c.id).where(_collections.c.api_root == api_root,
                                            func.lower(_collections.c.title) == title.lower())
    if other_than is not None:
        query = query.where(_collections.c.id != other_than)
    return conn.execute(query.limit(1)).scalar()


def insert_collection(conn: Connection, row: CollectionRow, created_at: int) -> None:
    conn.execute(insert(_collections).values(
        id=row.id, api_root=row.api_root, alias=row.alias, title=row.title, description=row.description,
        public=row.public, default_group=row.default_group, validation=row.validation,
        created_at=created_at,
    ))


def grant_flags(
    conn: Connection, collection_ids: Iterable[str], subjects: Iterable[Subject]
) -> dict[str, tuple[bool, bool]]:
    """(can_read, can_write) per collection from every grant naming any of ``subjects``."""
    ids = list(collection_ids)
    matches = [and_(_grants.c.subject_kind == s.kind, _grants.c.subject == s.value) for s in subjects]
    flags = dict.fromkeys(ids, (False, False))
    if not ids or not matches:
        return flags
    rows = conn.execute(
        select(_grants.c.collection_id, _grants.c.can_read, _grants.c.can_write)
        .where(_grants.c.collection_id.in_(ids), or_(*matches))
    )
    for collection_id, can_read, can_write in rows:
        read, write = flags[collection_id]
        flags[collection_id] = (read or can_read, write or can_write)
    return flags


def set_grant(conn: Connection, collection_id: str, subject: Subject, can_read: bool, can_write: bool) -> None:
    """Create or replace the grant of ``subject`` on a collection."""
    where = and_(_grants.c.collection_id == collection_id, _grants.c.subject_kind == subject.kind,
                 _grants.c.subject == subject.value)
    if conn.execute(select(_grants.c.collection_id).where(where)).first():
        conn.execute(update(_grants).where(where).values(can_read=can_read, can_write=can_write))
    else:
        conn.execute(insert(_grants).values(collection_id=collection_id, subject_kind=subject.kind,
                                            subject=subject.value, can_read=can_read, can_write=can_write))
