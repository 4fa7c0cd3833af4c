"""Microsoft Sentinel's "Threat Intelligence - TAXII" connector: configured with the API-root URL and a
collection id (no discovery), optional user name and password (Basic); the first poll looks back to
``1970-01-01T00:00:00.000Z``, later polls ask for what was added since. Wire details are not documented: the
replay pages with ``next`` (with the original ``added_after``, as most clients do) and takes the last
``X-TAXII-Date-Added-Last`` as its next ``added_after``."""

from typing import Any

import httpx

from tests.clients.wire import Corpus, Wire, grow
from tests.support.server import TAXII, TLS, Participant, Server


def _poll(client: httpx.Client, collection_id: str, added_after: str) -> tuple[list[str], str]:
    received, checkpoint, params = [], added_after, {"added_after": added_after}
    while True:
        answer = client.get(f"collections/{collection_id}/objects/", params=params)
        body = answer.json()
        received += [o["id"] for o in body.get("objects", [])]
        checkpoint = answer.headers.get("X-TAXII-Date-Added-Last", checkpoint)
        if not body.get("more"):
            return received, checkpoint
        params = {"added_after": added_after, "next": body["next"]}


def test_lookback_then_incremental(server: Server, corpus: Corpus, reader: Participant, lab: Participant,
                                   outsider: Participant) -> None:
    wire = Wire()
    api_root_url = server.root_url.rstrip("/")  # as pasted into the connector, without the slash
    credentials: dict[str, Any] = {"auth": httpx.BasicAuth(reader.key_id, reader.secret)}
    with wire.httpx(api_root_url + "/", headers={"Accept": TAXII}, **credentials) as client:
        unslashed = httpx.get(api_root_url, headers={"Accept": TAXII}, follow_redirects=False, **credentials,
                              verify=TLS)
        assert unslashed.status_code == 200 and unslashed.json()["max_content_length"] > 0  # answered, no 307
        assert client.get(f"collections/{corpus.collection_id}/").json()["can_read"] is True
        received, checkpoint = _poll(client, corpus.collection_id, "1970-01-01T00:00:00.000Z")
        corpus.expect(received)
        new = grow(corpus, lab, outsider, size=2)
        again, _ = _poll(client, corpus.collection_id, checkpoint)
    assert set(again) == {o["id"] for o in new}
    wire.assert_no_errors()
