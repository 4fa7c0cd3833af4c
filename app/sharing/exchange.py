"""What the exchange itself publishes, as its own producer (``producer_id`` NULL): its identity, the standard
TLP definitions, the exchange-audience extension-definition, and audience markings minted on request."""

import hashlib
import uuid
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from app.sharing.rules import Audience, Directory
from app.stix.ai import extension_definitions, index_columns, index_terms
from app.stix.checks import ObjectRejected, check_object
from app.stix.markings import AUDIENCE_EXTENSION_ID, TLP2_IDS, AudienceSpec, Tlp, tlp1_definitions, tlp2_definitions
from app.stix.timestamps import format_timestamp
from app.store import objects as object_store
from app.store.engine import now_us
from app.store.models import ExchangeMeta
from app.store.objects import Candidate

_meta = ExchangeMeta.__table__
_IDENTITY_KEY = "exchange_identity"
# Fixed namespace for minted audience markings: identical recipient sets give identical ids.
_AUDIENCE_NAMESPACE = uuid.UUID("6a1f1d2c-9a0e-4f6b-8b7e-5a3c2d1e0f19")
_EPOCH_OF_DEFINITIONS = "2026-11-26T00:00:00.000Z"
AUDIENCE_SCHEMA_PATH = "/schemas/exchange-audience.schema.json"


def exchange_identity(conn: Connection) -> dict[str, Any]:
    """The exchange's own STIX identity, created once and then fixed."""
    raw = conn.execute(select(_meta.c.value).where(_meta.c.key == _IDENTITY_KEY)).scalar()
    if raw is not None:
        return orjson.loads(raw)
    created = format_timestamp(now_us() // 1000 * 1000)
    identity = {
        "type": "identity", "spec_version": "2.1", "id": f"identity--{uuid.uuid4()}", "created": created,
        "modified": created, "name": "AISX — AI Security Exchange", "identity_class": "system",
        "description": "The exchange itself: publisher of its directory, definitions and audience markings.",
        "object_marking_refs": [TLP2_IDS[Tlp.CLEAR]],
    }
    conn.execute(insert(_meta).values(key=_IDENTITY_KEY, value=orjson.dumps(identity).decode()))
    return identity


def audience_extension_definition(exchange_id: str) -> dict[str, Any]:
    return {
        "type": "extension-definition", "spec_version": "2.1", "id": AUDIENCE_EXTENSION_ID,
        "created_by_ref": exchange_id, "created": _EPOCH_OF_DEFINITIONS, "modified": _EPOCH_OF_DEFINITIONS,
        "name": "AISX exchange audience",
        "description": "Names the recipients (participant identities or exchange groups) of objects that "
                       "reference this marking, and optionally an embargo; recipients only narrow the TLP.",
        "schema": f"JSON Schema served by the exchange at {AUDIENCE_SCHEMA_PATH}",
        "version": "1.0.0", "extension_types": ["property-extension"],
        "object_marking_refs": [TLP2_IDS[Tlp.CLEAR]],
    }


def definitions(conn: Connection) -> list[dict[str, Any]]:
    """What every collection serves to everyone who can read it."""
    identity = exchange_identity(conn)
    return [identity, *tlp2_definitions(), *tlp1_definitions(), audience_extension_definition(identity["id"]),
            *extension_definitions(identity["id"])]


def publish(conn: Connection, collection_id: str | None, objects: list[dict[str, Any]], audience: Audience) -> None:
    """Store ``objects`` as the exchange's own (idempotent) and make them members of the collection, if any."""
    candidates = []
    for obj in objects:
        item = check_object(obj)
        candidates.append(Candidate(item.stix_id, item.type, item.spec_version, item.version, item.content_hash,
                                    item.raw, item.is_sco, audience, index_columns(obj), tuple(index_terms(obj))))
    outcomes = object_store.add_objects(conn, collection_id, None, candidates, now_us())
    errors = [o.error for o in outcomes if o.error]
    if errors:
        raise RuntimeError(f"publishing exchange objects failed: {errors[0]}")


def publish_definitions(conn: Connection, collection_id: str) -> None:
    publish(conn, collection_id, definitions(conn), Audience(Tlp.CLEAR))


def mint_audience_marking(conn: Connection, spec: AudienceSpec, people: Directory) -> dict[str, Any]:
    """The exchange-audience marking-definition for ``spec``, created by the exchange (so it names no
    producer) with an id derived from the recipient set: identical sets always get the same marking."""
    unknown = [i for i in spec.identities if i not in people.identities]
    missing = [g for g in spec.groups if g not in people.groups]
    if unknown or missing:
        raise ObjectRejected(f"unknown recipients: {', '.join(unknown + missing)}")
    body: dict[str, Any] = {"extension_type": "property-extension"}
    if spec.identities:
        body["recipient_identities"] = list(spec.identities)
    if spec.groups:
        body["recipient_groups"] = list(spec.groups)
    if spec.embargo_until is not None:
        body["embargo_until"] = format_timestamp(spec.embargo_until)
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    marking_id = f"marking-definition--{uuid.uuid5(_AUDIENCE_NAMESPACE, hashlib.sha256(canonical).hexdigest())}"
    return {
        "type": "marking-definition", "spec_version": "2.1", "id": marking_id, "created": _EPOCH_OF_DEFINITIONS,
        "created_by_ref": exchange_identity(conn)["id"], "name": "exchange-audience",
        "extensions": {AUDIENCE_EXTENSION_ID: body},
    }
