"""Paging a large collection: every version exactly once, in date_added order, by `next` and by `added_after`;
and the store's keyset cursor (date_added, rows served at it) when many rows share one date_added."""

import itertools
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Boolean, Connection, Integer, Table, insert, true

from app.stix.timestamps import format_timestamp, parse_timestamp
from app.store import models
from app.store import objects as object_store
from app.store.engine import get_engine
from app.store.migrate import upgrade_to_head
from app.store.queries import ALL_VERSIONS, ObjectFilter, Position, following
from app.taxii.cursor import issue, redeem
from tests.support.server import TAXII, Participant
from tests.support.stix import envelope, indicator, ts
from tests.test_migrations import database_url  # noqa: F401  (fixture: an empty database per backend)

IDS, ENVELOPE_SIZE = 1000, 500


@dataclass(frozen=True)
class Loaded:
    arrival: dict[tuple[str, str], int]  # (id, modified) → index of the envelope that brought it
    latest: dict[str, str]  # id → newest modified


@pytest.fixture(scope="module")
def loaded(lab: Participant, shared_collection: str) -> Loaded:
    """1,000 ids: half with 3 versions, half with 2 (2,500 objects), versions of one id in different
    envelopes and often older after newer."""
    rng = random.Random(2500)
    rounds: list[list[dict[str, Any]]] = [[], [], []]
    for n in range(IDS):
        stix_id = f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        versions = [ts(0), ts(1), ts(2)] if n < IDS // 2 else [ts(0), ts(1)]
        rng.shuffle(versions)
        for round_, modified in enumerate(versions):
            rounds[round_].append(indicator(stix_id, created=ts(0), modified=modified))
    sequence = [obj for objs in rounds for obj in objs]
    assert len(sequence) == 2500
    arrival: dict[tuple[str, str], int] = {}
    for number, start in enumerate(range(0, len(sequence), ENVELOPE_SIZE)):
        batch = sequence[start:start + ENVELOPE_SIZE]
        assert len({o["id"] for o in batch}) == len(batch)  # no id twice in one envelope
        response = lab.client.post(f"collections/{shared_collection}/objects/", json=envelope(*batch),
                                   headers={"Content-Type": TAXII})
        assert response.status_code == 202, response.text
        assert response.json()["success_count"] == len(batch), response.text
        arrival.update({(o["id"], o["modified"]): number for o in batch})
    latest: dict[str, str] = {}
    for stix_id, modified in arrival:
        latest[stix_id] = max(latest.get(stix_id, modified), modified)
    return Loaded(arrival, latest)


@dataclass
class Page:
    items: list[tuple[str, str]]  # (id, version)
    dates: list[int]  # date_added of each item (manifest only)
    first: int | None  # X-TAXII-Date-Added-First
    last: int | None
    more: bool
    next: str | None


def _read(participant: Participant, path: str, params: dict[str, str | int]) -> Page:
    response = participant.client.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    objects = body.get("objects", [])
    if path.endswith("manifest/"):
        items = [(o["id"], o["version"]) for o in objects]
        dates = [parse_timestamp(o["date_added"]) for o in objects]
    else:
        items, dates = [(o["id"], o["modified"]) for o in objects], []
    if objects:
        assert body["more"] == ("next" in body)
    else:
        assert not body.get("more") and "next" not in body
    header = response.headers.get
    first, last = header("X-TAXII-Date-Added-First"), header("X-TAXII-Date-Added-Last")
    return Page(items, dates, first and parse_timestamp(first), last and parse_timestamp(last), body["more"],
                body.get("next"))


def _read_all(participant: Participant, path: str, params: dict[str, str | int], mode: str) -> list[Page]:
    pages = [_read(participant, path, params)]
    while pages[-1].more:
        if mode == "next":
            follow = {**params, "next": pages[-1].next or ""}
        else:
            assert pages[-1].last is not None
            follow = {**params, "added_after": format_timestamp(pages[-1].last)}
        pages.append(_read(participant, path, follow))
        assert len(pages) < 1000, "paging does not end"
    if mode == "added_after":  # a poller that asks once more gets nothing new
        assert pages[-1].last is not None
        assert _read(participant, path, {**params, "added_after": format_timestamp(pages[-1].last)}).items == []
    return pages


@pytest.mark.parametrize("mode", ["next", "added_after"])
@pytest.mark.parametrize("endpoint", ["objects/", "manifest/"])
@pytest.mark.parametrize("versions", ["all", "last"])
@pytest.mark.parametrize("limit", [100, 300])
def test_every_version_once_in_date_added_order(
    lab: Participant, shared_collection: str, loaded: Loaded, mode: str, endpoint: str, versions: str, limit: int,
) -> None:
    params: dict[str, str | int] = {"limit": limit, "match[type]": "indicator"}  # not the exchange's own objects
    if versions == "all":
        params["match[version]"] = "all"
    path = f"collections/{shared_collection}/{endpoint}"
    pages = _read_all(lab, path, params, mode)

    expected = set(loaded.arrival) if versions == "all" else set(loaded.latest.items())
    assert [len(p.items) for p in pages[:-1]] == [limit] * (len(pages) - 1)
    assert 0 < len(pages[-1].items) <= limit
    items = [item for p in pages for item in p.items]
    assert len(items) == len(expected), Counter(items).most_common(3)
    assert set(items) == expected
    # date_added order: pages do not overlap, and envelopes come out in the order they went in
    for before, after in itertools.pairwise(pages):
        assert before.first is not None and before.last is not None and after.first is not None
        assert before.first <= before.last < after.first
    envelopes = [loaded.arrival[item] for item in items]
    assert envelopes == sorted(envelopes)
    if endpoint == "manifest/":
        dates = [d for p in pages for d in p.dates]
        assert all(a < b for a, b in itertools.pairwise(dates))
        assert all(p.first == p.dates[0] and p.last == p.dates[-1] for p in pages)
    else:  # the same order as the manifest, item for item
        manifest = _read(lab, f"collections/{shared_collection}/manifest/", {**params, "limit": 10000})
        assert items == manifest.items


def test_next_token_is_bound_to_its_query(lab: Participant, shared_collection: str, loaded: Loaded) -> None:
    path = f"collections/{shared_collection}/objects/"
    first = _read(lab, path, {"limit": 100, "match[version]": "all", "match[type]": "indicator"})
    token = first.next
    assert token is not None
    query = {"limit": 100, "match[version]": "all", "match[type]": "indicator"}
    assert lab.client.get(path, params={**query, "next": token}).status_code == 200
    assert lab.client.get(path, params={**query, "match[type]": "indicator,malware", "next": token}).status_code == 400
    assert lab.client.get(path, params={**query, "next": "x" + token}).status_code == 400


# ------------------------------------------------------------------ store level: ties on date_added


def _insert(conn: Connection, model: Any, row: dict[str, Any]) -> Any:
    """Insert ``row``, with a zero value for every other required column without a default (the tables grow);
    returns the primary key."""
    table: Table = model.__table__
    missing = [c for c in table.columns if c.name not in row and not (
        c.nullable or c.primary_key or c.default is not None or c.server_default is not None)]
    row = {**row, **{c.name: False if isinstance(c.type, Boolean) else 0 if isinstance(c.type, Integer) else ""
                     for c in missing}}
    return conn.execute(insert(table).returning(*table.primary_key), row).scalar_one()


@pytest.mark.usefixtures("database_url")
@pytest.mark.parametrize("limit", [1, 7, 10])
def test_keyset_cursor_survives_date_added_ties(limit: int) -> None:
    """40 rows in three date_added groups (10, 1 and 29 rows), inserted out of date order so that seq order
    and date order disagree, plus a neighbouring collection with the same dates: paging by (date_added, rows
    served at that date) from the end of each page returns each row of the collection exactly once, in order."""
    upgrade_to_head()
    t = 1_767_225_600_000_000
    dates = [t + 2] * 29 + [t] * 10 + [t + 1]
    random.Random(limit).shuffle(dates)
    with get_engine().begin() as conn:
        _insert(conn, models.ApiRoot, {"name": "exchange", "title": "AISX", "max_content_length": 1_000_000})
        mine, other = (
            _insert(conn, models.Collection, {"id": str(uuid.uuid4()), "api_root": "exchange", "alias": alias,
                                              "title": alias, "public": False, "created_at": t})
            for alias in ("mine", "other"))
        producer = _insert(conn, models.Participant, {
            "slug": "lab-ties", "name": "Lab", "kind": "lab", "created_at": t,
            "identity_id": f"identity--{uuid.uuid4()}", "pseudonym_identity_id": f"identity--{uuid.uuid4()}"})
        for collection_id, collection_dates in ((mine, dates), (other, dates[:15])):
            for date_added in collection_dates:
                obj = indicator()
                columns = {"stix_id": obj["id"], "type": "indicator", "spec_version": "2.1",
                           "version": parse_timestamp(obj["modified"]), "producer_id": producer}
                seq = _insert(conn, models.StixObject, {**columns, "content_hash": obj["id"][-36:],
                                                        "raw": str(obj), "stored_at": t})
                _insert(conn, models.Membership, {**columns, "collection_id": collection_id, "object_seq": seq,
                                                  "date_added": date_added})

    seen: list[tuple[int, int]] = []
    after: Position | None = None
    with get_engine().connect() as conn:
        while True:
            flt = ObjectFilter(limit=limit, versions=ALL_VERSIONS, after=after)
            rows, more = object_store.page(conn, mine, flt, true(), with_raw=False)
            assert len(rows) == limit or not more
            seen += [(r.date_added, r.seq) for r in rows]
            if not more:
                break
            token = issue(flt, following([r.date_added for r in rows], after), b"scope", b"secret")
            after = redeem(token, b"scope", b"secret").position
    assert len(seen) == len(dates)
    assert seen == sorted(set(seen))
    assert Counter(d for d, _ in seen) == Counter(dates)
