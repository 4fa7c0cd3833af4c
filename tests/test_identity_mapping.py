"""Identity mapping: an operator attaches the identity ids a lab already publishes under; objects they created
are then the lab's (issue 13 item 6)."""

import json
import uuid
from pathlib import Path
from typing import Any

from app.stix.markings import TLP2_CREATOR_ID
from tests.sharing_helpers import admin_client, admit
from tests.support.server import Server
from tests.support.stix import indicator

EXAMPLES = sorted((Path(__file__).parent / "data" / "examples").glob("[0-9][0-9]-*.json"))


def _identity(stix_id: str, name: str) -> dict[str, Any]:
    return {"type": "identity", "spec_version": "2.1", "id": stix_id, "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z", "name": name, "identity_class": "organization",
            "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}


def _post(client: Any, cid: str, *objects: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"collections/{cid}/objects/", json={"objects": list(objects)},
                           headers={"Content-Type": "application/taxii+json;version=2.1"})
    assert response.status_code == 202, response.text
    return response.json()


def test_claims_at_admission_later_and_removed(server: Server, shared_collection: str) -> None:
    early, later = f"identity--{uuid.uuid4()}", f"identity--{uuid.uuid4()}"
    squatter = admit(server, "idm-squatter")
    assert _post(squatter.client, shared_collection, _identity(later, "Not really"))["success_count"] == 1
    with admin_client(server) as admin:
        made = admin.post("/admin/participants", json={"slug": "idm-lab", "name": "Lab", "kind": "lab",
                                                       "claimed_identity_ids": [early]})
        assert made.status_code == 201 and made.json()["claimed_identity_ids"] == [early], made.text
        key = admin.post("/admin/participants/idm-lab/keys", json={}).json()
        view = server.cli_json("participant", "identity", "add", "idm-lab", later)
        assert view["claimed_identity_ids"] == sorted([early, later])
        events = admin.get("/admin/audit", params={"action": "participant.identity.add"}).json()
        assert {json.loads(e["detail"])["identity_id"] for e in events} >= {early, later}
    lab = server.client(key["secret"])
    # the squatter's identity object is withdrawn, and only the claimant may post one under the id now
    assert lab.get(f"collections/{shared_collection}/objects/{later}/").status_code == 404
    again = _post(squatter.client, shared_collection, _identity(later, "Not really"))
    assert again["failure_count"] == 1 and "identity of a participant" in again["failures"][0]["message"]
    assert _post(lab, shared_collection, _identity(later, "Lab (old name)"))["success_count"] == 1
    for creator in (early, later):
        assert _post(lab, shared_collection, indicator(created_by_ref=creator))["success_count"] == 1
        assert _post(squatter.client, shared_collection, indicator(created_by_ref=creator))["failure_count"] == 1
    server.cli("participant", "identity", "remove", "idm-lab", later)
    assert _post(lab, shared_collection, indicator(created_by_ref=later))["failure_count"] == 1
    assert server.cli("participant", "identity", "remove", "idm-lab", later, check=False).returncode == 2
    with admin_client(server) as admin:
        events = admin.get("/admin/audit", params={"action": "participant.identity.remove"}).json()
    assert any(json.loads(e["detail"])["identity_id"] == later for e in events)


def test_claims_refused_for_ids_in_use(server: Server, shared_collection: str) -> None:
    other = admit(server, "idm-other")
    exchange = next(o["id"] for o in other.client.get(f"collections/{shared_collection}/objects/", params={
        "match[type]": "identity"}).json()["objects"] if o.get("identity_class") == "system")
    taken = [other.identity_id, other.pseudonym_identity_id, exchange, TLP2_CREATOR_ID, "not-an-id"]
    with admin_client(server) as admin:
        for identity in taken:
            response = admin.post("/admin/participants/idm-other/identities", json={"identity_id": identity})
            assert response.status_code == 422, (identity, response.text)
        claimed = f"identity--{uuid.uuid4()}"
        assert admin.post("/admin/participants/idm-other/identities", json={"identity_id": claimed}).status_code == 201
        admit(server, "idm-rival")
        response = admin.post("/admin/participants/idm-rival/identities", json={"identity_id": claimed})
        assert response.status_code == 422 and "already in use" in response.text


def test_a_real_export_is_accepted_after_claiming(server: Server, tmp_path: Path) -> None:
    creators = {o["created_by_ref"] for f in EXAMPLES for o in json.loads(f.read_text())["objects"]
                if o.get("created_by_ref")}
    server.add_participant("idm-exporter", "lab")
    before = server.cli("ingest", *map(str, EXAMPLES), "--as", "idm-exporter", "--collection", "shared", "--json",
                        check=False)
    with server.admin_client() as admin:  # the CLI's ``participant identity add`` is tested above
        refused = [c for c in sorted(creators) if admin.post("/admin/participants/idm-exporter/identities",
                                                             json={"identity_id": c}).status_code != 201]
    assert len(refused) < len(creators) / 2, refused  # ids the exchange reserves, or another example's poster
    after = server.cli("ingest", *map(str, EXAMPLES), "--as", "idm-exporter", "--collection", "shared", "--json",
                       check=False)
    rejected_before, rejected_after = json.loads(before.stdout)["rejected"], json.loads(after.stdout)["rejected"]
    assert rejected_after < rejected_before, (rejected_before, rejected_after)
    print(f"example bundles: {rejected_before} rejected before claiming, {rejected_after} after; refused {refused}")
