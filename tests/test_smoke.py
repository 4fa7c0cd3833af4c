"""The shortest end-to-end path: post an indicator, read it back."""

from tests.support.stix import envelope, indicator


def test_post_and_read_back(server, lab, shared_collection):
    obj = indicator()
    status = lab.client.post(f"collections/{shared_collection}/objects/", json=envelope(obj),
                             headers={"Content-Type": "application/taxii+json;version=2.1"})
    assert status.status_code == 202, status.text
    assert status.json()["success_count"] == 1
    got = lab.client.get(f"collections/{shared_collection}/objects/{obj['id']}/")
    assert got.status_code == 200
    assert got.json()["objects"] == [obj]
