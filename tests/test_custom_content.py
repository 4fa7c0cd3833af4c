"""Custom content is accepted (STIX 2.1 §11.1-11.2 allow it) but named in the status, in strict and lenient
collections alike: a property without the x_ prefix that STIX does not define (often a typo such as
indicator_type), and a custom object type. Before, both passed silently."""

import uuid

import pytest

from app.stix.custom import custom_findings
from app.stix.findings import article
from tests.sharing_helpers import collection
from tests.support.server import Participant, Server
from tests.support.stix import TLP_GREEN, envelope, indicator, ts


@pytest.fixture(scope="module", params=["strict", "lenient"])
def target(request: pytest.FixtureRequest, server: Server, shared_collection: str) -> str:
    if request.param == "strict":
        return shared_collection
    return collection(server, f"lenient-{uuid.uuid4().hex[:8]}", lenient=True)


def _status(lab: Participant, cid: str, *objects: dict) -> dict:
    response = lab.client.post(f"collections/{cid}/objects/", json=envelope(*objects),
                               headers={"Content-Type": "application/taxii+json;version=2.1"})
    assert response.status_code == 202, response.text
    return response.json()


def _custom_object(stix_type: str) -> dict:
    return {"type": stix_type, "spec_version": "2.1", "id": f"{stix_type}--{uuid.uuid4()}", "created": ts(),
            "modified": ts(), "object_marking_refs": [TLP_GREEN], "text": "hello"}


def test_custom_properties_and_types_are_named(lab: Participant, target: str) -> None:
    typo = indicator(indicator_type=["malicious-activity"], x_lab_score=7)
    custom = _custom_object("x-lab-note")
    clean = indicator()
    status = _status(lab, target, typo, custom, clean)
    assert (status["success_count"], status["failure_count"]) == (3, 0)
    messages = {s["id"]: s.get("message") for s in status["successes"]}
    assert messages[typo["id"]] == ("accepted with warnings: indicator_type: is not a STIX 2.1 property of an "
                                    "indicator (did you mean indicator_types?); custom property names should "
                                    "start with x_")
    assert "'x-lab-note' is a custom object type" in messages[custom["id"]]
    assert messages[clean["id"]] is None



def test_a_type_longer_than_the_store_holds_is_refused_by_name(lab: Participant, target: str) -> None:
    """STIX allows types of up to 250 characters; the store keeps ids and types in columns of 150 and 100. A longer
    type was a 500 on PostgreSQL (value too long for character varying) and stored on SQLite, which ignores
    declared lengths: now it is a failure of that object, saying why, on both, and the longest type that fits is
    stored and served back whole."""
    longest, too_long = _custom_object("x-" + "a" * 98), _custom_object("x-" + "b" * 99)
    status = _status(lab, target, longest, too_long, indicator())
    assert (status["success_count"], status["failure_count"]) == (2, 1)
    [failure] = status["failures"]
    assert failure["id"] == too_long["id"]
    assert "'type' is 101 characters: this exchange stores types of up to 100" in failure["message"]
    served = lab.client.get(f"collections/{target}/objects/{longest['id']}/").json()["objects"]
    assert served == [longest]
    assert lab.client.get(f"collections/{target}/objects/{too_long['id']}/").status_code == 404

def test_article_and_findings() -> None:
    assert [article(w) for w in ("indicator", "user-account", "x509-certificate", "malware", "url")] == [
        "an indicator", "a user-account", "an x509-certificate", "a malware", "a url"]
    assert custom_findings(indicator(x_anything=1)) == []
    extension = {"extension-definition--" + str(uuid.uuid4()): {"extension_type": "toplevel-property-extension"}}
    assert custom_findings(indicator(score=1, extensions=extension)) == []
    assert [f.path for f in custom_findings({"type": "ipv4-addr", "value": "1.2.3.4", "vlaue": "x"})] == ["vlaue"]
