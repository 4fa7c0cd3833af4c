"""Oracles (security issue 12, classes 2 and 4): no answer may depend on an object its requester cannot see, and no
feed may select a pseudonymous post by who posted it.

Each oracle test builds two worlds in one exchange: a candidate id that a victim holds but the attacker cannot see
("hidden") and one that nobody holds ("absent"). The attacker (and a colluding second participant) then does the
same thing to both and reads every endpoint; the answers must be the same once the ids are swapped."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from app.feeds.selector import Facts, Selector
from app.stix.ai import index_terms
from tests.feed_support import feed_toml, read_all, server_with_feeds
from tests.sharing_helpers import (
    EVERYTHING,
    accepted,
    admit,
    collection,
    ipv4,
    mint,
    post,
    rejected,
    relationship,
    sdo,
    sighting,
)
from tests.support.server import Participant, Server
from tests.support.stix import TLP_AMBER, TLP_GREEN

PRODUCER_FEED, KIND_FEED = str(uuid.uuid4()), str(uuid.uuid4())
POSTER = "oracle-poster"  # the lab the producer feeds select


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An exchange with two feeds that select by who posted, readable by everyone."""
    feeds = {"by-producer": feed_toml(PRODUCER_FEED, "by-producer", read=("everyone",),
                                      selector={"producers": [POSTER]}),
             "by-kind": feed_toml(KIND_FEED, "by-kind", read=("everyone",), selector={"producer_kinds": ["vendor"]})}
    with server_with_feeds(tmp_path_factory.mktemp("oracles"), feeds) as srv:
        yield srv


@pytest.fixture(scope="module")
def people(server: Server) -> dict[str, Participant]:
    return {
        "victim": admit(server, "oracle-victim", "lab", ("gov",)),
        "agency": admit(server, "oracle-agency", "agency", ("gov",)),
        "attacker": admit(server, "oracle-attacker", "lab"),
        "colluder": admit(server, "oracle-colluder", "lab"),
        "poster": admit(server, POSTER, "vendor"),
    }


@pytest.fixture(scope="module")
def cid(server: Server) -> str:
    return collection(server, "oracles")


@pytest.fixture(scope="module")
def hidden(people: dict[str, Participant], cid: str) -> dict[str, dict[str, Any]]:
    """Objects the victim holds, visible to group gov only: an SDO and an observable of a candidate value."""
    gov = mint(people["victim"].client, groups=("gov",))["id"]
    objects = {"sdo": sdo(marking=[TLP_AMBER, gov]), "sco": ipv4("192.0.2.66", [TLP_AMBER, gov]),
               "location": sdo("location", marking=[TLP_AMBER, gov], region="northern-europe")}
    accepted(people["victim"].client, cid, *objects.values())
    return objects


def absent_twin(obj: dict[str, Any]) -> dict[str, Any]:
    """The same object under an id nobody holds."""
    if obj["type"] == "ipv4-addr":
        return ipv4("192.0.2.67", obj["object_marking_refs"])
    return {**obj, "id": f"{obj['type']}--{uuid.uuid4()}"}


def answers(client: httpx.Client, cid: str, stix_id: str, *refs: str) -> dict[str, Any]:
    """Every read answer about one id, with the id itself and ``refs`` replaced so that two worlds compare."""
    base = f"collections/{cid}/"
    responses = {
        "object": client.get(f"{base}objects/{stix_id}/", params={"match[version]": "all"}),
        "versions": client.get(f"{base}objects/{stix_id}/versions/"),
        "match[id]": client.get(f"{base}objects/", params={**EVERYTHING, "match[id]": stix_id}),
        "manifest": client.get(f"{base}manifest/", params={**EVERYTHING, "match[id]": stix_id}),
    }
    return {name: (r.status_code, _without_dates(_replaced(r.text, stix_id, *refs)))
            for name, r in responses.items()}


def _replaced(text: str, *ids: str) -> str:
    for index, stix_id in enumerate(ids):
        text = text.replace(stix_id, f"ID{index}")
    return text


def _without_dates(text: str) -> Any:
    """The body without date_added (the two worlds were posted at different moments)."""
    body = orjson.loads(text)
    for entry in body.get("objects", []):
        entry.pop("date_added", None)
    return body


def same_answers(readers: list[httpx.Client], cid: str, one: tuple[str, ...], other: tuple[str, ...]) -> None:
    """Every reader gets the same answers about ``one`` (an id and its references) as about ``other``."""
    for client in readers:
        assert answers(client, cid, *one) == answers(client, cid, *other)


# ------------------------------------------------------------------ class 2: references are no existence oracle

OTHER_END = f"attack-pattern--{uuid.uuid4()}"
REFERRERS = {
    "relationship source_ref": lambda ref: relationship(ref, OTHER_END),
    "relationship target_ref": lambda ref: relationship(OTHER_END, ref),
    "sighting sighting_of_ref": lambda ref: sighting(ref),
    "sighting where_sighted_refs": lambda ref: {**sighting(OTHER_END), "where_sighted_refs": [ref]},
    "note object_refs": lambda ref: sdo("note", content="seen", object_refs=[ref]),
    "opinion object_refs": lambda ref: sdo("opinion", opinion="agree", object_refs=[ref]),
    "report object_refs": lambda ref: sdo("report", name="r", published="2026-01-01T00:00:00Z", object_refs=[ref]),
    "grouping object_refs": lambda ref: sdo("grouping", context="suspicious-activity", object_refs=[ref]),
}


TARGETS = {"sighting sighting_of_ref": ("sdo",), "sighting where_sighted_refs": ("location",)}


@pytest.mark.parametrize("referrer,kind", [(r, k) for r in REFERRERS for k in TARGETS.get(r, ("sdo", "sco"))])
def test_a_reference_to_a_hidden_object_answers_as_one_to_an_absent_object(
        people: dict[str, Participant], cid: str, hidden: dict[str, dict[str, Any]], referrer: str, kind: str) -> None:
    attacker, colluder = people["attacker"], people["colluder"]
    target = hidden[kind]
    make, absent = REFERRERS[referrer], absent_twin(target)["id"]
    to_hidden, to_absent = make(target["id"]), make(absent)
    status = post(attacker.client, cid, to_hidden, to_absent)
    assert status["success_count"] == 2, status
    same_answers([attacker.client, colluder.client, people["agency"].client], cid,
                 (to_hidden["id"], target["id"]), (to_absent["id"], absent))
    for client in (attacker.client, colluder.client):
        assert answers(client, cid, to_hidden["id"])["object"][0] == 200


def test_observed_data_to_a_hidden_observable_answers_as_to_an_absent_one(
        people: dict[str, Participant], cid: str, hidden: dict[str, dict[str, Any]]) -> None:
    observed = {"first_observed": "2026-01-01T00:00:00Z", "last_observed": "2026-01-01T00:00:00Z",
                "number_observed": 1}
    absent = absent_twin(hidden["sco"])["id"]
    to_hidden = sdo("observed-data", object_refs=[hidden["sco"]["id"]], **observed)
    to_absent = sdo("observed-data", object_refs=[absent], **observed)
    accepted(people["attacker"].client, cid, to_hidden, to_absent)
    same_answers([people["attacker"].client, people["colluder"].client], cid,
                 (to_hidden["id"], hidden["sco"]["id"]), (to_absent["id"], absent))


def test_a_relationship_is_shown_by_its_own_marking_only(
        people: dict[str, Participant], cid: str, hidden: dict[str, dict[str, Any]]) -> None:
    """The third-party view: the victim's GREEN relationship to its own gov-only object reaches every reader (it
    no longer vanishes when the endpoint is hidden); marked like its endpoint, it reaches gov only."""
    victim, gov = people["victim"], mint(people["victim"].client, groups=("gov",))["id"]
    loose = relationship(f"attack-pattern--{uuid.uuid4()}", hidden["sdo"]["id"])
    strict = relationship(f"attack-pattern--{uuid.uuid4()}", hidden["sdo"]["id"], marking=[TLP_AMBER, gov])
    accepted(victim.client, cid, loose, strict)
    for reader in ("attacker", "colluder", "agency"):
        assert answers(people[reader].client, cid, loose["id"])["object"][0] == 200
    assert answers(people["agency"].client, cid, strict["id"])["object"][0] == 200
    assert answers(people["attacker"].client, cid, strict["id"])["object"][0] == 404


# ------------------------------------------------------------------ class 2: writes under ids learned from references


@pytest.mark.parametrize("change", ["new content", "identical content", "new version"])
def test_posting_under_a_hidden_id_answers_as_under_a_new_id(people: dict[str, Participant], cid: str,
                                                             change: str) -> None:
    attacker, colluder, agency, victim = people["attacker"], people["colluder"], people["agency"], people["victim"]
    original = sdo(marking=[TLP_AMBER, mint(victim.client, groups=("gov",))["id"]])
    accepted(victim.client, cid, original)
    squat = {"new content": {**original, "name": "squatted", "object_marking_refs": [TLP_GREEN]},
             "identical content": original,
             "new version": {**original, "modified": "2026-06-01T00:00:00.000Z", "object_marking_refs": [TLP_GREEN]},
             }[change]
    fresh = {**squat, "id": f"indicator--{uuid.uuid4()}"}
    on_hidden, on_new = post(attacker.client, cid, squat), post(attacker.client, cid, fresh)
    assert on_hidden["success_count"] == on_new["success_count"] == 1, (on_hidden, on_new)
    assert on_hidden["successes"][0]["version"] == on_new["successes"][0]["version"]
    readers = [attacker.client] + ([colluder.client] if squat["object_marking_refs"] == [TLP_GREEN] else [])
    same_answers(readers, cid, (squat["id"],), (fresh["id"],))
    assert read_one(attacker.client, cid, squat["id"]) == [squat]
    # whoever can see the victim's object still gets only the victim's, never two "versions" of one object
    assert read_one(agency.client, cid, original["id"]) == [original]


def test_an_id_the_poster_can_see_still_belongs_to_its_owner(people: dict[str, Participant], cid: str) -> None:
    victim, attacker = people["victim"], people["attacker"]
    shown = sdo(marking=TLP_GREEN)
    accepted(victim.client, cid, shown)
    rejected(attacker.client, cid, {**shown, "name": "defaced"}, "belongs to another participant")
    rejected(attacker.client, cid, {**shown, "modified": "2026-06-01T00:00:00.000Z"},
             "belongs to another participant")
    assert read_one(people["colluder"].client, cid, shown["id"]) == [shown]


def read_one(client: httpx.Client, cid: str, stix_id: str) -> list[dict[str, Any]]:
    response = client.get(f"collections/{cid}/objects/{stix_id}/", params={"match[version]": "all"})
    return response.json().get("objects", []) if response.status_code == 200 else []


# ------------------------------------------------------------------ class 4: feeds never select pseudonymous posts


def test_producer_facts_only_for_the_real_identity() -> None:
    real, pseudonym = f"identity--{uuid.uuid4()}", f"identity--{uuid.uuid4()}"
    for creator, matches in ((real, True), (pseudonym, False), (None, False)):
        obj = sdo(created_by=creator)
        facts = Facts.of(obj, 1, "vendor", POSTER, {real}, "c", index_terms(obj))
        assert Selector.build({"producers": [POSTER]}, None).matches(facts) is matches
        assert Selector.build({"producer_kinds": ["vendor"]}, None).matches(facts) is matches
        assert Selector.build({"types": ["indicator"]}, None).matches(facts)  # other selectors unaffected


def test_feeds_by_producer_hold_only_attributed_posts(server: Server, people: dict[str, Participant],
                                                      cid: str) -> None:
    poster, reader = people["poster"], people["colluder"]
    attributed = sdo(created_by=poster.identity_id)
    pseudonymous, unattributed = sdo(created_by=poster.pseudonym_identity_id), sdo()
    accepted(poster.client, cid, attributed, pseudonymous, unattributed)

    def feed_ids() -> list[set[str]]:
        return [{o["id"] for o in read_all(reader.client, feed) if o["type"] == "indicator"}
                for feed in (PRODUCER_FEED, KIND_FEED)]

    assert feed_ids() == [{attributed["id"]}, {attributed["id"]}]
    for alias in ("by-producer", "by-kind"):  # a rebuild selects the same way
        server.cli("feed", "rebuild", alias)
    assert feed_ids() == [{attributed["id"]}, {attributed["id"]}]
