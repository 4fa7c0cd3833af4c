"""Splunk's CTIS TAXII app, pushing: Basic to the API root, the collections (greying out ``can_write: false``),
a POST of a STIX bundle as ``application/stix+json;version=2.1`` (422 or 415 before), then ``status/{id}/``
polled until it is complete."""

import uuid

import httpx
import pytest

from tests.clients.wire import STIX_SPACED, Corpus, Wire, campaign
from tests.support.server import TAXII, Participant, Server


@pytest.mark.parametrize("media_type", ["application/stix+json;version=2.1", STIX_SPACED])
def test_push_a_bundle(server: Server, corpus: Corpus, lab: Participant, reader: Participant,
                       media_type: str) -> None:
    wire = Wire()
    objects = campaign(size=5)
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    with wire.httpx(server.root_url, headers={"Accept": TAXII}, auth=httpx.BasicAuth(lab.key_id, lab.secret)) as client:
        assert client.get("").json()["max_content_length"] > 0
        writable = [c["id"] for c in client.get("collections/").json()["collections"] if c["can_write"]]
        assert corpus.collection_id in writable
        posted = client.post(f"collections/{corpus.collection_id}/objects/", json=bundle,
                             headers={"Content-Type": media_type})
        assert posted.status_code == 202, posted.text
        for _poll in range(60):
            status = client.get(f"status/{posted.json()['id']}/").json()
            if status["status"] == "complete":
                break
        assert (status["success_count"], status["failure_count"], status["total_count"]) == (15, 0, 15)
    corpus.entitled.update((o["id"], o) for o in objects)
    seen = reader.client.get(f"collections/{corpus.collection_id}/objects/",
                             params={"match[id]": ",".join(o["id"] for o in objects)}).json()["objects"]
    assert seen == objects
    wire.assert_no_errors()
