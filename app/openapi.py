"""The OpenAPI document: generated from the routes, then made a precise contract — the TAXII media types, every
response's schema and example, the TAXII error resource on every error, both security schemes, the query
filters and clean operation ids (they become the method names of generated SDKs; see docs/sdk.md).

A copy is kept at docs/openapi.json and a test fails when it drifts from the served one; refresh it with
``aisx openapi > docs/openapi.json``. (``app.main`` attaches ``build_openapi`` to the application; this module
never imports it.)"""

import copy
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.admin import schemas as admin
from app.taxii import schemas as taxii
from app.taxii.media import STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE

Access = Literal["public", "anonymous", "participant", "operator"]
_SCHEMA_MEDIA_TYPE = "application/schema+json"
_METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_METRICS_EXAMPLE = ("# HELP aisx_objects_accepted_total Object versions accepted by a POST, aisx ingest or upstream "
                    "mirroring.\n# TYPE aisx_objects_accepted_total counter\naisx_objects_accepted_total 1200.0\n")
_TAGS = {"TAXII 2.1": "taxii"}  # route tag → published tag (the module name in generated SDKs)


@dataclass(frozen=True)
class Operation:
    summary: str
    description: str
    access: Access
    errors: tuple[int, ...]
    response: type[BaseModel] | None  # None: the route's own (non-model) success response, see _SPECIAL
    status: int = 200
    many: bool = False
    filters: tuple[str, ...] = ()
    date_headers: bool = False
    body_example: dict[str, Any] | None = None


_ALL_FILTERS = ("added_after", "limit", "next", "match[id]", "match[type]", "match[version]",
                "match[spec_version]")
# Every TAXII request: 406 (Accept), 414 (query too long), 500; with credentials also 401 and 429.
_TAXII = (401, 406, 414, 429, 500)
_READ = (*_TAXII, 400, 403, 404)  # filters and `next` (400), read access (403/404)
_ADMIN = (401, 403, 414, 429, 500)
_ADMIN_BODY = (*_ADMIN, 400, 422)

OPERATIONS: dict[str, Operation] = {
    "get_discovery": Operation(
        "Server discovery", "The server and its API roots (TAXII 2.1 §4.1).", "participant", _TAXII, taxii.Discovery),
    "get_api_root": Operation(
        "API root information", "An API root: its versions and largest accepted request (TAXII 2.1 §4.2).",
        "participant", (*_TAXII, 404), taxii.ApiRootInfo),
    "get_status": Operation(
        "Status of an add-objects request",
        "Per-object outcome of an add-objects request; only the participant that made the request sees it "
        "(TAXII 2.1 §4.3).", "participant", (*_TAXII, 404), taxii.Status),
    "get_collections": Operation(
        "List collections", "The collections the caller may read or write in this API root (TAXII 2.1 §5.1).",
        "participant", (*_TAXII, 404), taxii.Collections),
    "get_collection": Operation(
        "Get a collection", "One collection, with the caller's access (TAXII 2.1 §5.2). Public collections "
        "answer anonymous callers too.", "anonymous", (*_TAXII, 404), taxii.CollectionResource),
    "get_manifest": Operation(
        "Get object manifests", "A page of manifest records: which object versions are in the collection and when "
        "they were added (TAXII 2.1 §5.3). Page with `next`.", "anonymous", _READ, taxii.Manifest,
        filters=_ALL_FILTERS, date_headers=True),
    "get_objects": Operation(
        "Get objects", "A page of the objects the caller may see, oldest added first (TAXII 2.1 §5.4). Page with "
        "`limit` and `next`: while `more` is true, repeat the request with the same filters and `next`.",
        "anonymous", _READ, taxii.Envelope, filters=_ALL_FILTERS, date_headers=True),
    "add_objects": Operation(
        "Add objects", "Post an envelope of STIX 2.1 objects, each with a TLP marking, as "
        f"`{TAXII_MEDIA_TYPE}`. Objects are judged one by one; the answer is a status resource (poll it with "
        "get_status) that says which were accepted (TAXII 2.1 §5.5).", "participant",
        (*_READ, 408, 413, 415, 422), taxii.Status, status=202, body_example=taxii.AddObjectsEnvelope.EXAMPLE),
    "get_object": Operation(
        "Get an object", "Versions of one object (by default its latest), paged like get_objects (TAXII 2.1 §5.6).",
        "anonymous", _READ, taxii.Envelope,
        filters=("added_after", "limit", "next", "match[version]", "match[spec_version]"), date_headers=True),
    "delete_object": Operation(
        "Delete an object", "Remove an object's versions (all, or those in `match[version]`) from the collection; "
        "only its creator may, and only with read and write access (TAXII 2.1 §5.7).", "participant",
        (*_TAXII, 400, 403, 404), taxii.Deleted, filters=("match[version]",)),
    "get_object_versions": Operation(
        "Get object versions", "The version timestamps of one object, oldest first, paged with `next` "
        "(TAXII 2.1 §5.8).", "anonymous", _READ, taxii.Versions,
        filters=("added_after", "limit", "next", "match[spec_version]"), date_headers=True),
    "list_participants": Operation(
        "List participants", "Every participant with its keys (never their secrets). Operator keys only.",
        "operator", _ADMIN, admin.ParticipantView, many=True),
    "add_participant": Operation(
        "Add a participant", "Admit a participant (a STIX identity and a pseudonym are created for it); issue it "
        "a key next. Operator keys only.", "operator", _ADMIN_BODY, admin.AdmittedParticipant, status=201,
        body_example={"slug": "lab-a", "name": "Frontier Lab A", "kind": "lab", "groups": ["frontier-labs"],
                      "sectors": ["technology"]}),
    "claim_identity": Operation(
        "Attach an identity id", "Attach a STIX identity id the participant already publishes under (its existing "
        "exports' `created_by_ref`): objects created by it are then accepted as the participant's, and identity "
        "objects others posted under it are withdrawn. Refused (422) if another participant or the exchange uses "
        "the id. Operator keys only.", "operator", (*_ADMIN_BODY, 404), admin.ParticipantView, status=201,
        body_example={"identity_id": "identity--4f2c9a1e-7b3d-4e8f-a6c5-2d1b0e9f8a7c"}),
    "release_identity": Operation(
        "Detach an identity id", "Detach an identity id attached with claim_identity: objects already stored stay "
        "the participant's; new objects created by it are refused. Operator keys only.", "operator",
        (*_ADMIN, 404), admin.ParticipantView),
    "issue_key": Operation(
        "Issue an API key", "A new key for a participant; the secret is in this answer only. With `expires` (a "
        "duration such as 90d or an RFC 3339 timestamp) it answers 401 from then on. Operator keys only.",
        "operator", (*_ADMIN_BODY, 404), admin.IssuedKey, status=201, body_example={"label": "ci", "expires": "90d"}),
    "suspend_participant": Operation(
        "Suspend a participant", "Every key of the participant is refused until it is reinstated. Operator keys "
        "only.", "operator", (*_ADMIN, 404), admin.ParticipantView),
    "reinstate_participant": Operation(
        "Reinstate a participant", "Undo a suspension. Operator keys only.", "operator", (*_ADMIN, 404),
        admin.ParticipantView),
    "revoke_key": Operation(
        "Revoke an API key", "The key is refused from now on, by every worker. Operator keys only.", "operator",
        (*_ADMIN, 404), admin.RevokedKey),
    "update_participant": Operation(
        "Change a participant", "Rename a participant and/or add and remove its groups (as `aisx participant "
        "update`); the groups count from its next request, for group grants and objects addressed to a group. "
        "Audited with the name and groups before and after. Operator keys only.", "operator",
        (*_ADMIN_BODY, 404), admin.ParticipantView,
        body_example={"add_groups": ["frontier-labs"], "remove_groups": ["observers"]}),
    "list_groups": Operation(
        "List groups", "Every group with its members (as `aisx group list`). Operator keys only.", "operator",
        _ADMIN, admin.GroupMembers, many=True),
    "list_keys": Operation(
        "List a participant's keys", "Its keys, oldest first, with when each was created, last used and expires, "
        "and its state; never a secret (as `aisx key list`). Operator keys only.", "operator", (*_ADMIN, 404),
        admin.KeySummary, many=True),
    "rotate_key": Operation(
        "Rotate an API key", "Issue a new key for the key's participant, with the same label; the secret is in this "
        "answer only. The old key keeps working for the grace period, then answers 401 (as `aisx key rotate`). "
        "Operator keys only.", "operator", (*_ADMIN_BODY, 404), admin.RotatedKey, status=201,
        body_example={"grace": "24h"}),
    "add_collection": Operation(
        "Add a collection", "Create a TAXII collection (as `aisx collection add`), holding the exchange's "
        "definitions already; grant access to it next. Refused (422) if its API root already has the alias or the "
        "title. Operator keys only.", "operator", (*_ADMIN_BODY, 404), admin.CreatedCollection, status=201,
        body_example={"alias": "intel", "title": "Shared intelligence", "default_group": "frontier-labs"}),
    "grant_access": Operation(
        "Grant access to a collection", "Set a subject's read and write access to a collection (as `aisx grant`); "
        "with neither flag the grant is withdrawn. Refused (409) for a feed: its access is the `[access]` table "
        "of its file. Operator keys only.", "operator", (*_ADMIN_BODY, 404, 409),
        admin.CollectionGrant, body_example={"subject": "group:frontier-labs", "read": True, "write": True}),
    "list_collections": Operation(
        "List collections", "Every collection of every API root (as `aisx collection list`): alias, title, "
        "strict or lenient, public, whether it is a feed, how many object versions participants put in it, and its "
        "grants. Operator keys only.", "operator", _ADMIN, admin.CollectionView, many=True),
    "update_collection": Operation(
        "Change a collection", "Change a collection's title, description or validation (as `aisx collection "
        "update`); only the properties given change. Refused (409) for a feed: its file defines it. Operator keys "
        "only.", "operator", (*_ADMIN_BODY, 404, 409), admin.CollectionView,
        body_example={"title": "Shared intelligence (2027)", "validation": "lenient"}),
    "remove_collection": Operation(
        "Remove a collection", "Remove a collection with its memberships, pending (embargoed) members and grants "
        "(as `aisx collection remove`). Every object stays in the exchange and in its other collections. Refused "
        "(409) while it holds objects unless `force=true`, for a feed (delete its file instead) and for the "
        "standard `shared` and `directory` collections. Operator keys only.", "operator",
        (*_ADMIN, 400, 404, 409), admin.RemovedCollection),
    "list_grants": Operation(
        "List a collection's grants", "Who may read and write a collection (as `aisx grant list`). Operator keys "
        "only.", "operator", (*_ADMIN, 404), admin.CollectionGrants),
    "revoke_grant": Operation(
        "Revoke a grant", "Remove a subject's grant on a collection (as `aisx grant SUBJECT COLLECTION --revoke`). "
        "Refused (409) for a feed: its `[access]` table decides. Operator keys only.", "operator",
        (*_ADMIN, 404, 409, 422), admin.RevokedGrant),
    "mint_audience_marking": Operation(
        "Mint an audience marking", "The exchange-audience marking-definition for a set of recipients and/or an "
        "embargo; reference it from objects to share them with those recipients only. Any participant.",
        "participant", (401, 414, 429, 500, 400, 422), admin.AudienceMarking, status=201,
        body_example={"recipient_groups": ["frontier-labs"], "embargo_until": "2026-12-01T00:00:00Z"}),
    "list_feeds": Operation(
        "List feeds", "Every feed with its selector and, for mirrors, the upstream's checkpoint, last success and "
        "last error. Operator keys only.", "operator", _ADMIN, admin.FeedState, many=True),
    "rebuild_feed": Operation(
        "Rebuild a feed", "Apply the feed files (the source of truth: a feed whose file is gone is removed, with its "
        "memberships; its objects stay), then recompute the feed from every stored object (as `aisx feed rebuild`); "
        "audited as `feed.rebuild`. 404 for a name that is no feed, 422 for a bad feed file. Operator keys only.",
        "operator", (*_ADMIN, 404, 422), admin.RebuiltFeed),
    "list_audit_events": Operation(
        "List audit events", "Audit events, newest first (order=oldest: oldest first), filtered by actor, action "
        "prefix, subject participant, collection and time. Operator keys only.", "operator",
        (*_ADMIN, 400, 404), admin.AuditEvent, many=True),
    "verify_audit_chain": Operation(
        "Verify the audit chain", "Check every audit record's hash and link to the one before, in chain order; "
        "`broken` names the first broken record (docs/audit.md). Operator keys only.", "operator", _ADMIN,
        admin.AuditVerification),
    "export_audit_chain": Operation(
        "Export the audit chain", "Audit records in chain order, a page at a time, with everything needed to "
        "check them offline (`aisx audit verify --file`). Operator keys only.", "operator", (*_ADMIN, 400),
        admin.AuditExport),
    "list_producer_reads": Operation(
        "Reads of a producer's AMBER/RED objects", "Who read a producer's AMBER and RED objects, per day, "
        "reader and object. Operator keys only.", "operator", (*_ADMIN, 400, 404), admin.ProducerReads),
    "list_my_reads": Operation(
        "Reads of my AMBER/RED objects", "Who read the caller's own AMBER and RED objects (also those it posted "
        "anonymously or under its pseudonym), per day, reader and object; its own reads are not counted. Any "
        "participant, about itself only.", "participant", (401, 414, 429, 500, 400), admin.ProducerReads),
    "jobs_status": Operation(
        "Background jobs status", "Which `aisx serve` instance leads (runs the background jobs: embargo release, "
        "upstream mirroring, ...) and the jobs it runs, as `aisx jobs status --json` prints them. Operator keys "
        "only.", "operator", _ADMIN, admin.JobsStatus),
    "get_schema": Operation(
        "Get an extension schema", "The JSON Schemas (draft 2020-12) of the STIX extensions this exchange "
        "defines and enforces, and of feed definitions. No credentials needed.", "public", (404, 414, 500), None),
    "get_metrics": Operation(
        "Prometheus metrics", "Metrics of every worker process of this server in the Prometheus text format "
        "0.0.4: requests by route template, method and status with latencies, objects accepted and rejected, "
        "sharing-rule refusals, authentication failures, rate-limit answers, upstream mirroring, database pool "
        "use (docs/deployment.md, Monitoring). Operator keys only; scrapers without a key use the listener of "
        "AISX_METRICS_ADDRESS.", "operator", _ADMIN, None),
    "get_health": Operation(
        "Health check", "The server is up and its database answers. No credentials needed.", "public", (414, 500),
        admin.Health),
}

# status → (title, when, example description)
_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("Bad Request", "Malformed request: a bad filter, `next`, parameter or body",
          "'limit' must be a positive integer, not '0'."),
    401: ("Unauthorized", "Missing, invalid, expired or revoked credentials (WWW-Authenticate says how to "
          "authenticate)",
          "Authentication required: send an API key as Authorization: Bearer <secret>, Token <secret> or Basic "
          "<key id>:<secret>."),
    403: ("Forbidden", "Authenticated, but not allowed", "You may read this collection but not add objects to it."),
    404: ("Not Found", "No such resource, or it is not visible to you",
          "No such collection, or you have no access to it."),
    406: ("Not Acceptable", f"Accept does not admit {TAXII_MEDIA_TYPE}",
          f"This endpoint answers only with {TAXII_MEDIA_TYPE}; send it in Accept."),
    408: ("Request Timeout", "The request body stalled", "The request body stalled for more than 30 s."),
    409: ("Conflict", "Refused because of what the target holds or is (a collection holding objects, a feed "
          "defined by its file)", "intel holds 12 object versions: remove it with --force (force=true in the "
          "admin API) to drop them from this collection; the objects stay in the exchange and in every other "
          "collection"),
    413: ("Payload Too Large", "The body is over the API root's max_content_length, or has too many objects",
          "The envelope has 20000 objects; at most 10000 are accepted per request."),
    414: ("URI Too Long", "The query string is too long", "The query string is longer than 8192 bytes."),
    415: ("Unsupported Media Type", f"Content-Type is neither {TAXII_MEDIA_TYPE} nor {STIX_MEDIA_TYPE}",
          f"POST a TAXII envelope as {TAXII_MEDIA_TYPE}, or a STIX bundle as {STIX_MEDIA_TYPE}, not "
          "application/json."),
    422: ("Unprocessable Content", "Well-formed but refused as a whole (nothing was stored)",
          "Every object must be a JSON object with a string 'id'; nothing was stored."),
    429: ("Too Many Requests", "Rate limited: the key is over its rate, or this address failed authentication too "
          "often (Retry-After says when to retry)", "This API key is over its request rate limit."),
    500: ("Internal Server Error", "The server failed; the error is logged (never a stack trace)",
          "The server failed to process this request; it has been logged."),
}
_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "The accepted schemes: Bearer, Token and Basic.",
                               "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}},
}

# query parameter → (description, schema, example)
_FILTERS: dict[str, tuple[str, dict[str, Any], str | int]] = {
    "added_after": ("Only objects added after this timestamp (RFC 3339 with a zone; fraction optional).",
                    {"type": "string", "format": "date-time"}, "2026-11-26T19:29:02.724179Z"),
    "limit": ("Page size (default 1000; larger values are clamped to the server's maximum, 10000 by default).",
              {"type": "integer", "minimum": 1}, 100),
    "next": ("The `next` of the previous page; send the same filters with it.", {"type": "string"},
             taxii.NEXT_EXAMPLE),
    "match[id]": ("STIX ids, comma-separated (ORed).", {"type": "string"}, taxii.STIX_EXAMPLE["id"]),
    "match[type]": ("STIX types, comma-separated (ORed).", {"type": "string"}, "indicator,attack-pattern"),
    "match[version]": ("`first`, `last` (the default), `all`, or version timestamps; comma-separated.",
                       {"type": "string"}, "all"),
    "match[spec_version]": ("STIX spec versions, comma-separated.", {"type": "string"}, "2.1"),
}
# path (and admin query) parameter, or operation id.parameter → (description, example)
_PARAMETERS: dict[str, tuple[str, str | int]] = {
    "api_root": ("The API root's name: the last segment of its URL in discovery.", "exchange"),
    "collection_id": ("The collection's id (a UUID), from get_collections.", taxii.COLLECTION_ID_EXAMPLE),
    "object_id": ("A STIX identifier.", taxii.STIX_EXAMPLE["id"]),
    "status_id": ("The `id` of the status resource add_objects answered with.", taxii.STATUS_ID_EXAMPLE),
    "slug": ("The participant's slug.", "lab-a"),
    "key_id": ("The key id (not the secret).", "aisx_k_68071ca4a885c8cf"),
    "identity_id": ("A STIX identity id attached to the participant.",
                    "identity--4f2c9a1e-7b3d-4e8f-a6c5-2d1b0e9f8a7c"),
    "collection": ("The collection's id or alias.", "intel"),
    "feed": ("The feed's alias or id.", "prompt-injection"),
    "name": ("A schema file name, as listed in the extension-definitions.", "ai-threat-context.schema.json"),
    "since": ("From this moment on: an RFC 3339 timestamp, or a duration back from now (24h, 7d).", "24h"),
    "until": ("Before this moment: an RFC 3339 timestamp, or a duration back from now.", "2026-11-27T00:00:00Z"),
    "actor": ("Only events by this participant (slug; `exchange`: by the exchange itself, e.g. the CLI).", "admin"),
    "participant": ("Only events about this participant (slug): the one admitted, suspended, given a key; the "
                    "poster of objects.", "lab-a"),
    "action": ("Only events whose action starts with this.", "participant."),
    "order": ("`newest` (the default) or `oldest` first.", "newest"),
    "after": ("The `next` of the previous page.", 1000),
    "producer": ("The producer's slug.", "lab-a"),
    "list_audit_events.collection": ("Only events about this collection (its id).",
                                     "5b0c1f7e-9a4d-4c3b-8e2f-1d6a7b8c9e0f"),
    "export_audit_chain.limit": ("The most records to return.", 1000),
    "list_producer_reads.limit": ("The most (day, reader, object) rows to return.", 1000),
    "list_my_reads.limit": ("The most (day, reader, object) rows to return.", 1000),
    "list_audit_events.limit": ("The most events to return.", 100),
    "force": ("Remove the collection even though it holds objects (they stay in the exchange).", "true"),
    "subject": ("The grant's subject: SLUG, group:NAME, kind:KIND or everyone.", "group:frontier-labs"),
}

_SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "AISX API key secret",
                   "description": "`Authorization: Bearer <secret>`, the secret of an API key (aisx_s_…)."},
    "basicAuth": {"type": "http", "scheme": "basic",
                  "description": "`Authorization: Basic <base64(key id:secret)>`: the key id (aisx_k_…) as the user "
                                 "name and its secret as the password (what TAXII clients such as taxii2-client "
                                 "send)."},
}
_AUTHENTICATED: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"basicAuth": []}]

_DESCRIPTION = f"""{{summary}}

**TAXII.** Requests under `/taxii2/` are TAXII 2.1: answers (errors included) are
`{TAXII_MEDIA_TYPE}`; send that media type (or nothing, or `*/*`) in `Accept`, and POST envelopes
with it as `Content-Type` (or a STIX bundle as `{STIX_MEDIA_TYPE}`). Lists are paged: while an answer
says `"more": true`, repeat the request with its `next`.

**Authentication.** An API key, as `Authorization: Bearer <secret>`, `Authorization: Token <secret>`, as Basic
with the key id as user name and the secret as password (scheme names in any case), or its secret alone in the
API-key header (`X-API-Key` unless the operator set `AISX_API_KEY_HEADER`). Public collections can be read
without credentials. `/admin/` is for operator keys, except minting audience markings.

**Errors.** Every error, on every path, is a TAXII error resource (`ErrorResource`) sent as
`{TAXII_MEDIA_TYPE}`, with `http_status` equal to the response status.

**SDKs.** Generate clients from this document: see docs/sdk.md."""

_TAG_DESCRIPTIONS = [
    {"name": "taxii", "description": "TAXII 2.1: discovery, API roots, collections, objects, manifests, "
                                     "versions, status."},
    {"name": "admin", "description": "Participants, keys, collections and grants, feeds and audit "
                                     "(operator keys); audience markings."},
    {"name": "participant", "description": "A participant about itself: who read its AMBER and RED objects."},
    {"name": "operations", "description": "Health and published schemas (no credentials needed); metrics "
                                          "(operator keys)."},
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _model_schemas() -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        *(op.response for op in OPERATIONS.values() if op.response is not None),
        taxii.AddObjectsEnvelope, taxii.ErrorResource,
        # read by the admin routes themselves
        admin.NewParticipant, admin.NewKey, admin.AudienceRequest, admin.ClaimedIdentity, admin.NewCollection,
        admin.NewGrant, admin.CollectionChange, admin.ParticipantUpdate, admin.KeyRotation,
    ]
    unique = list(dict.fromkeys(models))
    _, top = models_json_schema([(m, "validation") for m in unique], ref_template="#/components/schemas/{model}")
    return top["$defs"]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, routes=app.routes,
                           description=_DESCRIPTION.format(summary=app.description or ""))
    document["info"]["license"] = {"name": "Apache-2.0", "identifier": "Apache-2.0"}
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for fastapi_only in ("HTTPValidationError", "ValidationError"):  # its 422 never leaves: errors are TAXII ones
        schemas.pop(fastapi_only, None)
    schemas.update(_model_schemas())
    schemas["JsonSchema"] = {"type": "object", "additionalProperties": True, "title": "JsonSchema",
                             "description": "A JSON Schema (draft 2020-12) document."}
    _tighten_request_models(schemas)
    components["responses"] = {_error_name(status): _error(status) for status in sorted(_ERRORS)}
    components["securitySchemes"] = copy.deepcopy(_SECURITY_SCHEMES)
    document["security"] = copy.deepcopy(_AUTHENTICATED)
    document["tags"] = copy.deepcopy(_TAG_DESCRIPTIONS)
    for path, methods in document["paths"].items():
        for operation in methods.values():
            _complete(path, operation)
    app.openapi_schema = document
    return document


def _tighten_request_models(schemas: dict[str, Any]) -> None:
    """Request bodies come from the admin routes' own models; say what the server enforces beyond their types."""
    participant = schemas.get("NewParticipant", {}).get("properties", {})
    if "kind" in participant:
        participant["kind"] = {**_ref("ParticipantKind"), "description": "What the participant is."}
    if "slug" in participant:
        participant["slug"].update(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
                                   description="Lower-case letters, digits and '-'; unique.")


def _complete(path: str, operation: dict[str, Any]) -> None:
    operation["tags"] = [_TAGS.get(tag, tag) for tag in operation.get("tags", [])]
    spec = OPERATIONS.get(operation.get("operationId", ""))
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's validation error: the server answers 400 with an error resource
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        description, example = _PARAMETERS.get(f"{operation.get('operationId')}.{name}",
                                               _PARAMETERS.get(name, (None, None)))
        if description:
            parameter.update(description=description, example=example)
    if spec is None:  # a route the contract does not know yet: tests/test_openapi.py fails on it
        return
    operation["summary"] = spec.summary
    operation["description"] = spec.description
    media = TAXII_MEDIA_TYPE if path.startswith("/taxii2/") else "application/json"
    for code in [c for c in responses if c.startswith("2")]:
        del responses[code]
    responses[str(spec.status)] = _success(spec, media, operation["operationId"])
    for status in sorted(spec.errors):
        responses[str(status)] = {"$ref": f"#/components/responses/{_error_name(status)}"}
    if spec.access == "public":
        operation["security"] = []
    elif spec.access == "anonymous":
        operation["security"] = [*copy.deepcopy(_AUTHENTICATED), {}]  # public collections: no credentials needed
    else:
        operation["security"] = copy.deepcopy(_AUTHENTICATED)
    for name in spec.filters:
        description, schema, example = _FILTERS[name]
        operation.setdefault("parameters", []).append({"name": name, "in": "query", "required": False,
                                                       "description": description, "schema": dict(schema),
                                                       "example": example})
    if operation["operationId"] == "add_objects":
        operation["requestBody"] = {
            "required": True, "description": "A TAXII envelope; every object needs a TLP marking.",
            "content": {TAXII_MEDIA_TYPE: {"schema": _ref("AddObjectsEnvelope"), "example": spec.body_example}}}
    elif spec.body_example is not None and "requestBody" in operation:
        for content in operation["requestBody"]["content"].values():
            content["example"] = spec.body_example


def _success(spec: Operation, media: str, op_id: str) -> dict[str, Any]:
    if spec.response is None and op_id == "get_metrics":
        return {"description": "The metrics, in the Prometheus text format.", "content": {_METRICS_MEDIA_TYPE: {
            "schema": {"type": "string"}, "example": _METRICS_EXAMPLE}}}
    if spec.response is None:  # get_schema: a JSON Schema file
        assert op_id == "get_schema", f"{op_id} needs a response model"
        return {"description": "The JSON Schema.", "content": {_SCHEMA_MEDIA_TYPE: {"schema": _ref("JsonSchema")}}}
    doc = (spec.response.__doc__ or "OK").strip().splitlines()[0]
    schema = {"type": "array", "items": _ref(spec.response.__name__)} if spec.many else _ref(spec.response.__name__)
    response: dict[str, Any] = {"description": doc, "content": {media: {"schema": schema}}}
    if spec.date_headers:
        stamp = {"type": "string", "pattern": taxii.TAXII_TIMESTAMP}
        response["headers"] = {
            "X-TAXII-Date-Added-First": {"description": "date_added of the first item on this page (absent when "
                                                        "the page is empty).", "schema": stamp},
            "X-TAXII-Date-Added-Last": {"description": "date_added of the last item on this page; use it as "
                                                       "added_after to resume later.", "schema": dict(stamp)},
        }
    return response


def _error_name(status: int) -> str:
    """The shared response's name: the reason phrase in CamelCase (NotFound, TooManyRequests, …)."""
    return _ERRORS[status][0].replace(" ", "")


def _error(status: int) -> dict[str, Any]:
    title, when, example = _ERRORS[status]
    response: dict[str, Any] = {"description": when, "content": {TAXII_MEDIA_TYPE: {
        "schema": _ref("ErrorResource"),
        "example": {"title": title, "description": example, "http_status": str(status)}}}}
    if status in _ERROR_HEADERS:
        response["headers"] = copy.deepcopy(_ERROR_HEADERS[status])
    return response


def render(document: dict[str, Any]) -> str:
    """The document as kept in docs/openapi.json: sorted keys, two-space indents, a final newline."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
