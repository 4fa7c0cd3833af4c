"""MISP, both directions.

- Push (the TAXII push server sync): GET the API root (it needs ``max_content_length``), GET the collection (it
  needs ``can_write``), then POST envelopes split to stay under ``max_content_length``, Basic authentication
  with the scheme written ``basic``; it reads ``failure_count`` from each status.
- Browse (the TAXII servers view): ``Accept`` and ``Content-type`` on GET, ``objects/?limit=50&next=`` with an
  empty ``next`` first, then the ``next`` it was given; the import module sends ``match[spec_version]=2.1``."""

import base64
import json

import pytest

from tests.clients.conftest import MAX_CONTENT_LENGTH
from tests.clients.wire import Corpus, Wire, campaign
from tests.support.server import TAXII, Participant, Server


def _basic(who: Participant) -> dict[str, str]:
    return {"Authorization": "basic " + base64.b64encode(f"{who.key_id}:{who.secret}".encode()).decode()}


def _split(objects: list[dict], limit: int) -> list[bytes]:
    """MISP's splitting: fill an envelope until the next object would take it over the limit."""
    bodies, batch = [], []
    for obj in objects:
        if batch and len(json.dumps({"objects": [*batch, obj]}).encode()) > limit:
            bodies.append(json.dumps({"objects": batch}).encode())
            batch = []
        batch.append(obj)
    return [*bodies, json.dumps({"objects": batch}).encode()]


def test_push(server: Server, corpus: Corpus, lab: Participant, reader: Participant) -> None:
    wire = Wire()
    with wire.httpx(server.root_url, headers={"Accept": TAXII, **_basic(lab)}) as client:
        limit = client.get("").json()["max_content_length"]
        assert limit == MAX_CONTENT_LENGTH
        assert client.get(f"collections/{corpus.collection_id}/").json()["can_write"] is True
        objects = campaign(size=60)
        bodies = _split(objects, limit)
        assert len(bodies) > 1
        for body in bodies:
            status = client.post(f"collections/{corpus.collection_id}/objects/", content=body,
                                 headers={"Content-Type": TAXII}).json()
            assert status["failure_count"] == 0 and status["success_count"] == len(json.loads(body)["objects"])
    corpus.entitled.update((o["id"], o) for o in objects)
    wire.assert_no_errors()


@pytest.mark.parametrize("spec_version", [None, "2.1"])
def test_browse(server: Server, corpus: Corpus, reader: Participant, spec_version: str | None) -> None:
    wire = Wire()
    headers = {"Accept": TAXII, "Content-type": TAXII, **_basic(reader)}
    received: list[str] = []
    with wire.httpx(server.root_url, headers=headers) as client:
        collections = client.get("collections/").json()["collections"]
        assert any(c["id"] == corpus.collection_id for c in collections)
        token = ""
        while True:
            params = {"limit": 50, "next": token, **({"match[spec_version]": spec_version} if spec_version else {})}
            body = client.get(f"collections/{corpus.collection_id}/objects/", params=params).json()
            received += [o["id"] for o in body.get("objects", [])]
            if not body.get("more"):
                break
            token = body["next"]
    corpus.expect(received)
    wire.assert_no_errors()
