"""Elastic's ti_custom integration (CEL program): only the configured objects URL; ``Content-Type`` sent on GET
(up to 0.8); the first request with ``added_after`` (now - initial interval, whole seconds) and ``limit``; then a
non-empty ``next`` followed as ``?next=…&limit=…`` without ``added_after``, whatever ``more`` says; the next run
starts from ``X-TAXII-Date-Added-Last`` echoed verbatim."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.clients.wire import Corpus, Wire, grow
from tests.support.server import TAXII, Participant, Server

LIMIT = 30


def _run(client: httpx.Client, added_after: str) -> tuple[list[str], str]:
    """One CEL run: every page until there is no next; the checkpoint it keeps."""
    received, checkpoint = [], added_after
    params: dict[str, Any] = {"added_after": added_after, "limit": LIMIT}
    while True:
        answer = client.get("", params=params)
        body = answer.json()
        assert ("next" in body) == bool(body.get("more")), body.keys()  # never next when more is false
        received += [o["id"] for o in body.get("objects", [])]
        checkpoint = answer.headers.get("X-TAXII-Date-Added-Last", checkpoint)
        if not body.get("next"):
            return received, checkpoint
        params = {"next": body["next"], "limit": LIMIT}


@pytest.mark.parametrize("auth", ["bearer", "basic"])
def test_polls(server: Server, corpus: Corpus, reader: Participant, lab: Participant, outsider: Participant,
               auth: str) -> None:
    wire = Wire()
    headers = {"Accept": TAXII, "Content-Type": TAXII}
    credentials: dict[str, Any] = {"auth": httpx.BasicAuth(reader.key_id, reader.secret)}
    if auth == "bearer":
        credentials = {"headers": {**headers, "Authorization": f"Bearer {reader.secret}"}}
    url = f"{server.root_url}collections/{corpus.collection_id}/objects/"
    with wire.httpx(url, **{"headers": headers, **credentials}) as client:
        start = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        received, checkpoint = _run(client, start)
        corpus.expect(received)
        assert len(received) == len(set(received))
        new = grow(corpus, lab, outsider, size=2)
        again, _ = _run(client, checkpoint)
    assert set(again) == {o["id"] for o in new}  # exactly what was added since: the header is exact
    assert all(e.headers["content-type"] == TAXII for e in wire.seen)
    wire.assert_no_errors()
