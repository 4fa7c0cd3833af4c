"""The tables. Timestamps are integer microseconds since the Unix epoch (UTC): exact, sortable and
identical on SQLite and PostgreSQL."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from app.stix.checks import STORED_TYPE_LENGTH

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit sequence.
BigId = BigInteger().with_variant(Integer, "sqlite")


class ExchangeMeta(SQLModel, table=True):
    """Process-independent facts about this exchange (its own STIX identity, …)."""

    __tablename__ = "exchange_meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))


class ApiRoot(SQLModel, table=True):
    __tablename__ = "api_root"
    name: str = Field(primary_key=True, max_length=64)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_column=Column(Text))
    max_content_length: int = Field(sa_column=Column(BigInteger, nullable=False))


class Collection(SQLModel, table=True):
    __tablename__ = "collection"
    __table_args__ = (UniqueConstraint("api_root", "alias", name="uq_collection_alias"),)
    id: str = Field(primary_key=True, max_length=36)
    api_root: str = Field(foreign_key="api_root.name", max_length=64, index=True)
    alias: str | None = Field(default=None, max_length=100)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_column=Column(Text))
    public: bool = Field(default=False)
    default_group: str | None = Field(default=None, max_length=64)
    validation: str = Field(default="strict", max_length=8)  # strict | lenient
    feed: str | None = Field(default=None, sa_column=Column(Text))  # a feed's definition (JSON); NULL otherwise
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class Participant(SQLModel, table=True):
    __tablename__ = "participant"
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    identity_id: str = Field(max_length=64, unique=True)
    pseudonym_identity_id: str = Field(max_length=64, unique=True)
    suspended: bool = Field(default=False)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class ParticipantGroup(SQLModel, table=True):
    __tablename__ = "participant_group"
    participant_id: int = Field(foreign_key="participant.id", primary_key=True)
    name: str = Field(max_length=64, primary_key=True, index=True)


class ParticipantIdentity(SQLModel, table=True):
    """An identity id a participant already published under and that the operator attached to it: objects created
    by it are the participant's. Unique: an id is one participant's at most."""

    __tablename__ = "participant_identity"
    identity_id: str = Field(max_length=64, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class ParticipantSector(SQLModel, table=True):
    __tablename__ = "participant_sector"
    participant_id: int = Field(foreign_key="participant.id", primary_key=True)
    sector: str = Field(max_length=64, primary_key=True)


class ApiKey(SQLModel, table=True):
    """An API key. Only a SHA-256 of the secret is kept: the secret is 256 random bits, so a fast hash
    is as safe as a slow KDF and costs nothing per request."""

    __tablename__ = "api_key"
    key_id: str = Field(primary_key=True, max_length=64)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    secret_hash: str = Field(max_length=64, unique=True)
    label: str | None = Field(default=None, max_length=200)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_at: int | None = Field(default=None, sa_column=Column(BigInteger))  # may lie ahead: a rotation's grace
    expires_at: int | None = Field(default=None, sa_column=Column(BigInteger))  # NULL: never expires
    replaced_by: str | None = Field(default=None, max_length=64)  # the key a rotation issued in its place


class Grant(SQLModel, table=True):
    """Read/write on a collection for a participant, a group or a kind of participant."""

    __tablename__ = "collection_grant"
    collection_id: str = Field(foreign_key="collection.id", primary_key=True, max_length=36)
    subject_kind: str = Field(primary_key=True, max_length=16)  # participant | group | kind
    subject: str = Field(primary_key=True, max_length=64)
    can_read: bool = Field(default=False)
    can_write: bool = Field(default=False)


class StixObject(SQLModel, table=True):
    """One version of one STIX object from one producer, with its JSON text exactly as served, and the
    audience computed once at write time (TLP level, release time, recipients in ``object_audience``).

    ``producer_id`` is NULL for objects the exchange itself publishes (TLP definitions, the directory)."""

    __tablename__ = "stix_object"
    __table_args__ = (
        # Also serves every lookup by stix_id: no separate index needed.
        UniqueConstraint("stix_id", "version", "producer_id", name="uq_object_version"),
    )
    seq: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    stix_id: str = Field(max_length=150)
    type: str = Field(max_length=STORED_TYPE_LENGTH)
    spec_version: str = Field(max_length=10)
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    producer_id: int | None = Field(default=None, foreign_key="participant.id")
    content_hash: str = Field(max_length=64)
    raw: str = Field(sa_column=Column(Text, nullable=False))
    stored_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    tlp: int = Field(sa_column=Column(SmallInteger, nullable=False))  # 0 clear … 4 red
    release_at: int | None = Field(default=None, sa_column=Column(BigInteger))  # embargo end
    has_audience: bool = Field(default=False)  # named recipients narrow the TLP audience
    is_latest: bool = Field(default=True)  # newest version from this producer, across the store
    confidence: int | None = Field(default=None)  # the object's own 0-100 confidence, for feed selectors
    revoked: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    atlas_id: str | None = Field(default=None, max_length=32, index=True)  # ATLAS id of an attack-pattern


class ObjectAudience(SQLModel, table=True):
    """A named recipient of an object version: a participant or a group (frozen at write time)."""

    __tablename__ = "object_audience"
    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    object_seq: int = Field(sa_column=Column(BigInteger, ForeignKey("stix_object.seq"), nullable=False,
                                             index=True))
    participant_id: int | None = Field(default=None, foreign_key="participant.id")
    group_name: str | None = Field(default=None, max_length=64)


class AuditEvent(SQLModel, table=True):
    """Who did what, when: writes, deletes, admin actions. Each record is chained to the one before it (per
    exchange, in commit order): ``position`` counts from 1, ``prev_hash`` is the previous record's ``hash`` and
    ``hash`` the SHA-256 of the record's canonical form (``app.store.audit``; docs/audit.md).

    ``participant_id`` is the actor (NULL: the exchange itself, e.g. the CLI); ``subject`` the slug of the
    participant the event is about (the one admitted, suspended, given a key; the poster of objects)."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_at", "at"),
        Index("ix_audit_subject", "subject", "position"),
        Index("ux_audit_position", "position", unique=True),
    )
    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    at: int = Field(sa_column=Column(BigInteger, nullable=False))
    participant_id: int | None = Field(default=None, index=True)
    key_id: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=40)
    collection_id: str | None = Field(default=None, max_length=36)
    object_count: int = Field(default=0)
    detail: str | None = Field(default=None, sa_column=Column(Text))
    subject: str | None = Field(default=None, max_length=64)
    position: int = Field(sa_column=Column(BigInteger, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class KeyUse(SQLModel, table=True):
    """Requests authenticated by a key, per minute (µs of the minute's start): one row per key and minute, its
    count upserted by each worker's flush (``app.audit.log``). The primary key (key_id, minute) answers a key's
    last use with one backward seek."""

    __tablename__ = "key_use"
    key_id: str = Field(primary_key=True, max_length=64)
    minute: int = Field(sa_column=Column(BigInteger, primary_key=True))
    participant_id: int = Field(index=True)
    count: int = Field(sa_column=Column(BigInteger, nullable=False))


class ObjectRead(SQLModel, table=True):
    """Reads of a producer's AMBER or RED object by another participant, per day (µs of the UTC day's start):
    one row per (reader, producer, object, day), its count (object versions served) upserted by the flush.
    The producer is the real poster, also of objects posted anonymously or under its pseudonym."""

    __tablename__ = "object_read"
    __table_args__ = (Index("ix_object_read_producer", "producer_id", "day"), Index("ix_object_read_day", "day"))
    reader_id: int = Field(primary_key=True)
    producer_id: int = Field(primary_key=True)
    stix_id: str = Field(primary_key=True, max_length=150)
    day: int = Field(sa_column=Column(BigInteger, primary_key=True))
    count: int = Field(sa_column=Column(BigInteger, nullable=False))


class SharedId(SQLModel, table=True):
    """Ids that more than one producer holds a copy of (the exchange counting as one), anywhere in the exchange:
    written by the store when such a copy is added, read by every page (``app.store.objects.PageRow.shared``)
    so that the reads of the copies rules 5 and 6 did not serve are counted for their producers too. Mostly
    empty, so a page's per-row look-up costs almost nothing; a copy deleted later leaves its id here (the
    counting query then finds nothing more)."""

    __tablename__ = "shared_id"
    stix_id: str = Field(primary_key=True, max_length=150)


class Membership(SQLModel, table=True):
    """An object version's presence in a collection, with its own date_added. The filter columns are
    copied from the object so that every list query is answered from this table's indexes.

    An embargoed version waits as a *pending* member: ``release_at`` holds the end of its embargo and
    ``date_added`` a sentinel after every real date (``app.store.objects.PENDING``); the release step gives it
    a real date_added from the exchange clock once the embargo has ended (see ``release_due``)."""

    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("collection_id", "object_seq", name="uq_membership_object"),
        Index("ix_membership_page", "collection_id", "date_added", "seq"),
        Index("ix_membership_stix_id", "collection_id", "stix_id"),
        # Partial: only pending members are indexed, so the index costs ordinary writes nothing and the release
        # step's "anything due?" probe is one seek however many members the exchange holds.
        Index("ix_membership_pending", "release_at", "seq", sqlite_where=text("release_at IS NOT NULL"),
              postgresql_where=text("release_at IS NOT NULL")),
    )
    seq: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    collection_id: str = Field(foreign_key="collection.id", max_length=36)
    object_seq: int = Field(sa_column=Column(BigInteger, ForeignKey("stix_object.seq"), nullable=False))
    stix_id: str = Field(max_length=150)
    type: str = Field(max_length=STORED_TYPE_LENGTH)
    spec_version: str = Field(max_length=10)
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    producer_id: int | None = Field(default=None, foreign_key="participant.id")
    date_added: int = Field(sa_column=Column(BigInteger, nullable=False))
    is_latest: bool = Field(default=True)
    is_first: bool = Field(default=True)
    release_at: int | None = Field(default=None, sa_column=Column(BigInteger))  # set while pending (embargoed)


class StatusResource(SQLModel, table=True):
    """A TAXII status resource; kept in the database so every worker and every restart sees it."""

    __tablename__ = "status_resource"
    id: str = Field(primary_key=True, max_length=36)
    api_root: str = Field(max_length=64)
    collection_id: str = Field(max_length=36)
    participant_id: int = Field(foreign_key="participant.id")
    request_timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))
    total_count: int
    success_count: int
    failure_count: int
    pending_count: int
    successes: str = Field(sa_column=Column(Text, nullable=False))
    failures: str = Field(sa_column=Column(Text, nullable=False))
    pendings: str = Field(sa_column=Column(Text, nullable=False))


class UpstreamState(SQLModel, table=True):
    """Where the mirroring of a feed's upstream TAXII collection stands; shared by every worker."""

    __tablename__ = "upstream_state"
    feed_id: str = Field(foreign_key="collection.id", primary_key=True, max_length=36)
    checkpoint: str | None = Field(default=None, max_length=40)  # added_after for the next pull
    objects_pulled: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    last_success_at: int | None = Field(default=None, sa_column=Column(BigInteger))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_at: int | None = Field(default=None, sa_column=Column(BigInteger))


class ObjectTerm(SQLModel, table=True):
    """A value a feed selector matches on (threat_category, atlas, owasp, model_family, ai_system_kind,
    label), so that a selector is an index lookup; the lookup index covers the object sequence too."""

    __tablename__ = "object_term"
    __table_args__ = (Index("ix_object_term_lookup", "kind", "value", "object_seq"),)
    object_seq: int = Field(sa_column=Column(BigInteger, ForeignKey("stix_object.seq"), primary_key=True))
    kind: str = Field(primary_key=True, max_length=32)
    value: str = Field(primary_key=True, max_length=200)


class RateCounter(SQLModel, table=True):
    """Events per key and one-minute window, summed over every worker (rate limits)."""

    __tablename__ = "rate_counter"
    # the flushers read the current windows of a scope every second; the cleanup deletes old windows
    __table_args__ = (Index("ix_rate_counter_scope_window", "scope", "window"),)
    scope: str = Field(primary_key=True, max_length=16)
    key: str = Field(primary_key=True, max_length=100)
    window: int = Field(sa_column=Column(BigInteger, primary_key=True))
    count: int = Field(sa_column=Column(BigInteger, nullable=False))


class ClientCertificate(SQLModel, table=True):
    """A client certificate (by SHA-256 fingerprint) that authenticates a participant, for agencies that use
    PKI: a TLS-terminating proxy verifies the certificate and passes its fingerprint on."""

    __tablename__ = "client_certificate"
    fingerprint: str = Field(primary_key=True, max_length=64)  # SHA-256 of the DER certificate, lower-case hex
    participant_id: int = Field(foreign_key="participant.id", index=True)
    label: str | None = Field(default=None, max_length=200)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_at: int | None = Field(default=None, sa_column=Column(BigInteger))


def _table_of(model: type[SQLModel]) -> Table:
    """The Core table SQLModel built for a ``table=True`` model. SQLModel sets ``__table__`` when the class is
    created but does not declare it, so mypy cannot see it: this is the one place that reaches into it."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


# Typed handles on the tables, for the modules that query with SQLAlchemy Core: the model's name in snake case.
exchange_meta_table = _table_of(ExchangeMeta)
api_root_table = _table_of(ApiRoot)
collection_table = _table_of(Collection)
participant_table = _table_of(Participant)
participant_group_table = _table_of(ParticipantGroup)
participant_identity_table = _table_of(ParticipantIdentity)
participant_sector_table = _table_of(ParticipantSector)
api_key_table = _table_of(ApiKey)
grant_table = _table_of(Grant)
stix_object_table = _table_of(StixObject)
object_audience_table = _table_of(ObjectAudience)
audit_event_table = _table_of(AuditEvent)
key_use_table = _table_of(KeyUse)
object_read_table = _table_of(ObjectRead)
membership_table = _table_of(Membership)
shared_id_table = _table_of(SharedId)
status_resource_table = _table_of(StatusResource)
upstream_state_table = _table_of(UpstreamState)
object_term_table = _table_of(ObjectTerm)
rate_counter_table = _table_of(RateCounter)
client_certificate_table = _table_of(ClientCertificate)
