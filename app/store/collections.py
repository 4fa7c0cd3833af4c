"""API roots, collections and their grants."""

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Connection, Row, Select, and_, bindparam, delete, func, insert, or_, select, update

from app.store.models import (
    api_root_table,
    collection_table,
    grant_table,
    membership_table,
    upstream_state_table,
)

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


# Every TAXII request below discovery runs these two: built once (see ``app.store.participants._KEY_WITH_HOLDER``)
_API_ROOT = select(_roots).where(_roots.c.name == bindparam("name"))
_COLLECTION_OF_ROOT = select(_collections).where(_collections.c.api_root == bindparam("api_root"),
                                                 _collections.c.id == bindparam("collection_id"))


def get_api_root(conn: Connection, name: str) -> ApiRootRow | None:
    row = conn.execute(_API_ROOT, {"name": name}).first()
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
    row = conn.execute(_COLLECTION_OF_ROOT, {"api_root": api_root, "collection_id": collection_id}).first()
    return _collection(row) if row else None


# The API root and one of its collections in one statement: every request to a collection's endpoints asks for
# both (two statements before, each a round trip and a SQLAlchemy execution of its own)
_ROOT_AND_COLLECTION = (
    select(*[c.label(f"root_{c.name}") for c in _roots.c], *_collections.c)
    .select_from(_roots.outerjoin(_collections, and_(_collections.c.api_root == _roots.c.name,
                                                     _collections.c.id == bindparam("collection_id"))))
    .where(_roots.c.name == bindparam("api_root"))
)


def get_root_and_collection(conn: Connection, api_root: str, collection_id: str
                            ) -> tuple[ApiRootRow | None, CollectionRow | None]:
    """The API root ``api_root`` (None: there is none) and its collection ``collection_id`` (None: it has none)."""
    row = conn.execute(_ROOT_AND_COLLECTION, {"api_root": api_root, "collection_id": collection_id}).first()
    if row is None:
        return None, None
    root = ApiRootRow(row.root_name, row.root_title, row.root_description, row.root_max_content_length)
    return root, (_collection(row) if row.id is not None else None)


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
    ids, named = list(collection_ids), list(subjects)
    flags = dict.fromkeys(ids, (False, False))
    if not ids or not named:
        return flags
    params = {f"c{i}": collection_id for i, collection_id in enumerate(ids)}
    for i, subject in enumerate(named):
        params[f"k{i}"], params[f"s{i}"] = subject.kind, subject.value
    for collection_id, can_read, can_write in conn.execute(_grant_flags_statement(len(ids), len(named)), params):
        read, write = flags[collection_id]
        flags[collection_id] = (read or can_read, write or can_write)
    return flags


@lru_cache(maxsize=64)
def _grant_flags_statement(collections: int, subjects: int) -> Select:
    """The grants of ``collections`` collections naming any of ``subjects`` subjects, with a parameter each
    (c0…, k0…/s0…): built once per shape, not per caller. Built per request, SQLAlchemy walked the whole
    statement for its cache key on every access check: 9% of a server's samples on PostgreSQL (py-spy, the
    sharing-matrix, protocol and markings tests)."""
    matches = [and_(_grants.c.subject_kind == bindparam(f"k{i}"), _grants.c.subject == bindparam(f"s{i}"))
               for i in range(subjects)]
    return (select(_grants.c.collection_id, _grants.c.can_read, _grants.c.can_write)
            .where(_grants.c.collection_id.in_([bindparam(f"c{i}") for i in range(collections)]), or_(*matches)))


def set_grant(conn: Connection, collection_id: str, subject: Subject, can_read: bool, can_write: bool) -> None:
    """Create or replace the grant of ``subject`` on a collection."""
    where = and_(_grants.c.collection_id == collection_id, _grants.c.subject_kind == subject.kind,
                 _grants.c.subject == subject.value)
    if conn.execute(select(_grants.c.collection_id).where(where)).first():
        conn.execute(update(_grants).where(where).values(can_read=can_read, can_write=can_write))
    else:
        conn.execute(insert(_grants).values(collection_id=collection_id, subject_kind=subject.kind,
                                            subject=subject.value, can_read=can_read, can_write=can_write))


# ------------------------------------------------------------------ listing, changing and removing collections


@dataclass(frozen=True)
class GrantRow:
    subject_kind: str  # participant | group | kind
    subject: str
    can_read: bool
    can_write: bool


@dataclass(frozen=True)
class CollectionSummary:
    """A collection as the operator lists it: its row, its feed definition (JSON; None: not a feed), how many
    object versions participants put in it, and its grants."""

    row: CollectionRow
    feed: str | None
    objects: int
    grants: tuple[GrantRow, ...]


def collection_summaries(conn: Connection, collection_id: str | None = None) -> list[CollectionSummary]:
    """Every collection (or one), in API root then creation order. Three statements whatever the number of
    collections: the rows, one grouped count of memberships, the grants.

    ``objects`` counts the memberships of object versions a participant posted (mirrored ones included, pending
    embargoed ones included); the exchange's own objects (its identity, TLP and extension definitions, minted
    markings, the directory's identities) are left out: every collection holds them and they can be published
    again, so they never make a collection "hold objects"."""
    rows = select(_collections)
    counts = (select(membership_table.c.collection_id, func.count())
              .where(membership_table.c.producer_id.is_not(None)).group_by(membership_table.c.collection_id))
    grants = select(_grants).order_by(_grants.c.subject_kind, _grants.c.subject)
    if collection_id is not None:
        rows = rows.where(_collections.c.id == collection_id)
        counts = counts.where(membership_table.c.collection_id == collection_id)
        grants = grants.where(_grants.c.collection_id == collection_id)
    held: dict[str, int] = {cid: n for cid, n in conn.execute(counts)}
    by_collection: dict[str, list[GrantRow]] = {}
    for g in conn.execute(grants):
        by_collection.setdefault(g.collection_id, []).append(GrantRow(g.subject_kind, g.subject, g.can_read,
                                                                      g.can_write))
    return [CollectionSummary(_collection(r), r.feed, held.get(r.id, 0), tuple(by_collection.get(r.id, ())))
            for r in conn.execute(rows.order_by(_collections.c.api_root, _collections.c.created_at,
                                                _collections.c.id))]


def update_collection(conn: Connection, collection_id: str, values: dict[str, str | None]) -> None:
    """Set some of title, description and validation."""
    assert set(values) <= {"title", "description", "validation"}, values
    if values:
        conn.execute(update(_collections).where(_collections.c.id == collection_id).values(**values))


def delete_grant(conn: Connection, collection_id: str, subject: Subject) -> bool:
    """Remove ``subject``'s grant on a collection; False if it had none."""
    return conn.execute(delete(_grants).where(
        _grants.c.collection_id == collection_id, _grants.c.subject_kind == subject.kind,
        _grants.c.subject == subject.value)).rowcount > 0


@dataclass(frozen=True)
class Removed:
    memberships: int  # object versions that were members (the exchange's own included)
    pending: int  # of which pending (embargoed, not yet released)
    grants: int


def delete_collection(conn: Connection, collection_id: str) -> Removed:
    """Remove a collection with its memberships (pending ones included), grants and mirroring checkpoint. The
    object versions stay in the exchange (``stix_object``, with their owners, audiences and memberships of other
    collections): only this collection's hold on them goes. Set-based: one DELETE per table."""
    members = membership_table
    pending = conn.execute(select(func.count()).select_from(members).where(
        members.c.collection_id == collection_id, members.c.release_at.is_not(None))).scalar_one()
    dropped = conn.execute(delete(members).where(members.c.collection_id == collection_id)).rowcount
    grants = conn.execute(delete(_grants).where(_grants.c.collection_id == collection_id)).rowcount
    conn.execute(delete(upstream_state_table).where(upstream_state_table.c.feed_id == collection_id))
    conn.execute(delete(_collections).where(_collections.c.id == collection_id))
    return Removed(dropped, pending, grants)
