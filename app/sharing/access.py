"""Who is calling, and collection-level access: can_read / can_write for a caller, from grants and the public
flag.

TAXII 2.1 §5 tables: a caller who can neither read nor write a collection is told it does not exist (404);
one who can do the other thing gets 403."""

from dataclasses import dataclass

from sqlalchemy import Connection

from app.errors import Forbidden, NotAuthenticated, NotFound
from app.store.collections import CollectionRow, Subject, grant_flags


def grant_subjects(slug: str, kind: str, groups: tuple[str, ...]) -> list[Subject]:
    """Every grant subject that names a participant."""
    return [Subject("participant", slug), Subject("kind", kind), Subject("kind", "*"),
            *(Subject("group", g) for g in groups)]


@dataclass(frozen=True)
class Caller:
    """An authenticated participant (``app.participants.auth`` resolves one from a key or certificate) and the
    key it used ("" for an operator acting for it)."""

    participant_id: int
    slug: str
    kind: str
    groups: tuple[str, ...]
    identity_id: str
    pseudonym_identity_id: str
    key_id: str

    @property
    def subjects(self) -> list[Subject]:
        """Every grant subject that names this caller."""
        return grant_subjects(self.slug, self.kind, self.groups)

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"


@dataclass(frozen=True)
class Access:
    can_read: bool
    can_write: bool

    @property
    def any(self) -> bool:
        return self.can_read or self.can_write


def access_map(conn: Connection, collections: list[CollectionRow], caller: Caller | None) -> dict[str, Access]:
    flags = grant_flags(conn, [c.id for c in collections], caller.subjects) if caller else {}
    result = {}
    for collection in collections:
        read, write = flags.get(collection.id, (False, False))
        result[collection.id] = Access(can_read=read or collection.public, can_write=write)
    return result


def access_for(conn: Connection, collection: CollectionRow, caller: Caller | None) -> Access:
    return access_map(conn, [collection], caller)[collection.id]


def require_read(access: Access, caller: Caller | None) -> None:
    if access.can_read:
        return
    if caller is None:
        raise NotAuthenticated()
    if access.can_write:
        raise Forbidden("You may add objects to this collection but not read it.")
    raise NotFound("No such collection, or you have no access to it.")


def require_write(access: Access, caller: Caller | None) -> None:
    if caller is None:
        raise NotAuthenticated()
    if access.can_write:
        return
    if access.can_read:
        raise Forbidden("You may read this collection but not add objects to it.")
    raise NotFound("No such collection, or you have no access to it.")


def require_delete(access: Access, caller: Caller | None) -> None:
    """TAXII 2.1 §5.7: (F,F) → 404; (T,F) or (F,T) → 403."""
    if caller is None:
        raise NotAuthenticated()
    if access.can_read and access.can_write:
        return
    if access.any:
        raise Forbidden("Deleting needs both read and write access to this collection.")
    raise NotFound("No such collection, or you have no access to it.")
