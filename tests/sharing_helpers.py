"""Helpers shared by the sharing-rule tests: fast participant set-up through the admin API, collections through
the CLI, minted audience markings, and reading everything a reader sees of a collection."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from tests.support.server import TAXII, Participant, Server
from tests.support.stix import TLP_GREEN

AUDIENCE_EXTENSION = "extension-definition--319e7e75-a626-4088-aace-986f2157fd95"
TLP1_WHITE = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
TLP1_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
TLP1_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
TLP1_RED = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
OPENCTI_AMBER_STRICT = "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"
TLP2_CREATOR = "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01"  # created the OASIS TLP 2.0 definitions
FAR_FUTURE = "2099-01-01T00:00:00Z"
EVERYTHING = {"match[version]": "all", "limit": "10000"}


def admin_client(server: Server) -> httpx.Client:
    return server.admin_client()


def admit(server: Server, slug: str, kind: str = "lab", groups: tuple[str, ...] = (),
          identity_id: str | None = None) -> Participant:
    """A participant with one key (labelled ``test``), made through the admin HTTP API."""
    return server.add_participant(slug, kind, groups, identity_id=identity_id, key_label="test")


def second_key(server: Server, participant: Participant) -> Participant:
    """The same participant, through a second API key."""
    with admin_client(server) as admin:
        key = admin.post(f"/admin/participants/{participant.slug}/keys", json={"label": "second"})
        assert key.status_code == 201, key.text
    secret = key.json()["secret"]
    return Participant(participant.slug, participant.id, participant.identity_id,
                       participant.pseudonym_identity_id, key.json()["key_id"], secret, server.client(secret))


def collection(server: Server, alias: str, *, grant: bool = True, **options: Any) -> str:
    """A collection made through the admin API (``options``: public, default_group, lenient, ...), readable and
    writable by every participant unless ``grant`` is false."""
    cid: str = server.add_collection(alias, f"Collection {alias}", **options)["id"]
    if grant:
        server.grant("everyone", cid, read=True, write=True)
    return cid


def mint(client: httpx.Client, *, identities: tuple[str, ...] = (), groups: tuple[str, ...] = (),
         embargo: str | None = None) -> dict[str, Any]:
    """An exchange-minted audience marking, through POST /admin/audiences with a participant key."""
    body: dict[str, Any] = {"recipient_identities": list(identities), "recipient_groups": list(groups)}
    if embargo:
        body["embargo_until"] = embargo
    response = client.post(str(client.base_url.copy_with(path="/admin/audiences")), json=body)
    assert response.status_code == 201, response.text
    return response.json()


def post(client: httpx.Client, cid: str, *objects: dict[str, Any]) -> dict[str, Any]:
    """POST an envelope; returns the status resource (202 expected)."""
    response = client.post(f"collections/{cid}/objects/", content=orjson.dumps({"objects": list(objects)}),
                           headers={"Content-Type": TAXII})
    assert response.status_code == 202, response.text
    return response.json()


def failures(status: dict[str, Any]) -> dict[str, str]:
    return {f["id"]: f["message"] for f in status.get("failures", [])}


def accepted(client: httpx.Client, cid: str, *objects: dict[str, Any]) -> dict[str, Any]:
    status = post(client, cid, *objects)
    assert status["success_count"] == len(objects), status
    return status


def rejected(client: httpx.Client, cid: str, obj: dict[str, Any], *fragments: str) -> str:
    """POST one object that must be refused; returns the failure message (which contains ``fragments``)."""
    status = post(client, cid, obj)
    assert status["failure_count"] == 1 and status["success_count"] == 0, status
    message = status["failures"][0]["message"]
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    return message


def stamp(offset_seconds: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def when(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def wait_until(timestamp: str, margin: float = 0.3) -> None:
    delay = (when(timestamp) - datetime.now(UTC)).total_seconds() + margin
    if delay > 0:
        assert delay < 60, f"refusing to wait {delay:.0f}s"
        time.sleep(delay)


def sdo(kind: str = "indicator", *, marking: str | list[str] = TLP_GREEN, created_by: str | None = None,
        stix_id: str | None = None, modified: str = "2026-01-01T00:00:00.000Z", **extra: Any) -> dict[str, Any]:
    """A small versioned object (indicator by default) with the given markings and creator."""
    markings = [marking] if isinstance(marking, str) else marking
    obj: dict[str, Any] = {"type": kind, "spec_version": "2.1", "id": stix_id or f"{kind}--{uuid.uuid4()}",
                           "created": "2026-01-01T00:00:00.000Z", "modified": modified}
    if kind == "indicator":
        obj.update(name="sharing-test marker", pattern="[url:value = 'https://evil.example/x']",
                   pattern_type="stix", valid_from="2026-01-01T00:00:00Z")
    elif kind == "malware":
        obj.update(name="sharing-test malware", is_family=False)
    if markings:
        obj["object_marking_refs"] = markings
    if created_by:
        obj["created_by_ref"] = created_by
    obj.update(extra)
    return obj


def relationship(source: str, target: str, *, marking: str | list[str] = TLP_GREEN, created_by: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    return sdo("relationship", marking=marking, created_by=created_by, relationship_type="indicates",
               source_ref=source, target_ref=target, **extra)


def sighting(of: str, *, marking: str | list[str] = TLP_GREEN, created_by: str | None = None) -> dict[str, Any]:
    return sdo("sighting", marking=marking, created_by=created_by, sighting_of_ref=of, count=1)


def ipv4(value: str, marking: str | list[str] = TLP_GREEN) -> dict[str, Any]:
    sco_namespace = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
    stix_id = f"ipv4-addr--{uuid.uuid5(sco_namespace, orjson.dumps({'value': value}).decode())}"
    markings = [marking] if isinstance(marking, str) else marking
    obj: dict[str, Any] = {"type": "ipv4-addr", "spec_version": "2.1", "id": stix_id, "value": value}
    if markings:
        obj["object_marking_refs"] = markings
    return obj


def canonical(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def pages(client: httpx.Client, path: str, params: dict[str, str], limit: int) -> list[httpx.Response]:
    """Every page of a paged endpoint, following ``next``."""
    responses: list[httpx.Response] = []
    query = {**params, "limit": str(limit)}
    while True:
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        responses.append(response)
        body = response.json()
        if not body.get("more"):
            return responses
        assert len(responses) < 500, "pagination does not end"
        query = {**params, "limit": str(limit), "next": body["next"]}
