"""TAXII 2.1 resources as pydantic models: the contract published in /openapi.json. The routes answer with
bytes assembled around stored objects (never re-serialising them), so these models document; they do not
sit on the hot path.

TAXII leaves an absent optional property out rather than sending `null`, so in the published schemas an
optional property is optional, never nullable (see :func:`_finish`)."""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.stix.markings import TLP2_IDS, Tlp
from app.taxii.media import STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE

TAXII_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"
UUID4 = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"

STIX_EXAMPLE: dict[str, Any] = {
    "type": "indicator", "spec_version": "2.1", "id": "indicator--b08e85d9-bb9c-4343-82af-7e0adddba00e",
    "created": "2026-02-03T14:22:05.000Z", "modified": "2026-02-03T14:22:05.000Z",
    "name": "Prompt-injection marker in retrieved web content", "pattern_type": "stix",
    "pattern": "[url:value = 'https://evil.example/inject']", "valid_from": "2026-02-03T14:22:05Z",
    "object_marking_refs": [TLP2_IDS[Tlp.GREEN]],
}
COLLECTION_ID_EXAMPLE = "d26a95e7-fd96-4f34-a36a-a40dbd7ac542"
STATUS_ID_EXAMPLE = "a12b0207-9b62-49f6-8df4-ea627061cd1a"
NEXT_EXAMPLE = "MS4xNzY0MTg1MzQyNzI0MTc5LjEyMzQuM2Y5YzBhMWJlMjdkNGM1OA"


def _finish(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Optional properties are omitted, never null; no property titles; `EXAMPLE` becomes the example."""
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        prop.pop("title", None)  # "Collection Id" for collection_id says nothing: generated SDKs repeat it
        variants = prop.get("anyOf")
        if name in required or not variants or {"type": "null"} not in variants:
            continue
        rest = [v for v in variants if v != {"type": "null"}]
        del prop["anyOf"]
        if len(rest) == 1:
            prop.update(rest[0])
        else:
            prop["anyOf"] = rest
        if "default" in prop and prop["default"] is None:
            del prop["default"]
    example = getattr(model, "EXAMPLE", None)
    if example is not None:
        schema["examples"] = [example]


class ContractModel(BaseModel):
    """Base of every published model: set `EXAMPLE` for the schema's example."""

    model_config = ConfigDict(json_schema_extra=_finish)
    EXAMPLE: ClassVar[dict[str, Any] | None] = None


class StixObject(ContractModel):
    """A STIX 2.1 object: any properties beyond `type` and `id` are kept and returned exactly as posted.
    The exchange requires a TLP 2.0 marking on every object (`object_marking_refs`)."""

    model_config = ConfigDict(extra="allow")
    EXAMPLE: ClassVar[dict[str, Any]] = STIX_EXAMPLE
    type: str = Field(description="STIX type, e.g. indicator, attack-pattern, x-ai-prompt.")
    id: str = Field(description="STIX identifier, `<type>--<UUID>`.")
    spec_version: str | None = Field(None, description="`2.1` (required by STIX for everything but 2.0 content).")


class Discovery(ContractModel):
    """TAXII 2.1 §4.1.1: the server and its API roots."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "title": "AISX — AI Security Exchange",
        "description": "TAXII 2.1 exchange for AI-related cyber threat intelligence.",
        "contact": "operators@aisx.invalid", "default": "/taxii2/exchange/", "api_roots": ["/taxii2/exchange/"]}
    title: str
    description: str
    contact: str
    default: str | None = Field(None, description="The default API root's URL (present when it exists).")
    api_roots: list[str] | None = Field(None, description="API root URLs; omitted when there are none.")


class ApiRootInfo(ContractModel):
    """TAXII 2.1 §4.2.1: an API root."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "title": "AISX exchange", "versions": [TAXII_MEDIA_TYPE],
        "max_content_length": 10485760}
    title: str
    description: str | None = None
    versions: list[str] = Field(description=f"Always `{TAXII_MEDIA_TYPE}`.")
    max_content_length: int = Field(gt=0, description="Largest request body this API root accepts, bytes.")


class CollectionResource(ContractModel):
    """TAXII 2.1 §5.2.1: a collection; `can_read` / `can_write` are computed for the caller."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": COLLECTION_ID_EXAMPLE, "title": "Shared exchange collection", "alias": "shared",
        "can_read": True, "can_write": True, "media_types": [STIX_MEDIA_TYPE]}
    id: str = Field(pattern=UUID4, description="UUIDv4")
    title: str
    description: str | None = None
    alias: str | None = None
    can_read: bool
    can_write: bool
    media_types: list[str] = Field(description=f"Always `{STIX_MEDIA_TYPE}`.")


class Collections(ContractModel):
    """TAXII 2.1 §5.1.1: the collections the caller may see; `collections` is omitted when there are none."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"collections": [CollectionResource.EXAMPLE]}
    collections: list[CollectionResource] | None = None


class Envelope(ContractModel):
    """TAXII 2.1 §3.7: a page of STIX objects. `next` is present when `more` is true: send it back as the
    `next` parameter, with the same filters, for the following page."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"more": True, "next": NEXT_EXAMPLE, "objects": [STIX_EXAMPLE]}
    more: bool = Field(description="True when more objects match than this page holds.")
    next: str | None = Field(None, description="Opaque; send it back as the `next` parameter with the same filters.")
    objects: list[StixObject] | None = Field(
        None, description="STIX 2.1 objects, exactly as posted; omitted when the page is empty.")


class AddObjectsEnvelope(ContractModel):
    """TAXII 2.1 §5.5: the envelope to POST; every object needs a TLP marking (TLP 2.0 marking-definition id in
    `object_marking_refs`). Objects are judged one by one: the status resource says which were accepted."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"objects": [STIX_EXAMPLE]}
    objects: list[StixObject] = Field(min_length=1)


class ManifestRecord(ContractModel):
    """TAXII 2.1 §5.3.1: one object version's manifest entry."""

    id: str = Field(description="STIX identifier")
    date_added: str = Field(pattern=TAXII_TIMESTAMP, description="When this version was added (UTC, microseconds).")
    version: str = Field(pattern=TAXII_TIMESTAMP, description="The object's `modified` (or `created`), normalised.")
    media_type: str = Field(description=f"Always `{STIX_MEDIA_TYPE}`.")


class Manifest(ContractModel):
    """TAXII 2.1 §5.3.1: a page of manifest records, paged like an envelope."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "more": False, "objects": [{
            "id": STIX_EXAMPLE["id"], "date_added": "2026-11-26T19:29:02.724179Z",
            "version": "2026-02-03T14:22:05.000000Z", "media_type": STIX_MEDIA_TYPE}]}
    more: bool
    next: str | None = None
    objects: list[ManifestRecord] | None = None


class Versions(ContractModel):
    """TAXII 2.1 §5.8.1: a page of an object's version timestamps, oldest first, paged like an envelope."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "more": False, "versions": ["2026-02-03T14:22:05.000000Z", "2026-02-04T09:00:00.000000Z"]}
    more: bool
    next: str | None = None
    versions: list[Annotated[str, Field(pattern=TAXII_TIMESTAMP)]] | None = Field(
        None, description="Version timestamps (UTC, microseconds); use them in `match[version]`.")


class StatusDetail(ContractModel):
    """One object's outcome; `message` says why it failed (or carries warnings for an accepted one)."""

    id: str
    version: str = Field(description="The version the request claimed for the object (its `modified`).")
    message: str | None = None


class Status(ContractModel):
    """TAXII 2.1 §4.3.1: the outcome of an add-objects request, per object. Lists are omitted when empty."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": STATUS_ID_EXAMPLE, "status": "complete",
        "request_timestamp": "2026-11-26T19:29:02.723740Z", "total_count": 2, "success_count": 1,
        "successes": [{"id": STIX_EXAMPLE["id"], "version": "2026-02-03T14:22:05.000Z"}],
        "failure_count": 1, "failures": [{"id": "indicator--0a2c7c7e-6d8f-4b53-9f0e-0a6a4c0d1b2e",
                                          "version": "2026-02-03T14:22:05.000Z",
                                          "message": "no TLP marking: add a TLP 2.0 marking-definition id …"}],
        "pending_count": 0}
    id: str = Field(pattern=UUID4, description="Poll it at /taxii2/{api_root}/status/{status_id}/.")
    status: Literal["complete", "pending"]
    request_timestamp: str = Field(pattern=TAXII_TIMESTAMP)
    total_count: int = Field(ge=0)
    success_count: int = Field(ge=0)
    successes: list[StatusDetail] | None = None
    failure_count: int = Field(ge=0)
    failures: list[StatusDetail] | None = None
    pending_count: int = Field(ge=0)
    pendings: list[StatusDetail] | None = None


class Deleted(ContractModel):
    """An empty object: the matching versions were removed from the collection (TAXII 2.1 §5.7)."""

    model_config = ConfigDict(extra="forbid")
    EXAMPLE: ClassVar[dict[str, Any]] = {}


class ErrorResource(ContractModel):
    """TAXII 2.1 §3.6: every error, on every path, is one of these (never a stack trace), sent as
    `application/taxii+json;version=2.1`; `http_status` always equals the response status."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "title": "Not Found", "description": "No such collection, or you have no access to it.",
        "http_status": "404"}
    title: str = Field(description="The HTTP reason phrase, e.g. Not Found.")
    description: str = Field(description="What went wrong and, where it helps, what to do instead.")
    http_status: str = Field(pattern=r"^[1-5][0-9]{2}$")
    details: dict[str, Any] | None = Field(
        None, description="Machine-readable specifics, e.g. `problems` (400), `max_content_length` (413).")
