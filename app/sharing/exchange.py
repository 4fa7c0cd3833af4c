"""What the exchange itself publishes, as its own producer (``producer_id`` NULL): its identity, the standard
TLP definitions, the extension-definitions of its extensions (exchange audience, AI threat context, AI
observables), and audience markings minted on request. (The JSON Schemas those extension-definitions point at
are files the product ships, ``app.shipped``, served at /schemas/.)

It also decides which ids are the exchange's alone: every id it interprets or publishes (``reserved_objects``),
and every audience marking it mints, whose id is a keyed HMAC of the marking's body (issue 12: an id derived
from the body alone could be computed, and squatted, by any participant before the exchange minted it)."""

import hashlib
import hmac
import secrets
import uuid
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from app.sharing.rules import Directory
from app.stix.ai import (
    AI_OBSERVABLES_EXTENSION_ID,
    AI_OBSERVABLES_SCHEMA,
    AI_THREAT_EXTENSION_ID,
    AI_THREAT_SCHEMA,
)
from app.stix.checks import ObjectRejected, check_object
from app.stix.markings import (
    AUDIENCE_EXTENSION_ID,
    OPENCTI_AMBER_STRICT_ID,
    TLP2_CREATOR_ID,
    TLP2_IDS,
    AudienceSpec,
    Tlp,
    tlp1_definitions,
    tlp2_definitions,
)
from app.stix.timestamps import format_timestamp
from app.store import objects as object_store
from app.store.audience import Audience
from app.store.engine import now_us
from app.store.models import exchange_meta_table
from app.store.objects import Candidate

_meta = exchange_meta_table
_IDENTITY_KEY = "exchange_identity"
_MINT_KEY = "audience_mint_key"  # 256 random bits, hex: the HMAC key of minted audience marking ids
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


def ai_extension_definitions(exchange_id: str) -> list[dict[str, Any]]:
    """The extension-definitions of the two AI extensions (``app.stix.ai``)."""
    common = {"type": "extension-definition", "spec_version": "2.1", "created_by_ref": exchange_id,
              "created": _EPOCH_OF_DEFINITIONS, "modified": _EPOCH_OF_DEFINITIONS, "version": "1.0.0",
              "object_marking_refs": [TLP2_IDS[Tlp.CLEAR]]}
    return [
        {**common, "id": AI_THREAT_EXTENSION_ID, "name": "AI Threat Context",
         "description": "Nested property extension adding AI threat context to SDOs and sightings: "
                        "threat_category, ai_system_kinds, affected_model_families, atlas_technique_ids with "
                        "atlas_version, edition-qualified OWASP LLM / Agentic ids, modalities, harm_categories, "
                        "maturity (ATLAS vocabulary) and confidence_rationale.",
         "schema": f"JSON Schema (draft 2020-12) served by the exchange at /schemas/{AI_THREAT_SCHEMA}",
         "extension_types": ["property-extension"]},
        {**common, "id": AI_OBSERVABLES_EXTENSION_ID, "name": "AI Observables",
         "description": "Defines the 'ai-prompt' SCO (compatible superset of the community ai-prompt: value, "
                        "models, plus hashes, normalized_sha256, value_disclosure, prompt_role, language; the id "
                        "is derived from hashes.SHA-256 only) and a property extension on 'file' for serialized "
                        "model artifacts (model_format, hub_uri, hub_revision, base_model, embedded_code, "
                        "unsafe_imports).",
         "schema": f"JSON Schema (draft 2020-12) served by the exchange at /schemas/{AI_OBSERVABLES_SCHEMA}",
         "extension_types": ["new-sco", "property-extension"]},
    ]


def definitions(conn: Connection) -> list[dict[str, Any]]:
    """What every collection serves to everyone who can read it."""
    return _definitions_of(exchange_identity(conn))


def _definitions_of(identity: dict[str, Any]) -> list[dict[str, Any]]:
    return [identity, *tlp2_definitions(), *tlp1_definitions(), audience_extension_definition(identity["id"]),
            *ai_extension_definitions(identity["id"])]


# Ids the exchange interprets but serves no object for: nobody may post under them.
_RESERVED_WITHOUT_COPY = {
    OPENCTI_AMBER_STRICT_ID: "OpenCTI's AMBER+STRICT marking, which the exchange reads as TLP:AMBER+STRICT",
    TLP2_CREATOR_ID: "the identity that created the TLP 2.0 definitions",
}


def reserved_objects(conn: Connection) -> dict[str, str | None]:
    """Every id the exchange gives meaning to → the content hash of the one copy a participant may post (the
    exchange's own, which TAXII clients re-post when they mirror a collection), or None when none may be."""
    return {**dict.fromkeys(_RESERVED_WITHOUT_COPY), **_definition_hashes(orjson.dumps(exchange_identity(conn)))}


def reserved_reason(stix_id: str) -> str:
    return _RESERVED_WITHOUT_COPY.get(stix_id, "one of the exchange's own objects (its identity or a definition)")


@cache
def _definition_hashes(identity: bytes) -> dict[str, str]:
    """Content hashes of the definitions, per exchange identity (fixed once created: computed once)."""
    return {obj["id"]: check_object(obj).content_hash for obj in _definitions_of(orjson.loads(identity))}


def publish(conn: Connection, collection_id: str | None, objects: list[dict[str, Any]], audience: Audience) -> None:
    """Store ``objects`` as the exchange's own (idempotent) and make them members of the collection, if any.

    The exchange's copy always wins: copies participants stored earlier under the same ids (an identity object
    posted under the id an organisation is then admitted with) are withdrawn from every collection, and only
    the exchange may add versions from then on."""
    object_store.withdraw_participant_copies(conn, [obj["id"] for obj in objects])
    candidates = [Candidate.of(check_object(obj), audience) for obj in objects]
    outcomes = object_store.add_objects(conn, collection_id, None, candidates, now_us())
    errors = [o.error for o in outcomes if o.error]
    if errors:
        raise RuntimeError(f"publishing exchange objects failed: {errors[0]}")


def publish_definitions(conn: Connection, collection_id: str) -> None:
    publish(conn, collection_id, definitions(conn), Audience(Tlp.CLEAR))


def mint_key(conn: Connection, *, create: bool) -> bytes | None:
    """The exchange's secret for minting audience marking ids (made on first start; None before, on reads)."""
    raw = conn.execute(select(_meta.c.value).where(_meta.c.key == _MINT_KEY)).scalar()
    if raw is None and create:
        raw = secrets.token_hex(32)
        conn.execute(insert(_meta).values(key=_MINT_KEY, value=raw))
    return bytes.fromhex(raw) if raw is not None else None


def minted_id(key: bytes, body: dict[str, Any]) -> str:
    """HMAC-SHA-256 of the canonical body, as a UUIDv4-shaped id: the same audience always gets the same id on
    this exchange, and no participant can compute it (122 keyed bits) before the exchange hands it out."""
    digest = hmac.new(key, orjson.dumps(body, option=orjson.OPT_SORT_KEYS), hashlib.sha256).digest()
    return f"marking-definition--{uuid.UUID(bytes=digest[:16], version=4)}"


def is_minted(key: bytes | None, marking: dict[str, Any]) -> bool:
    """Whether a marking-definition the exchange holds is one it minted with its current key (not, e.g., one
    minted before issue 12 under a computable id)."""
    body = (marking.get("extensions") or {}).get(AUDIENCE_EXTENSION_ID)
    return (key is not None and isinstance(body, dict)
            and hmac.compare_digest(minted_id(key, body), str(marking.get("id"))))


def mint_audience_marking(conn: Connection, spec: AudienceSpec, people: Directory) -> dict[str, Any]:
    """The exchange-audience marking-definition for ``spec``, created by the exchange (so it names no
    producer) with a keyed id derived from the recipient set: identical sets always get the same marking."""
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
    key = mint_key(conn, create=True)
    assert key is not None
    return {
        "type": "marking-definition", "spec_version": "2.1", "id": minted_id(key, body),
        "created": _EPOCH_OF_DEFINITIONS, "created_by_ref": exchange_identity(conn)["id"], "name": "exchange-audience",
        "extensions": {AUDIENCE_EXTENSION_ID: body},
    }
