"""The directory: participants' real identity objects, published by the exchange in the ``directory``
collection (TLP:GREEN, readable by every participant) so that producers can name recipients."""

from typing import Any

from sqlalchemy import Connection

from app.sharing.exchange import exchange_identity, publish
from app.stix.markings import TLP2_IDS, Tlp
from app.stix.timestamps import format_timestamp
from app.store.audience import Audience
from app.store.participants import ParticipantRow

DIRECTORY_ALIAS = "directory"


def identity_object(conn: Connection, participant: ParticipantRow, created_at: int,
                    modified_at: int | None = None) -> dict[str, Any]:
    created = format_timestamp(created_at // 1000 * 1000)
    modified = format_timestamp(modified_at // 1000 * 1000) if modified_at is not None else created
    identity: dict[str, Any] = {
        "type": "identity", "spec_version": "2.1", "id": participant.identity_id, "created": created,
        "modified": modified, "name": participant.name, "identity_class": "organization",
        "roles": [participant.kind], "created_by_ref": exchange_identity(conn)["id"],
        "object_marking_refs": [TLP2_IDS[Tlp.GREEN]],
    }
    if participant.sectors:
        identity["sectors"] = list(participant.sectors)
    return identity


def publish_identity(conn: Connection, directory_id: str, participant: ParticipantRow, created_at: int,
                     modified_at: int | None = None) -> None:
    """Publish the participant's identity object; with ``modified_at``, a new version of it (after a rename)."""
    publish(conn, directory_id, [identity_object(conn, participant, created_at, modified_at)], Audience(Tlp.GREEN))
