"""Cortex XSOAR's "TAXII 2 Feed" (TAXII2ApiModule.py over taxii2-client): discovery, the API root chosen by the
second-to-last segment of its URL, the collection chosen by title, pages of 100 through ``as_pages`` with
``added_after`` and ``match[type]=indicator,relationship``, stopping at the first empty page, and the highest
``modified`` it parsed sent back as the next ``added_after``. Authenticated as XSOAR lets users: Basic, the
``_api_token_key`` user (``Authorization: Token``) and the ``_header:X-API-Key`` user."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from requests.auth import AuthBase, HTTPBasicAuth
from taxii2client.common import TokenAuth
from taxii2client.v21 import ApiRoot, as_pages
from taxii2client.v21 import Server as TaxiiServer

from tests.clients.wire import Corpus, HeaderAuth, Wire, discovery_url, grow
from tests.support.server import Participant, Server

TYPES = ["indicator", "relationship"]


def _credentials(username: str, password: str, key_id: str) -> AuthBase:
    """XSOAR's mapping of its credentials field onto requests auth."""
    if username == "_api_token_key":
        return TokenAuth(password)
    if username.startswith("_header:"):
        return HeaderAuth(username.removeprefix("_header:"), password)
    return HTTPBasicAuth(key_id, password)


def _api_root(server: TaxiiServer, name: str) -> ApiRoot:
    by_name = [r for r in server.api_roots if r.url.split("/")[-2] == name]
    return by_name[0] if by_name else server.default or server.api_roots[0]


def _fetch(auth: AuthBase, base: str, title: str, added_after: str, wire: Wire) -> tuple[list[str], str]:
    """One fetch-indicators run: the ids it parsed and its new checkpoint (the highest modified)."""
    root = _api_root(TaxiiServer(base, auth=wire.auth(auth)), "exchange")
    [collection] = [c for c in root.collections if c.title == title]
    ids, checkpoint = [], added_after
    for page in as_pages(collection.get_objects, per_request=100, added_after=added_after, type=TYPES):
        objects = page.get("objects", [])
        if not objects:
            break
        ids += [o["id"] for o in objects]
        checkpoint = max([checkpoint, *(o["modified"] for o in objects if "modified" in o)])
    return ids, checkpoint


@pytest.mark.parametrize("username", ["key-id", "_api_token_key", "_header:X-API-Key"])
def test_fetch_indicators_twice(server: Server, corpus: Corpus, reader: Participant, lab: Participant,
                                outsider: Participant, username: str) -> None:
    wire = Wire()
    auth = _credentials(username, reader.secret, reader.key_id)
    title = next(c["title"] for c in reader.client.get("collections/").json()["collections"]
                 if c["id"] == corpus.collection_id)
    grow(corpus, lab, outsider, size=30)  # over 100 indicators and relationships: several pages
    first_fetch = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ids, checkpoint = _fetch(auth, discovery_url(server), title, first_fetch, wire)
    corpus.expect(ids, types=TYPES)
    assert len(ids) > 100 and len(ids) == len(set(ids))  # several pages, nothing twice
    pages = [parse_qs(urlsplit(u).query) for u in wire.urls() if "/objects/" in u]
    assert pages[0]["match[type]"] == ["indicator,relationship"] and pages[0]["limit"] == ["100"]
    assert all("next" in p for p in pages[1:])

    new = grow(corpus, lab, outsider, size=4)
    again, _ = _fetch(auth, discovery_url(server), title, checkpoint, wire)
    # the checkpoint is a modified, compared with date_added: every new object arrives, older ones may again
    assert {o["id"] for o in new if o["type"] in TYPES} <= corpus.content(again) <= corpus.wanted(TYPES)
    wire.assert_no_errors()
