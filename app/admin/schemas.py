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
    expires: str | None = Field(default=None, examples=["90d"], description="When the key stops working: a "
                                "duration from now (90d, 12h, 30m, 45s, 2w) or an RFC 3339 timestamp with a zone. "
                                "Default: never (until revoked).")


class ParticipantUpdate(_Request):
    """What ``aisx participant update`` changes; at least one of them."""

    name: str | None = Field(default=None, description="The new display name (republished in the directory).")
    add_groups: list[str] = Field(default_factory=list, description="Groups to join.")
    remove_groups: list[str] = Field(default_factory=list, description="Groups to leave.")


class KeyRotation(_Request):
    """What ``aisx key rotate`` takes."""

    grace: str = Field(default="24h", examples=["24h"], description="How long the old key keeps working: a "
                       "duration (24h, 30m, 2d; 0s: it stops at once).")
    expires: str | None = Field(default=None, description="The new key's expiry (a duration or an RFC 3339 "
                                "timestamp). Default: the old key's lifetime again if it had one, else never.")


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


class CollectionChange(_Request):
    """The options of ``aisx collection update``: only the properties given change."""

    title: str | None = Field(default=None, description="A new title, unique in its API root.")
    description: str | None = Field(default=None, description="A new description; null or \"\" removes it.")
    validation: Literal["strict", "lenient"] | None = Field(
        default=None, description="strict: reject objects that break a STIX MUST; lenient: accept them with warnings.")


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
    """An API key, without its secret (nor the secret's hash)."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "key_id": "aisx_k_68071ca4a885c8cf", "label": "ci", "created": "2026-11-26T19:29:02.724179Z",
        "last_used": "2026-12-01T08:15:00.000000Z", "expires_at": "2027-02-24T19:29:02.724179Z",
        "revoked_at": None, "replaced_by": None, "state": "active", "revoked": False}
    key_id: str
    label: str | None
    created: str = Field(pattern=TAXII_TIMESTAMP)
    last_used: str | None = Field(pattern=TAXII_TIMESTAMP, description="The start of the last minute the "
                                  "key authenticated a request in (from the audit log's key.use counts); null: "
                                  "never used.")
    expires_at: str | None = Field(pattern=TAXII_TIMESTAMP, description="Null: never expires.")
    revoked_at: str | None = Field(pattern=TAXII_TIMESTAMP, description="When it was (or, while rotating, will "
                                   "be) revoked.")
    replaced_by: str | None = Field(description="The key a rotation issued in its place.")
    state: Literal["active", "rotating", "expired", "revoked"] = Field(
        description="rotating: replaced, working until revoked_at (the end of the grace).")
    revoked: bool


class ParticipantView(ContractModel):
    """A participant as operators see it."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "slug": "lab-a", "id": 3, "name": "Frontier Lab A", "kind": "lab", "groups": ["frontier-labs"],
        "sectors": ["technology"], "identity_id": _IDENTITY, "pseudonym_identity_id": _PSEUDONYM,
        "claimed_identity_ids": [_CLAIMED], "suspended": False, "state": "active",
        "keys": [KeySummary.EXAMPLE], "last_key_use": "2026-12-01T08:15:00.000000Z"}
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
    state: Literal["active", "suspended"]
    keys: list[KeySummary] | None = Field(None, description="Present in the participant list only.")
    last_key_use: str | None = Field(pattern=TAXII_TIMESTAMP, description="The last time any of its keys "
                                     "authenticated a request (the start of that minute); null: never.")


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
        "participant": "lab-a", "expires_at": "2027-02-24T19:29:02.724179Z"}
    key_id: str
    secret: str = Field(description="Shown once; only a hash is stored.")
    participant: str = Field(description="The slug of the key's participant.")
    expires_at: str | None = Field(pattern=TAXII_TIMESTAMP, description="Null: never expires.")


class RotatedKey(ContractModel):
    """The key that replaces a rotated one (same participant and label); its secret is in this answer only. The
    old key works until `old_key_revoked_at`, then answers 401."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "key_id": "aisx_k_9a1f03c2d4e5b6a7", "secret": "aisx_s_Zr7yT6wE5uI8oA1sD3fG5hJ7kL9zX04q3XbV1p0k2m9",
        "participant": "lab-a", "label": "ci", "expires_at": None, "replaces": "aisx_k_68071ca4a885c8cf",
        "old_key_revoked_at": "2026-12-02T09:00:00.000000Z"}
    key_id: str
    secret: str = Field(description="Shown once; only a hash is stored.")
    participant: str
    label: str | None
    expires_at: str | None = Field(pattern=TAXII_TIMESTAMP, description="The new key's expiry; null: never.")
    replaces: str = Field(description="The rotated key.")
    old_key_revoked_at: str = Field(pattern=TAXII_TIMESTAMP, description="When the rotated key stops working.")


class GroupMembers(ContractModel):
    """A group (it exists while it has members) and its members' slugs."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"name": "frontier-labs", "members": ["lab-a", "lab-b"]}
    name: str
    members: list[str]


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


class GrantView(ContractModel):
    """One grant on a collection."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"subject_kind": "group", "subject": "frontier-labs",
                                         "name": "group:frontier-labs", "can_read": True, "can_write": False}
    subject_kind: Literal["participant", "group", "kind"]
    subject: str = Field(description="The slug, group or kind; `*` (kind) for everyone.")
    name: str = Field(description="The subject as `aisx grant` takes it: SLUG, group:NAME, kind:KIND or everyone.")
    can_read: bool
    can_write: bool


class CollectionView(ContractModel):
    """A collection as operators see it."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "5b0c1f7e-9a4d-4c3b-8e2f-1d6a7b8c9e0f", "alias": "intel", "api_root": "exchange",
        "title": "Shared intelligence", "description": None, "validation": "strict", "public": False,
        "default_group": None, "feed": False, "objects": 1200,
        "grants": [{"subject_kind": "kind", "subject": "*", "name": "everyone", "can_read": True,
                    "can_write": True}]}
    id: str
    alias: str | None
    api_root: str
    title: str
    description: str | None
    validation: Literal["strict", "lenient"]
    public: bool
    default_group: str | None
    feed: bool = Field(description="A feed: defined by its file in AISX_FEEDS_DIR, changed only there.")
    objects: int = Field(ge=0, description="Object versions participants put in it (pending embargoed ones "
                         "included; the exchange's own definitions not counted).")
    grants: list[GrantView]


class CollectionGrants(ContractModel):
    """The grants on one collection."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "collection_id": "5b0c1f7e-9a4d-4c3b-8e2f-1d6a7b8c9e0f", "alias": "intel",
        "grants": [{"subject_kind": "participant", "subject": "lab-a", "name": "lab-a", "can_read": True,
                    "can_write": True}]}
    collection_id: str
    alias: str | None
    grants: list[GrantView]


class RemovedCollection(ContractModel):
    """The collection is gone; the objects it held stay in the exchange (and in every other collection)."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "5b0c1f7e-9a4d-4c3b-8e2f-1d6a7b8c9e0f", "alias": "intel", "api_root": "exchange", "objects": 12,
        "memberships": 17, "pending": 1, "grants": 2, "removed": True}
    id: str
    alias: str | None
    api_root: str
    objects: int = Field(ge=0, description="Object versions of participants it held.")
    memberships: int = Field(ge=0, description="Memberships dropped (the exchange's own definitions included).")
    pending: int = Field(ge=0, description="Of which pending: embargoed, not yet released.")
    grants: int = Field(ge=0, description="Grants dropped.")
    removed: Literal[True]


class RemovedFeed(ContractModel):
    id: str
    alias: str


class RebuiltFeed(ContractModel):
    """The feed file(s) applied and the feed recomputed from every stored object (``removed``: its file was gone,
    so it was removed instead). ``removed_feeds``: every feed removed because its file is gone."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"id": "0c9a2f4e-7b1d-4e8a-9c3f-5d6e7f8a9b0c", "objects": 311,
                                         "removed": False, "removed_feeds": []}
    id: str
    objects: int = Field(ge=0, description="Object versions the feed holds now (the exchange's definitions included).")
    removed: bool
    removed_feeds: list[RemovedFeed]


class RevokedGrant(ContractModel):
    """The grant is gone: the subject keeps only what other grants give it."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"collection_id": "5b0c1f7e-9a4d-4c3b-8e2f-1d6a7b8c9e0f",
                                         "subject_kind": "participant", "subject": "lab-a", "revoked": True}
    collection_id: str
    subject_kind: Literal["participant", "group", "kind"]
    subject: str
    revoked: Literal[True]


_HASH = r"^[0-9a-f]{64}$"


class AuditEvent(ContractModel):
    """One audit event (newest first unless order=oldest)."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "position": 42, "id": 42, "at": "2026-11-26T19:29:02.724179Z", "participant": "admin", "subject": "lab-a",
        "key_id": "aisx_k_68071ca4a885c8cf", "action": "participant.suspend", "collection_id": None,
        "object_count": 0, "detail": '{"slug":"lab-a"}',
        "hash": "5f0c3b0e8f1c3a1e2d4b6a8c0e2f4a6b8d0c2e4f6a8b0d2c4e6f8a0b2d4c6e8f"}
    position: int = Field(ge=1, description="The record's place in the hash chain (1 is the first).")
    id: int
    at: str = Field(pattern=TAXII_TIMESTAMP)
    participant: str | None = Field(description="The acting participant's slug (null: the exchange itself, e.g. "
                                                "the CLI).")
    subject: str | None = Field(description="The slug of the participant the event is about (the one admitted, "
                                            "suspended, given a key; the poster of objects).")
    key_id: str | None
    action: str = Field(examples=["objects.add", "key.revoke", "participant.suspend"])
    collection_id: str | None
    object_count: int = Field(ge=0)
    detail: str | None = Field(description="JSON text with action-specific detail.")
    hash: str = Field(pattern=_HASH, description="SHA-256 of the record's canonical form (docs/audit.md).")


class BrokenRecord(ContractModel):
    """The first record where the chain breaks."""

    position: int = Field(description="Its position (for a deleted record: the missing position).")
    id: int | None = Field(description="Its id (null: the record is missing).")
    problem: str = Field(description="What differs.")


class AuditVerification(ContractModel):
    """The result of checking the whole audit chain, as `aisx audit verify --json` prints it."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "ok": False, "records": 41, "first_position": 1, "last_position": 41,
        "head_hash": "5f0c3b0e8f1c3a1e2d4b6a8c0e2f4a6b8d0c2e4f6a8b0d2c4e6f8a0b2d4c6e8f",
        "broken": {"position": 42, "id": 42, "problem": "its fields do not match its hash (...)"}}
    ok: bool
    records: int = Field(ge=0, description="Records verified (before the broken one, if any).")
    first_position: int | None
    last_position: int | None = Field(description="The last verified record's position.")
    head_hash: str | None = Field(description="The last verified record's hash: keep it, a later check must "
                                              "find the record at last_position with that hash.")
    broken: BrokenRecord | None


class ExportedRecord(ContractModel):
    """One exported audit record: the chained fields, the id, the hash and ``time`` (not hashed)."""

    id: int
    position: int = Field(ge=1)
    prev_hash: str = Field(pattern=_HASH)
    at: int = Field(description="Microseconds since the Unix epoch (UTC).")
    participant_id: int | None
    key_id: str | None
    action: str
    subject: str | None
    collection_id: str | None
    object_count: int = Field(ge=0)
    detail: str | None
    hash: str = Field(pattern=_HASH)
    time: str = Field(pattern=TAXII_TIMESTAMP)


class AuditExport(ContractModel):
    """A page of the audit chain, in chain order (the JSON lines of `aisx audit export`)."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"records": [{
        "id": 1, "position": 1, "prev_hash": "0" * 64, "at": 1764185342724179, "participant_id": None,
        "key_id": None, "action": "participant.add", "subject": "lab-a", "collection_id": None, "object_count": 0,
        "detail": '{"slug":"lab-a","kind":"lab"}',
        "hash": "5f0c3b0e8f1c3a1e2d4b6a8c0e2f4a6b8d0c2e4f6a8b0d2c4e6f8a0b2d4c6e8f",
        "time": "2025-11-26T19:29:02.724179Z"}], "next": None}

    records: list[ExportedRecord]
    next: int | None = Field(description="Pass as `after` for the next page; null: no more records.")


class ReadCount(ContractModel):
    """Reads of one object by one participant on one day (UTC)."""

    day: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    reader: str = Field(description="The reading participant's slug.")
    object_id: str
    count: int = Field(ge=1, description="Object versions served.")


class ReaderDay(ContractModel):
    """One participant's reads of the producer's objects on one day."""

    day: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    reader: str
    objects: int = Field(ge=1, description="Distinct objects read.")
    count: int = Field(ge=1, description="Object versions served.")


class ProducerReads(ContractModel):
    """Who read a producer's AMBER and RED objects, and when (newest day first)."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "producer": "lab-a",
        "reads": [{"day": "2026-12-05", "reader": "agency", "object_id":
                   "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "count": 2}],
        "by_reader": [{"day": "2026-12-05", "reader": "agency", "objects": 1, "count": 2}]}
    producer: str
    reads: list[ReadCount]
    by_reader: list[ReaderDay]


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


class FeedAccess(ContractModel):
    """Who may read a feed, from the `[access]` table of its file."""

    read: list[str] = Field(description="Subjects: SLUG, group:NAME, kind:KIND or everyone.")
    public: bool = Field(description="Readable without credentials (TLP:CLEAR only).")


class FeedState(ContractModel):
    """A feed: a collection filled by a selector over posted objects, by mirroring an upstream, or both."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "5b0c1f7e-9a4d-4c3b-8e2f-1d6a7b8c9e0f", "alias": "ai-prompts", "title": "AI prompt indicators",
        "selector": {"types": ["x-ai-prompt"]}, "access": {"read": ["everyone"], "public": False}}
    id: str
    alias: str
    title: str
    selector: dict[str, Any] | None = Field(description="The selector (see feeds/*.toml); null: takes no posts.")
    access: FeedAccess
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


class PeriodicJobView(ContractModel):
    """A background job the leader runs."""

    name: str = Field(description="e.g. embargo-release, upstream-mirroring.")
    interval: float = Field(gt=0, description="Seconds between the end of one run and the start of the next.")


class JobsStatus(ContractModel):
    """Which `aisx serve` instance leads, i.e. runs the background jobs, and the jobs (docs/deployment.md, 10)."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "leader": "aisx-1:7", "lock": "postgresql advisory lock", "leader_interval": 5.0,
        "jobs": [{"name": "embargo-release", "interval": 1.0}, {"name": "upstream-mirroring", "interval": 2.0}]}
    leader: str | None = Field(description="The leader's HOST:PID; null while no instance holds the lock.")
    lock: Literal["postgresql advisory lock", "lock file"]
    leader_interval: float = Field(gt=0, description="Seconds between two lock checks of each instance "
                                                     "(AISX_LEADER_INTERVAL): the bound on a takeover.")
    jobs: list[PeriodicJobView]

