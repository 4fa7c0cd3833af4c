"""First start: the default API root, the shared collection, and an operator if there is nobody yet."""

from dataclasses import dataclass

from app.admin.collections import add_collection
from app.config import get_settings
from app.participants.keys import NewKey
from app.participants.registry import add_participant, issue_key
from app.store import collections as collection_store
from app.store.collections import Subject
from app.store.engine import write_transaction
from app.store.migrate import upgrade_to_head
from app.store.participants import count_participants


@dataclass(frozen=True)
class FirstOperator:
    slug: str
    key: NewKey


def bootstrap() -> FirstOperator | None:
    """Migrate, then create what an empty exchange needs. Returns the operator key if one was made."""
    upgrade_to_head()
    settings = get_settings()
    with write_transaction() as conn:
        collection_store.ensure_api_root(conn, settings.default_api_root, "AISX exchange",
                                         "Default API root of the AI Security Exchange.",
                                         settings.max_content_length)
        if collection_store.find_collection(conn, "shared", settings.default_api_root) is None:
            shared = add_collection(conn, "shared", "Shared exchange collection", settings.default_api_root,
                                    description="Read and write for every participant.")
            collection_store.set_grant(conn, shared.id, Subject("kind", "*"), True, True)
        if count_participants(conn):
            return None
        add_participant(conn, "admin", "Exchange operator", "operator")
        return FirstOperator("admin", issue_key(conn, "admin", label="bootstrap"))
