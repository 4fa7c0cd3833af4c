"""Request bodies and response models of the admin API and the operations endpoints, for the OpenAPI contract.
Unlike TAXII
resources, admin answers always carry every property, with `null` where there is no value (`keys` is the
exception: only the participant list includes it)."""

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from app.stix.markings import AUDIENCE_EXTENSION_ID
from app.taxii.schemas import TAXII_TIMESTAMP, ContractModel

_IDENTITY = "identity--8d1b2c4e-3f5a-4b6c-9d7e-0f1a2b3c4d5e"
_PSEUDONYM = "identity--0c9e6a1f-52b4-4e8d-a3c7-6b2f1d9e8a70"
_CLAIMED = "identity--4f2c9a1e-7b3d-4e8f-a6c5-2d1b0e9f8a7c"


# ------------------------------------------------------------------ request bodies (read by app.admin.api._body)


class _Request(BaseModel):
    """Request bodies: no string may hold a NUL (nothing legitimate does; PostgreSQL text cannot store one)."""

    @model_validator(mode="after")
    def _no_nul(self) -> "_Request":
        for name, value in self:
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and "\x00" in v for v in values):
                raise ValueError(f"{name} must not contain NUL characters")
        return self


class NewParticipant(_Request):
    slug: str = Field(examples=["lab-a"])
    name: str = Field(examples=["Frontier Lab A"])
    kind: str = Field(examples=["lab"], description="lab, agency, vendor or operator")
    groups: list[str] = Field(default_factory=list)
    sectors: list[str] = Field(default_factory=list)
    identity_id: str | None = Field(default=None, description="An existing STIX identity id to adopt.")
    claimed_identity_ids: list[str] = Field(
        default_factory=list, description="Other STIX identity ids the organisation already publishes under: "
        "objects they created are accepted as the participant's.")


class ClaimedIdentity(_Request):
    identity_id: str = Field(examples=["identity--4f2c9a1e-7b3d-4e8f-a6c5-2d1b0e9f8a7c"],
                             description="A STIX identity id the participant already publishes under.")


class NewKey(_Request):
    label: str | None = None


class NewCollection(_Request):
    """The options of ``aisx collection add``."""

    alias: str = Field(examples=["intel"], description="Lower-case letters, digits, '-' and '_'; unique in its API "
                       "root.")
    title: str = Field(examples=["Shared intelligence"], description="Unique in its API root: TAXII clients such "
                       "as XSOAR and OpenCTI select collections by title.")
    description: str | None = Field(default=None, description="What the collection holds.")
    api_root: str | None = Field(default=None, description="The API root (default: the exchange's).")
    public: bool = Field(default=False, description="Readable without credentials (TLP:CLEAR only).")
    default_group: str | None = Field(default=None, description="The group AMBER objects posted without "
                                      "recipients are shared with (frozen per object); not for public collections.")
    lenient: bool = Field(default=False, description="Accept objects that break a STIX MUST, recording warnings "
                          "(default: strict, reject them).")


class NewGrant(_Request):
    subject: str = Field(examples=["group:frontier-labs"],
                         description="A participant slug, group:NAME, kind:KIND or everyone.")
    read: bool = Field(default=False, description="May read objects.")
    write: bool = Field(default=False, description="May add objects. With neither flag the grant is withdrawn.")


class AudienceRequest(_Request):
    recipient_identities: list[str] = Field(default_factory=list)
    recipient_groups: list[str] = Field(default_factory=list)
    embargo_until: str | None = Field(default=None, examples=["2026-12-01T00:00:00Z"])


# ------------------------------------------------------------------ answers


class ParticipantKind(StrEnum):  # the values of app.participants.registry.KINDS (tests/test_openapi.py checks)
    """What a participant is; operators administer the exchange."""

    LAB = "lab"
    AGENCY = "agency"
    VENDOR = "vendor"
    OPERATOR = "operator"


class KeySummary(ContractModel):
    """An API key, without its secret."""

    key_id: str
    label: str | None
    revoked: bool


class ParticipantView(ContractModel):
    """A participant as operators see it."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "slug": "lab-a", "id": 3, "name": "Frontier Lab A", "kind": "lab", "groups": ["frontier-labs"],
        "sectors": ["technology"], "identity_id": _IDENTITY, "pseudonym_identity_id": _PSEUDONYM,
        "claimed_identity_ids": [_CLAIMED], "suspended": False,
        "keys": [{"key_id": "aisx_k_68071ca4a885c8cf", "label": "ci", "revoked": False}]}
    slug: str
    id: int
    name: str
    kind: ParticipantKind
    groups: list[str]
    sectors: list[str]
    identity_id: str = Field(description="The participant's STIX identity.")
    pseudonym_identity_id: str = Field(description="The identity that stands in for it on anonymous posts.")
    claimed_identity_ids: list[str] = Field(
        description="Other identity ids it already publishes under; objects they created are its own.")
    suspended: bool
    keys: list[KeySummary] | None = Field(None, description="Present in the participant list only.")


class AdmittedParticipant(ContractModel):
    """The participant just admitted; issue it a key next."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "slug": "lab-a", "id": 3, "identity_id": _IDENTITY, "pseudonym_identity_id": _PSEUDONYM,
        "claimed_identity_ids": []}
    slug: str
    id: int
    identity_id: str
    pseudonym_identity_id: str
    claimed_identity_ids: list[str]


class IssuedKey(ContractModel):
    """A new API key. Use the secret as `Authorization: Bearer <secret>`, or Basic with the key id as the
    user name and the secret as the password."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "key_id": "aisx_k_68071ca4a885c8cf", "secret": "aisx_s_4q3XbV1p0k2m9Zr7yT6wE5uI8oA1sD3fG5hJ7kL9zX0",
        "participant": "lab-a"}
    key_id: str
    secret: str = Field(description="Shown once; only a hash is stored.")
    participant: str = Field(description="The slug of the key's participant.")


class RevokedKey(ContractModel):
    """The key, now refused on every request."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"key_id": "aisx_k_68071ca4a885c8cf", "revoked": True}
    key_id: str
    revoked: Literal[True]


class CreatedCollection(ContractModel):
    """The collection just created (its TAXII resource is under /taxii2/{api_root}/collections/{id}/); grant
    access to it next."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "5b0c1f7e-9a4d-4c3b-8e2f-1d6a7b8c9e0f", "alias": "intel", "api_root": "exchange", "public": False,
        "validation": "strict"}
    id: str
    alias: str
    api_root: str
    public: bool
    validation: Literal["strict", "lenient"]


class CollectionGrant(ContractModel):
    """A subject's access to a collection, as now set (both false: withdrawn)."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "collection_id": "5b0c1f7e-9a4d-4c3b-8e2f-1d6a7b8c9e0f", "subject_kind": "group",
        "subject": "frontier-labs", "can_read": True, "can_write": True}
    collection_id: str
    subject_kind: Literal["participant", "group", "kind"]
    subject: str = Field(description="The slug, group or kind; `*` (kind) for everyone.")
    can_read: bool
    can_write: bool


class AuditEvent(ContractModel):
    """One audit event, oldest first."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "at": "2026-11-26T19:29:02.724179Z", "participant": "lab-a", "key_id": "aisx_k_68071ca4a885c8cf",
        "action": "objects.add", "collection_id": "d26a95e7-fd96-4f34-a36a-a40dbd7ac542", "object_count": 2,
        "detail": None}
    at: str = Field(pattern=TAXII_TIMESTAMP)
    participant: str | None = Field(description="The acting participant's slug (null: the exchange itself).")
    key_id: str | None
    action: str = Field(examples=["objects.add", "key.revoke", "read.amber_red"])
    collection_id: str | None
    object_count: int = Field(ge=0)
    detail: str | None = Field(description="JSON text with action-specific detail.")


class UpstreamState(ContractModel):
    """Where mirroring from an upstream TAXII collection stands."""

    url: str = Field(description="The upstream API root.")
    collection: str = Field(description="The upstream collection id.")
    state: Literal["never-synced", "ok", "failing"]
    checkpoint: str | None = Field(description="The upstream added_after the next run resumes from.")
    objects_pulled: int = Field(ge=0)
    last_error: str | None
    last_success_at: str | None = Field(pattern=TAXII_TIMESTAMP)
    last_error_at: str | None = Field(pattern=TAXII_TIMESTAMP)


class FeedState(ContractModel):
    """A feed: a collection filled by a selector over posted objects, by mirroring an upstream, or both."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "5b0c1f7e-9a4d-4c3b-8e2f-1d6a7b8c9e0f", "alias": "ai-prompts", "title": "AI prompt indicators",
        "selector": {"types": ["x-ai-prompt"]}}
    id: str
    alias: str
    title: str
    selector: dict[str, Any] | None = Field(description="The selector (see feeds/*.toml); null: takes no posts.")
    upstream: UpstreamState | None = Field(None, description="Present for mirrors.")


class AudienceExtension(ContractModel):
    """The exchange-audience property extension: who may read, and from when."""

    extension_type: Literal["property-extension"]
    recipient_identities: list[str] | None = None
    recipient_groups: list[str] | None = None
    embargo_until: str | None = Field(None, pattern=TAXII_TIMESTAMP)


class AudienceMarking(ContractModel):
    """A STIX marking-definition carrying the exchange-audience extension, created by the exchange: add its id to
    an object's `object_marking_refs` (next to the TLP marking) to share the object with these recipients.
    Identical recipient sets always get the same marking."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "type": "marking-definition", "spec_version": "2.1",
        "id": "marking-definition--6f1d3f0e-8f6b-5c1e-9a47-3b2d1c0e9f8a", "created": "2026-11-26T00:00:00.000Z",
        "created_by_ref": "identity--a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "name": "exchange-audience",
        "extensions": {AUDIENCE_EXTENSION_ID: {"extension_type": "property-extension",
                                               "recipient_groups": ["frontier-labs"]}}}
    type: Literal["marking-definition"]
    spec_version: Literal["2.1"]
    id: str
    created: str
    created_by_ref: str = Field(description="The exchange's identity.")
    name: Literal["exchange-audience"]
    extensions: dict[str, AudienceExtension] = Field(
        description=f"One entry, keyed by the extension-definition id {AUDIENCE_EXTENSION_ID}.")


class Health(ContractModel):
    """The server is up and its database answers."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"status": "ok", "version": "0.1.0"}
    status: Literal["ok"]
    version: str = Field(description="The AISX version.")
