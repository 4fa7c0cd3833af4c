"""The ``next`` token (issues 12 and 13): opaque, authenticated, bound to its reader, carrying its query, and
independent of activity the reader cannot see."""

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection

from app.sharing import reads
from app.sharing.access import Caller
from app.store import models
from app.store.collections import CollectionRow
from app.store.engine import get_engine
from app.store.migrate import upgrade_to_head
from app.store.queries import ALL_VERSIONS, ObjectFilter
from app.taxii.cursor import issue
from tests.sharing_helpers import accepted, collection, mint, sdo
from tests.support.server import Participant, Server, running_server
from tests.support.stix import TLP_AMBER, TLP_GREEN
from tests.test_migrations import database_url  # noqa: F401  (fixture: an empty database per backend)
from tests.test_pagination import _insert

Feed = tuple[str, str, list[str], list[str]]  # collection, cutoff, indicators after it, everything after it
PAGE_DEFAULT = 3  # small, so that clients sending no limit (OpenCTI's platform ingestion) page too


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {"AISX_PAGE_DEFAULT": str(PAGE_DEFAULT)}
    with running_server(tmp_path_factory.mktemp("aisx"), settings=settings) as srv:
        yield srv


def _b64(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json().get("objects", [])]


def _follow(client: httpx.Client, path: str, first: dict[str, str], then: dict[str, str]) -> list[str]:
    """Every id of a paged read: ``first`` for the first request, then ``next`` plus ``then`` (what the client
    sends along with it)."""
    response = client.get(path, params=first)
    ids = _ids(response)
    while response.json().get("more"):
        response = client.get(path, params={**then, "next": response.json()["next"]})
        ids += _ids(response)
        assert len(ids) < 1000, "paging does not end"
    return ids


@pytest.fixture(scope="module")
def feed(server: Server, lab: Participant) -> Feed:
    """A collection with indicators and malware posted before and after a cutoff; returns the collection, the
    cutoff (as X-TAXII-Date-Added-Last), the indicators added after it and everything added after it, in
    order."""
    cid = collection(server, f"feed-{uuid.uuid4().hex[:8]}")
    for _ in range(4):
        accepted(lab.client, cid, sdo("indicator"), sdo("malware"))
    head = lab.client.get(f"collections/{cid}/manifest/", params={"limit": "1000"})
    cutoff = head.headers["X-TAXII-Date-Added-Last"]
    later = [(sdo("indicator"), sdo("malware")) for _ in range(7)]
    for pair in later:
        accepted(lab.client, cid, *pair)
    return cid, cutoff, [i["id"] for i, _ in later], [o["id"] for pair in later for o in pair]


# ------------------------------------------------------------------ issue 13: next carries its query


ADDED_AFTER = "{cutoff}"  # stands for the feed's cutoff in the parameters below


@pytest.mark.parametrize(("first", "then", "everything"), [
    # OpenCTI taxii2 connector (taxii2-client): filters on the first request, next alone afterwards
    ({"added_after": ADDED_AFTER, "match[type]": "indicator"}, {}, False),
    ({"added_after": ADDED_AFTER, "match[type]": "indicator", "limit": "2"}, {}, False),
    # Elastic ti_custom: ?next=…&limit=… without added_after
    ({"added_after": ADDED_AFTER, "limit": "2"}, {"limit": "2"}, True),
    # OpenCTI platform ingestion: next together with the original added_after, no limit
    ({"added_after": ADDED_AFTER}, {"added_after": ADDED_AFTER}, True),
    # a client repeating every original filter (TAXII 2.1 §3.4)
    ({"added_after": ADDED_AFTER, "match[type]": "indicator", "limit": "2"},
     {"added_after": ADDED_AFTER, "match[type]": "indicator", "limit": "2"}, False),
], ids=["opencti-connector", "opencti-connector-limit", "elastic", "opencti-platform", "repeating-client"])
def test_next_continues_its_query_however_the_client_follows_it(
        lab: Participant, feed: Feed, first: dict[str, str], then: dict[str, str], everything: bool) -> None:
    cid, cutoff, indicators, added = feed
    path = f"collections/{cid}/objects/"

    def real(params: dict[str, str]) -> dict[str, str]:
        return {k: cutoff if v == ADDED_AFTER else v for k, v in params.items()}

    assert _follow(lab.client, path, real(first), real(then)) == (added if everything else indicators)


def test_next_refuses_filters_that_differ_from_its_query(lab: Participant, feed: Feed) -> None:
    cid, cutoff, _, _ = feed
    path = f"collections/{cid}/objects/"
    token = lab.client.get(path, params={"added_after": cutoff, "limit": "1"}).json()["next"]
    for name, value in (("added_after", "2000-01-01T00:00:00Z"), ("match[type]", "indicator")):
        response = lab.client.get(path, params={"added_after": cutoff, name: value, "next": token})
        assert response.status_code == 400, response.text
        assert name in response.json()["description"]


def test_a_query_too_large_to_carry_is_followed_with_its_filters(
        server: Server, lab: Participant, feed: Feed) -> None:
    """match[id] with 100 ids does not fit: the token carries a digest instead and stays small, so the
    follow-up URL (filters repeated) stays under max_query_length."""
    cid, _, expected, _ = feed
    path = f"collections/{cid}/objects/"
    params = {"match[id]": ",".join(expected + [f"indicator--{uuid.uuid4()}" for _ in range(100 - len(expected))]),
              "limit": "2"}
    first = lab.client.get(path, params=params)
    token = first.json()["next"]
    assert len(token) < 200
    assert len(str(httpx.QueryParams({**params, "next": token}))) < 8192
    assert _follow(lab.client, path, params, params) == expected
    refused = lab.client.get(path, params={"next": token})
    assert refused.status_code == 400 and "original query's filters" in refused.json()["description"]


# ------------------------------------------------------------------ issue 12: opaque and bound


def _hidden(poster: Participant, count: int) -> list[dict[str, Any]]:
    """AMBER indicators addressed to ``poster`` alone: nobody else can see them."""
    audience = mint(poster.client, identities=(poster.identity_id,))["id"]
    return [sdo("indicator", marking=[TLP_AMBER, audience]) for _ in range(count)]


def test_next_exposes_no_counter(lab: Participant, make_participant: Any, server: Server) -> None:
    """Another lab's AMBER objects (invisible to ``lab``) posted between two of lab's objects advance the
    exchange's sequence numbers; the old token was base64 of "1.<date_added>.<seq>.<hash>", so subtracting two
    tokens counted them. Now a token decodes to nothing readable."""
    other = make_participant()
    cid = collection(server, f"count-{uuid.uuid4().hex[:8]}")
    accepted(lab.client, cid, sdo("indicator"))
    accepted(other.client, cid, *_hidden(other, 5))
    accepted(lab.client, cid, sdo("indicator"), sdo("indicator"))
    path = f"collections/{cid}/objects/"
    tokens = []
    response = lab.client.get(path, params={"limit": "1", "match[type]": "indicator"})
    while response.json().get("more"):
        tokens.append(response.json()["next"])
        response = lab.client.get(path, params={"next": tokens[-1]})
    assert len(tokens) == 2
    for token in tokens:
        assert not _b64(token).isascii()  # 2**-40 for a random token; the old one was ASCII digits


def test_foreign_tampered_and_misplaced_tokens_get_one_and_the_same_400(
        lab: Participant, make_participant: Any, feed: Feed, server: Server) -> None:
    cid, _, _, _ = feed
    other = make_participant()
    path = f"collections/{cid}/objects/"
    token = lab.client.get(path, params={"limit": "1"}).json()["next"]
    assert other.client.get(path, params={"limit": "1"}).status_code == 200  # other may read the collection
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    refusals = [
        other.client.get(path, params={"next": token}),  # another reader's token
        lab.client.get(path, params={"next": flipped}),  # tampered
        lab.client.get(path, params={"next": "garbage"}),  # malformed
        lab.client.get(f"collections/{cid}/manifest/", params={"next": token}),  # another endpoint
        lab.client.get(f"collections/{collection(server, 'elsewhere-' + uuid.uuid4().hex[:6])}/objects/",
                       params={"next": token}),  # another collection
    ]
    assert [r.status_code for r in refusals] == [400] * len(refusals)
    assert len({r.content for r in refusals}) == 1


def test_hidden_posts_do_not_change_the_token(lab: Participant, make_participant: Any, server: Server) -> None:
    """The same page asked again after invisible objects arrived carries the same bytes, and continues the
    same way."""
    other = make_participant()
    cid = collection(server, f"quiet-{uuid.uuid4().hex[:8]}")
    mine = [sdo("indicator") for _ in range(3)]
    for obj in mine:
        accepted(lab.client, cid, obj)
    path = f"collections/{cid}/objects/"
    params = {"limit": "1", "match[type]": "indicator"}
    before = lab.client.get(path, params=params).json()["next"]
    accepted(other.client, cid, *_hidden(other, 4))
    after = lab.client.get(path, params=params).json()["next"]
    assert after == before
    assert _follow(lab.client, path, params, {}) == [o["id"] for o in mine]


# ------------------------------------------------------------------ noninterference, two worlds


def _world(conn: Connection, cid: str, reader: int, stranger: int, dates: list[tuple[int, bool]]) -> None:
    """A collection with rows at ``dates``: (date_added, visible to ``reader``). Hidden rows are RED objects
    of ``stranger`` with no recipients."""
    _insert(conn, models.Collection, {"id": cid, "api_root": "exchange", "alias": cid[:8], "title": cid,
                                      "public": False, "created_at": 0})
    for date_added, visible in dates:
        stix_id = f"indicator--{uuid.uuid4()}"
        columns = {"stix_id": stix_id, "type": "indicator", "spec_version": "2.1", "version": 1,
                   "producer_id": reader if visible else stranger}
        seq = _insert(conn, models.StixObject, {**columns, "content_hash": stix_id, "raw": "{}", "stored_at": 0,
                                                "tlp": 1 if visible else 4, "is_latest": True})
        _insert(conn, models.Membership, {**columns, "collection_id": cid, "object_seq": seq,
                                          "date_added": date_added, "is_latest": True, "is_first": True})


def _tokens(conn: Connection, reader: Caller, cid: str, limit: int) -> list[str]:
    """The tokens of a full paging, each sealed with one fixed key and scope: only their content can differ."""
    row = CollectionRow(cid, "exchange", None, cid, None, False)
    flt, tokens = ObjectFilter(versions=ALL_VERSIONS, limit=limit), []
    while True:
        page = reads.page(conn, reader, row, flt, with_raw=False)
        if page.resume_at is None:
            return tokens
        tokens.append(issue(flt, page.resume_at, b"one scope", b"one key"))
        flt = ObjectFilter(versions=ALL_VERSIONS, limit=limit, after=page.resume_at)


@pytest.mark.usefixtures("database_url")
@pytest.mark.parametrize("limit", [1, 2])
def test_tokens_are_the_same_with_and_without_hidden_rows(limit: int) -> None:
    """Two collections the reader sees identically — same rows, same date_added, including a tie — one of
    them with hidden rows between (and at the dates of) the visible ones, so every visible row has another
    sequence number there. Every token of a paging is byte-identical in both: nothing in it depends on what
    the reader cannot see."""
    upgrade_to_head()
    t = 1_700_000_000_000_000
    visible = [(t, True), (t + 10, True), (t + 10, True), (t + 20, True), (t + 30, True)]
    hidden = [(t + 5, False), (t + 10, False), (t + 15, False), (t + 30, False), (t + 31, False)]
    with get_engine().begin() as conn:
        _insert(conn, models.ApiRoot, {"name": "exchange", "title": "AISX", "max_content_length": 1_000_000})
        reader, stranger = (_insert(conn, models.Participant, {
            "slug": slug, "name": slug, "kind": "lab", "created_at": 0, "identity_id": f"identity--{uuid.uuid4()}",
            "pseudonym_identity_id": f"identity--{uuid.uuid4()}"}) for slug in ("reader", "stranger"))
        _world(conn, "quiet", reader, stranger, visible)
        _world(conn, "busy", reader, stranger, sorted(visible[:2] + hidden[:3] + visible[2:] + hidden[3:]))
    caller = Caller(reader, "reader", "lab", (), "identity--r", "identity--p", "key")
    with get_engine().connect() as conn:
        quiet, busy = _tokens(conn, caller, "quiet", limit), _tokens(conn, caller, "busy", limit)
    assert len(quiet) == (len(visible) - 1) // limit
    assert busy == quiet


def test_green_objects_of_others_page_like_own(lab: Participant, make_participant: Any, server: Server) -> None:
    """Visible objects of other producers interleaved with one's own page in order (the position counts only
    what the reader is served)."""
    other = make_participant()
    cid = collection(server, f"mixed-{uuid.uuid4().hex[:8]}")
    posted = []
    for who in (lab, other, other, lab, other):
        obj = sdo("indicator", marking=TLP_GREEN)
        accepted(who.client, cid, obj)
        posted.append(obj["id"])
    assert _follow(lab.client, f"collections/{cid}/objects/", {"limit": "2", "match[type]": "indicator"}, {}) \
        == posted
