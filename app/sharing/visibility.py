"""The one visibility predicate: which stored object versions a reader may see.

Every read path (objects, an object, versions, manifest, match[id], pagination headers) filters its rows with
``visible_to(reader)`` and nothing else, so a sharing rule lives here and only here. It is SQL over the
membership row ``m`` and the object row ``o`` of ``app.store.objects``."""

from sqlalchemy import ColumnElement, true

from app.participants.auth import Caller


def visible_to(reader: Caller | None) -> ColumnElement[bool]:
    """Collection-level access is checked before any row is read; object-level rules add to this clause."""
    return true()
