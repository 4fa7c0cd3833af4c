"""The stix2 library's DataStore over a taxii2-client Collection: ``TAXIICollectionStore.add`` wraps objects in
a STIX bundle and posts it (422 before); ``TAXIICollectionSource.query`` and ``get`` read them back."""

import stix2
from requests.auth import HTTPBasicAuth
from taxii2client.v21 import Collection

from tests.clients.wire import Corpus, Wire, campaign
from tests.support.server import Participant, Server


def test_add_then_query_and_get(server: Server, corpus: Corpus, lab: Participant, reader: Participant) -> None:
    wire = Wire()
    url = f"{server.root_url}collections/{corpus.collection_id}/"
    writer = stix2.TAXIICollectionStore(Collection(url, auth=wire.auth(HTTPBasicAuth(lab.key_id, lab.secret))))
    objects = campaign(size=2)
    writer.add([stix2.parse(o, allow_custom=False) for o in objects])
    corpus.entitled.update((o["id"], o) for o in objects)

    source = stix2.TAXIICollectionSource(Collection(url, auth=wire.auth(HTTPBasicAuth(reader.key_id, reader.secret))))
    indicators = source.query([stix2.Filter("type", "=", "indicator")])
    corpus.expect([i.id for i in indicators], types=["indicator"])
    one = source.get(objects[0]["id"])
    assert one is not None and one.id == objects[0]["id"] and one.pattern == objects[0]["pattern"]
    wire.assert_no_errors()
    hidden = next(i for i in corpus.hidden if i.startswith("indicator--"))
    assert source.get(hidden) is None  # a 404, exactly as for an id that does not exist
    assert wire.seen[-1].status == 404
