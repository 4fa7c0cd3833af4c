"""Key revocation and suspension take effect at once, whichever process serves the next request: one server
with two workers and a second server, both on the same database (DESIGN.md decisions 3 and 8)."""

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import orjson
import pytest

from tests.sharing_helpers import admin_client, admit, sdo, second_key
from tests.support.server import TAXII, TLS, Participant, Server, ThrowawayDatabase

ATTEMPTS = 8  # requests per check, each on a fresh connection, so that both workers answer some


@dataclass
class Cluster:
    a: Server  # two workers
    b: Server  # a separate process on the same database
    shared: str


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    database = ThrowawayDatabase(tmp_path_factory.mktemp("revocation"), migrated=True)
    a = Server(database.workdir, 0, database, workers=2)
    b = Server(tmp_path_factory.mktemp("revocation-b"), 0, database)
    try:
        a.start()
        b.start()
        b.admin_secret, b.admin_key_id = a.admin_secret, a.admin_key_id
        with admin_client(a) as admin:
            shared = next(c["id"] for c in admin.get("/taxii2/exchange/collections/", headers={
                "Accept": TAXII}).json()["collections"] if c.get("alias") == "shared")
        yield Cluster(a, b, shared)
    finally:
        a.stop()
        b.stop()
        database.drop()


def statuses(server: Server, key: Participant, path: str, *, basic: bool = False, post: bool = False) -> set[int]:
    """The statuses of ATTEMPTS requests, each on a new connection (no keep-alive: any worker may answer)."""
    found = set()
    headers = {"Accept": TAXII} if basic else {"Accept": TAXII, "Authorization": f"Bearer {key.secret}"}
    with httpx.Client(verify=TLS, base_url=server.root_url, headers=headers, auth=key.basic_auth if basic else None,
                      timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for _ in range(ATTEMPTS if not post else 2):
            if post:
                response = client.post(path, content=orjson.dumps({"objects": [sdo()]}),
                                       headers={"Content-Type": TAXII})
            else:
                response = client.get(path)
            if response.status_code == 401:
                assert "WWW-Authenticate" in response.headers
            found.add(response.status_code)
    return found


def everywhere(cluster: Cluster, key: Participant) -> set[int]:
    """What every kind of request with this key gets, from both servers (Bearer and Basic)."""
    objects = f"collections/{cluster.shared}/objects/"
    found: set[int] = set()
    for server in (cluster.a, cluster.b):
        found |= statuses(server, key, "collections/")
        found |= statuses(server, key, objects)
        found |= statuses(server, key, objects, post=True)
        found |= statuses(server, key, "collections/", basic=True)
    return {200 if s == 202 else s for s in found}


def test_revoking_a_key_takes_effect_at_once(cluster: Cluster) -> None:
    lab = admit(cluster.a, "revoke-lab", "lab")
    other = second_key(cluster.a, lab)
    assert everywhere(cluster, lab) == {200} and everywhere(cluster, other) == {200}  # known to every worker
    assert cluster.a.cli_json("key", "revoke", lab.key_id) == {"key_id": lab.key_id, "revoked": True}
    assert everywhere(cluster, lab) == {401}
    assert everywhere(cluster, other) == {200}  # the participant's other key still works
    with admin_client(cluster.b) as admin:  # revoked through the other server's admin API
        assert admin.delete(f"/admin/keys/{other.key_id}").json() == {"key_id": other.key_id, "revoked": True}
        assert admin.delete(f"/admin/keys/{other.key_id}").status_code == 404  # already revoked
    assert everywhere(cluster, other) == {401}
    events = cluster.a.cli_json("audit", "--action", "key.revoke")["events"]
    assert {lab.key_id, other.key_id} <= {e["key_id"] for e in events}


def test_suspension_takes_effect_at_once(cluster: Cluster) -> None:
    agency = admit(cluster.a, "suspend-agency", "agency", ("gov",))
    spare = second_key(cluster.a, agency)
    bystander = admit(cluster.a, "suspend-bystander", "lab")
    assert everywhere(cluster, agency) == {200}
    assert cluster.a.cli_json("participant", "suspend", agency.slug)["suspended"] is True
    assert everywhere(cluster, agency) == {401} and everywhere(cluster, spare) == {401}  # every key
    assert everywhere(cluster, bystander) == {200}
    with httpx.Client(verify=TLS,
                      base_url=cluster.b.base_url, headers={"Authorization": f"Bearer {agency.secret}"}) as client:
        assert client.post("/admin/audiences", json={"recipient_groups": ["gov"]}).status_code == 401
    listed = {p["slug"]: p for p in cluster.a.cli_json("participant", "list")["participants"]}
    assert listed[agency.slug]["suspended"] is True
    with admin_client(cluster.b) as admin:
        assert admin.post(f"/admin/participants/{agency.slug}/reinstate").json()["suspended"] is False
    assert everywhere(cluster, agency) == {200} and everywhere(cluster, spare) == {200}
    with admin_client(cluster.a) as admin:
        assert admin.post(f"/admin/participants/{agency.slug}/suspend").json()["suspended"] is True
    assert everywhere(cluster, spare) == {401}
    with admin_client(cluster.a) as admin:
        actions = [e["action"] for e in admin.get("/admin/audit", params={"order": "oldest"}).json()
                   if e["detail"] and agency.slug in str(e["detail"])]
    assert actions[-3:] == ["participant.suspend", "participant.reinstate", "participant.suspend"]
