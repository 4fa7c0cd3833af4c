"""taxii2-client 2.3.0, the library under XSOAR, the OpenCTI connector, MISP modules and Splunk's CTIS app:
discovery → API root → collections → paged objects, and a POST, with each way it can authenticate:
Basic, ``TokenAuth`` (``Authorization: Token <key>``, 401 before) and a key in a header of the user's choosing."""

import base64
from typing import Any

import httpx
import pytest
import requests
from requests.auth import AuthBase, HTTPBasicAuth
from taxii2client.common import TokenAuth
from taxii2client.v21 import Collection, as_pages
from taxii2client.v21 import Server as TaxiiServer

from tests.clients.wire import Corpus, HeaderAuth, Wire, campaign, discovery_url
from tests.support.server import TAXII, TLS, Participant, Server


def _auth(kind: str, who: Participant) -> AuthBase:
    return {"basic": HTTPBasicAuth(who.key_id, who.secret), "token": TokenAuth(who.secret),
            "api-key header": HeaderAuth("X-API-Key", who.secret)}[kind]


@pytest.mark.parametrize("kind", ["basic", "token", "api-key header"])
def test_discover_page_and_post(server: Server, corpus: Corpus, reader: Participant, kind: str) -> None:
    wire = Wire()
    discovery = TaxiiServer(discovery_url(server), auth=wire.auth(_auth(kind, reader)))
    root = discovery.default
    assert root is not None and root.max_content_length > 0 and TAXII in root.versions
    shared = next(c for c in root.collections if c.id == corpus.collection_id)
    received = [obj["id"] for page in as_pages(shared.get_objects, per_request=50) for obj in page.get("objects", [])]
    corpus.expect(received)
    mine = campaign()
    status = shared.add_objects({"objects": mine})
    corpus.entitled.update((o["id"], o) for o in mine)
    assert (status.success_count, status.failure_count) == (3, 0)
    status.refresh()
    assert status.status == "complete"
    wire.assert_no_errors()
    assert all(e.headers["Accept"] == TAXII for e in wire.seen)


def test_token_scheme_in_any_case_and_a_bare_collection_url(server: Server, corpus: Corpus,
                                                            reader: Participant) -> None:
    """A Collection built from its URL alone (how Sentinel-like setups and scripts use it), over TokenAuth."""
    wire = Wire()
    url = f"{server.root_url}collections/{corpus.collection_id}/"
    collection = Collection(url, auth=wire.auth(TokenAuth(reader.secret)))
    assert collection.can_read
    envelope = collection.get_objects(limit=5)
    assert len(envelope["objects"]) == 5
    basic = base64.b64encode(f"{reader.key_id}:{reader.secret}".encode()).decode()
    for value in (f"token {reader.secret}", f"TOKEN {reader.secret}", f"bearer {reader.secret}", f"BASIC {basic}"):
        answer = httpx.get(url, headers={"Authorization": value, "Accept": TAXII}, verify=TLS)
        assert answer.status_code == 200, (value.split()[0], answer.text)
    wire.assert_no_errors()


@pytest.mark.parametrize("auth", [{"auth": TokenAuth("not-a-key")}, {"auth": HeaderAuth("X-API-Key", "nope")},
                                  {}])
def test_refused_credentials_name_every_scheme(server: Server, auth: dict[str, Any]) -> None:
    with pytest.raises(requests.HTTPError) as caught:
        TaxiiServer(discovery_url(server), **auth).refresh()
    response = caught.value.response
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert all(scheme in challenge for scheme in ("Bearer", "Token", "Basic"))
    assert response.headers["Content-Type"] == TAXII
