"""Checking the audit chain (docs/audit.md): in the database, or offline in an export (JSON lines).

A check streams the records in chain order and keeps only the previous record's hash, so memory stays bounded
whatever the chain's length. It stops at the first broken record and says what is wrong there."""

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from app.stix.timestamps import format_timestamp
from app.store import audit as store
from app.store.engine import read_connection

EXPORTED = ("id", *store.CHAINED, "hash")


@dataclass(frozen=True)
class Broken:
    position: int
    id: int | None
    problem: str


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int  # records checked
    first_position: int | None
    last_position: int | None
    head_hash: str | None  # the last good record's hash: note it, a later check must find it unchanged
    broken: Broken | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_records(records: Iterable[dict[str, Any]], *, from_genesis: bool) -> Verification:
    """Check ``records`` in chain order. ``from_genesis``: the first must be position 1 with the genesis
    prev_hash; otherwise (an export that starts mid-chain) the first record's prev_hash is taken as given."""
    count = 0
    first: int | None = None
    expected = 1
    previous = store.GENESIS
    last: int | None = None
    head: str | None = None

    def stop(position: int, record_id: int | None, problem: str) -> Verification:
        return Verification(False, count, first, last, head, Broken(position, record_id, problem))

    for record in records:
        position, record_id = record.get("position"), record.get("id")
        if not isinstance(position, int):
            return stop(expected, record_id, "the record has no position")
        if first is None:
            first = position
            if not from_genesis:
                expected, previous = position, record.get("prev_hash") or ""
        if position < expected:
            return stop(position, record_id, f"position {position} comes again after position {expected - 1} "
                                             "(records out of order or duplicated)")
        if position > expected:
            missing = f"{expected}" if position == expected + 1 else f"{expected} to {position - 1}"
            return stop(expected, None, f"the record at position {missing} is missing (deleted?): after position "
                                        f"{expected - 1} comes position {position} (id {record_id})")
        if record.get("prev_hash") != previous:
            return stop(position, record_id, f"prev_hash {record.get('prev_hash')} is not the hash of the record "
                                             f"before it ({previous}): the record before was changed and rehashed, "
                                             "or this one was")
        try:
            computed = store.record_hash(record)
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
            return stop(position, record_id, f"the record cannot be hashed: {exc}")
        if computed != record.get("hash"):
            return stop(position, record_id, f"its fields do not match its hash (stored {record.get('hash')}, "
                                             f"computed {computed}): the record was changed after it was written")
        count += 1
        last, head, previous, expected = position, computed, computed, position + 1
    return Verification(True, count, first, last, head, None)


def verify_database() -> Verification:
    """Check the whole chain in the database, from position 1."""
    with read_connection() as conn:
        return verify_records(store.stream_chain(conn), from_genesis=True)


def export_lines(*, since: int | None = None, until: int | None = None) -> Iterator[bytes]:
    """The chain's records (optionally from ``since``, before ``until``) as JSON lines, in chain order; each line
    carries the chained fields, the id and the hash, and ``time`` (RFC 3339, for people; not hashed)."""
    with read_connection() as conn:
        for record in store.stream_chain(conn, since=since, until=until):
            line = {name: record[name] for name in EXPORTED}
            line["time"] = format_timestamp(record["at"])
            yield orjson.dumps(line) + b"\n"


def export_page(*, since: int | None, until: int | None, after: int | None, limit: int) -> dict[str, Any]:
    """One page of the export for the admin API: ``records`` and ``next`` (the position to pass as ``after``
    for the next page; null at the end)."""
    with read_connection() as conn:
        start = after + 1 if after is not None else None
        records = []
        for record in store.stream_chain(conn, since=since if after is None else None, until=until,
                                         from_position=start, batch=min(limit + 1, 1000)):
            records.append({**{name: record[name] for name in EXPORTED}, "time": format_timestamp(record["at"])})
            if len(records) > limit:
                break
    more = len(records) > limit
    records = records[:limit]
    return {"records": records, "next": records[-1]["position"] if more else None}


def parse_lines(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Records from JSON lines (blank lines skipped); a line that is not a JSON object ends the check."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"line {number} is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError(f"line {number} is not a JSON object")
        yield value
