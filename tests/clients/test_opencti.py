"""OpenCTI, three ways:

- the taxii2 connector (external-import/taxii2, over taxii2-client): discovery, API root by ``url.split("/")[-2]``,
  collection by title, no ``limit``, then ``next`` alone (it drops ``added_after``) while ``more``; its own clock
  at run start as ``….000000Z`` as checkpoint; Token (USE_TOKEN) or a header (USE_APIKEY);
- the platform's TAXII ingestion (ingestionTaxii.ts): only GET ``objects/``, Bearer, one page per tick with
  ``next`` and ``added_after`` together, no ``limit``; stores ``X-TAXII-Date-Added-Last`` re-serialised with
  milliseconds as the next ``added_after``;
- the taxii-post stream: one object per POST, wrapped in a bundle carrying ``spec_version``, with
  ``Content-Type: application/stix+json; version=2.1`` and ``Accept: application/taxii+json; version=2.1``."""

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from requests.auth import AuthBase
from taxii2client.common import TokenAuth
from taxii2client.v21 import Server as TaxiiServer

from tests.clients.wire import STIX_SPACED, TAXII_SPACED, Corpus, HeaderAuth, Wire, campaign, discovery_url, grow
from tests.support.server import TAXII, Participant, Server


def _connector_run(auth: AuthBase, server: Server, collection_id: str, added_after: str, wire: Wire) -> list[str]:
    discovery = TaxiiServer(discovery_url(server), auth=wire.auth(auth))
    [root] = [r for r in discovery.api_roots if r.url.split("/")[-2] == "exchange"]
    title = next(c.title for c in root.collections if c.id == collection_id)
    [collection] = [c for c in root.collections if c.title == title]
    page = collection.get_objects(added_after=added_after)
    ids = [o["id"] for o in page.get("objects", [])]
    while page.get("more"):
        page = collection.get_objects(next=page["next"])
        ids += [o["id"] for o in page.get("objects", [])]
    return ids


@pytest.mark.parametrize("auth", ["USE_TOKEN", "USE_APIKEY"])
def test_connector(server: Server, corpus: Corpus, reader: Participant, lab: Participant, outsider: Participant,
                   auth: str) -> None:
    wire = Wire()
    credentials = TokenAuth(reader.secret) if auth == "USE_TOKEN" else HeaderAuth("X-API-Key", reader.secret)
    first = (datetime.now(UTC) - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    run_start = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    corpus.expect(_connector_run(credentials, server, corpus.collection_id, first, wire))
    follow = [parse_qs(urlsplit(u).query) for u in wire.urls() if "/objects/" in u][1:]
    assert follow and all(set(q) == {"next"} for q in follow)  # next alone: the query is in the token

    new = grow(corpus, lab, outsider, size=2)
    again = _connector_run(credentials, server, corpus.collection_id, run_start, wire)
    assert {o["id"] for o in new} <= corpus.content(again) <= corpus.wanted()
    wire.assert_no_errors()


def _ms(header: str) -> str:
    """OpenCTI's re-serialisation of the header: a JavaScript Date's toISOString(), milliseconds."""
    moment = datetime.fromisoformat(header.replace("Z", "+00:00"))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_platform_ingestion(server: Server, corpus: Corpus, reader: Participant, lab: Participant,
                            outsider: Participant) -> None:
    wire = Wire()
    objects_url = f"{server.root_url}collections/{corpus.collection_id}/objects/"
    received: list[str] = []
    with wire.httpx(objects_url, headers={"Accept": TAXII, "Authorization": f"Bearer {reader.secret}"}) as client:
        added_after = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z")
        token, grown = None, False
        for _tick in range(100):
            params = {"added_after": added_after, **({"next": token} if token else {})}
            answer = client.get("", params=params)
            body = answer.json()
            received += [o["id"] for o in body.get("objects", [])]
            token = body.get("next") if body.get("more") else None
            if token is None:
                if "X-TAXII-Date-Added-Last" in answer.headers:
                    added_after = _ms(answer.headers["X-TAXII-Date-Added-Last"])
                if grown:
                    break
                new, grown = grow(corpus, lab, outsider, size=2), True
    corpus.expect(received)  # duplicates allowed (milliseconds round down), losses not
    assert {o["id"] for o in new} <= set(received)
    wire.assert_no_errors()


@pytest.mark.parametrize("auth", ["bearer", "basic"])
def test_taxii_post_stream(server: Server, corpus: Corpus, lab: Participant, reader: Participant,
                           auth: str) -> None:
    wire = Wire()
    credentials = {"headers": {"Authorization": f"Bearer {lab.secret}"}} if auth == "bearer" else {
        "auth": httpx.BasicAuth(lab.key_id, lab.secret)}
    objects = campaign()
    with wire.httpx(f"{server.root_url}collections/{corpus.collection_id}/objects/", **credentials) as client:
        for obj in objects:
            bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "spec_version": "2.1", "objects": [obj]}
            answer = client.post("", json=bundle, headers={"Content-Type": STIX_SPACED, "Accept": TAXII_SPACED})
            assert answer.status_code == 202 and answer.json()["success_count"] == 1, answer.text
            assert answer.headers["Content-Type"] == TAXII
    corpus.entitled.update((o["id"], o) for o in objects)
    seen = reader.client.get(f"collections/{corpus.collection_id}/objects/",
                             params={"match[id]": ",".join(o["id"] for o in objects)}).json()["objects"]
    assert seen == objects
    wire.assert_no_errors()
