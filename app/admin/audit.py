"""The audit trail as operators (``aisx audit``, GET /admin/audit...) and producers (GET /me/reads) see it:
listing with filters, the chain's check and export, and who read a producer's AMBER/RED objects."""

import re
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

from app.errors import ExchangeError, NotFound
from app.participants.keys import DurationError, parse_duration
from app.stix.timestamps import TimestampError, format_timestamp, parse_timestamp
from app.store import audit as audit_store
from app.store import participants as store
from app.store.engine import now_us

_DAY = 86_400_000_000
EXCHANGE = "exchange"  # the --actor that names the exchange itself (the CLI, background jobs)


def parse_moment(name: str, text: str | None, now: int) -> int | None:
    """An RFC 3339 timestamp, or a duration back from now (``24h``, ``7d``); ExchangeError (400) otherwise."""
    if text is None or text == "":
        return None
    value = text.strip()
    if re.fullmatch(r"[0-9]+[smhdw]", value):
        try:
            return now - parse_duration(value, allow_zero=True)
        except DurationError as exc:
            raise ExchangeError(f"{name}: {exc}") from None
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise ExchangeError(f"{name}: {exc}, or a duration back from now such as 24h or 7d") from None


@dataclass(frozen=True)
class Filters:
    actor: str | None = None  # slug, or "exchange"
    action: str | None = None  # prefix
    participant: str | None = None  # the subject's slug
    collection: str | None = None  # id
    since: str | None = None
    until: str | None = None
    limit: int = 1000
    oldest_first: bool = False


def audit_events(conn: Connection, filters: Filters) -> list[dict[str, Any]]:
    """Audit events, newest first unless ``oldest_first``, with slugs and timestamps."""
    now = now_us()
    since = parse_moment("since", filters.since, now)
    until = parse_moment("until", filters.until, now)
    actor_id = None
    if filters.actor is not None and filters.actor != EXCHANGE:
        actor_id = _participant_id(conn, filters.actor)
    if filters.participant is not None:
        _participant_id(conn, filters.participant)
    events = audit_store.query_events(
        conn, actor_id=actor_id, actor_is_exchange=filters.actor == EXCHANGE, action_prefix=filters.action,
        subject=filters.participant, collection_id=filters.collection, since=since, until=until,
        oldest_first=filters.oldest_first, limit=filters.limit)
    return [event_view(e) for e in events]


def event_view(e: dict[str, Any]) -> dict[str, Any]:
    return {"position": e["position"], "id": e["id"], "at": format_timestamp(e["at"]), "participant": e["actor"],
            "subject": e["subject"], "key_id": e["key_id"], "action": e["action"],
            "collection_id": e["collection_id"], "object_count": e["object_count"], "detail": e["detail"],
            "hash": e["hash"]}


def _participant_id(conn: Connection, slug: str) -> int:
    row = store.get_participant_by_slug(conn, slug)
    if row is None:
        raise NotFound(f"no participant {slug!r}")
    return row.id


def reads_of(conn: Connection, producer_id: int, since: str | None = None, until: str | None = None,
             limit: int = 10000) -> dict[str, Any]:
    """Who read ``producer_id``'s AMBER and RED objects and when: per day, reader and object (``reads``), and per
    day and reader (``by_reader``: objects and reads). Only the producer's own objects, whoever posted them
    how (openly, anonymously, under its pseudonym); never its own reads."""
    now = now_us()
    since_us = parse_moment("since", since, now)
    until_us = parse_moment("until", until, now)
    since_day = since_us // _DAY * _DAY if since_us is not None else None
    rows = audit_store.reads_of(conn, producer_id, since=since_day, until=until_us, limit=limit)
    reads = [{"day": _day(r["day"]), "reader": r["reader"], "object_id": r["stix_id"], "count": r["count"]}
             for r in rows]
    by_reader = [{"day": _day(r["day"]), "reader": r["reader"], "objects": r["objects"], "count": int(r["count"])}
                 for r in audit_store.readers_of(conn, producer_id, since=since_day, until=until_us)]
    return {"reads": reads, "by_reader": by_reader}


def _day(micros: int) -> str:
    return format_timestamp(micros)[:10]


def producer_reads(conn: Connection, producer: str, since: str | None = None, until: str | None = None,
                   limit: int = 10000) -> dict[str, Any]:
    """``reads_of`` a producer named by its slug (the operator's view)."""
    return {"producer": producer, **reads_of(conn, _participant_id(conn, producer), since, until, limit)}


def human_detail(detail: str | None) -> str:
    """The detail JSON as ``key=value`` pairs, for the human table."""
    if not detail:
        return ""
    try:
        value = orjson.loads(detail)
    except orjson.JSONDecodeError:
        return detail
    if not isinstance(value, dict):
        return detail
    return " ".join(f"{k}={_flat(v)}" for k, v in value.items() if v is not None)


def _flat(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
