"""Property-based validation: hypothesis generates valid STIX 2.1 objects of several types, which produce no
finding (and which stix2 itself parses, as a cross-check of the generator); a single mutation of a required
property — deleting it, or giving it a value of the wrong JSON type — produces a finding or a rejection that names
that property. A handful of the same go through a live server: POST → success for the valid ones, failure with a
message naming the property for the mutated ones."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stix2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.stix.ai import check_ai
from app.stix.checks import ObjectRejected, check_object
from app.stix.validate import validate
from tests.support.server import Participant, Server
from tests.support.stix import TLP_GREEN

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
LIVE = settings(max_examples=4, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# ------------------------------------------------------------------ values

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)
_moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31))


def _ts(moment: datetime, precision: str) -> str:
    moment = moment.replace(tzinfo=UTC)
    if precision == "s":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if precision == "ms":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@st.composite
def ordered_timestamps(draw: st.DrawFn, *, strictly: bool = False, millis: bool = False) -> tuple[str, str]:
    """Two RFC 3339 UTC timestamps, the second not earlier (or, ``strictly``, later) than the first; ``millis``:
    at least millisecond precision (created and modified, STIX 2.1 §3.2)."""
    first = draw(_moments)
    gap = timedelta(seconds=draw(st.integers(1 if strictly else 0, 10**8)))
    precision = draw(st.sampled_from(["ms", "us"] if strictly or millis else ["s", "ms", "us"]))
    return _ts(first, precision), _ts(first + gap, precision)


def _ref(stix_type: str | list[str]) -> st.SearchStrategy[str]:
    types = st.sampled_from(stix_type) if isinstance(stix_type, list) else st.just(stix_type)
    return st.builds(lambda t, u: f"{t}--{u}", types, st.uuids(version=4))


_SDO_TYPES = ["attack-pattern", "campaign", "identity", "indicator", "infrastructure", "intrusion-set", "malware",
              "threat-actor", "tool", "vulnerability", "x-mitre-tactic"]
_SCO_TYPES = ["ipv4-addr", "domain-name", "url", "file", "network-traffic"]


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_patterns = st.one_of(
    st.ip_addresses(v=4).map(lambda ip: f"[ipv4-addr:value = '{ip}']"),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"[file:hashes.'SHA-256' = '{h}']"),
    _text.map(lambda t: f"[url:value = {_quoted(t)}]"),
    st.tuples(st.ip_addresses(v=4), st.integers(1, 3600)).map(
        lambda p: f"[network-traffic:dst_ref.value = '{p[0]}'] REPEATS 2 TIMES WITHIN {p[1]} SECONDS"),
    st.tuples(_text, _text).map(lambda p: f"[domain-name:value = {_quoted(p[0])} OR "
                                          f"domain-name:value LIKE {_quoted(p[1])}]"),
)


# ------------------------------------------------------------------ valid objects


@st.composite
def common(draw: st.DrawFn, stix_type: str) -> dict[str, Any]:
    created, modified = draw(ordered_timestamps(millis=True))
    obj: dict[str, Any] = {"type": stix_type, "spec_version": "2.1", "id": f"{stix_type}--{draw(st.uuids(version=4))}",
                           "created": created, "modified": modified}
    if draw(st.booleans()):
        obj["labels"] = draw(st.lists(_text, min_size=1, max_size=3))
    if draw(st.booleans()):
        obj["confidence"] = draw(st.integers(0, 100))
    if draw(st.booleans()):
        obj["external_references"] = [{"source_name": draw(_text), "external_id": draw(_text)}]
    if draw(st.booleans()):
        obj["x_producer_score"] = draw(st.integers(-(2**53), 2**53))  # a well-formed custom property is kept
    return obj


@st.composite
def indicator(draw: st.DrawFn) -> dict[str, Any]:
    obj = draw(common("indicator"))
    valid_from, valid_until = draw(ordered_timestamps(strictly=True))
    obj.update(pattern=draw(_patterns), pattern_type="stix", valid_from=valid_from)
    if draw(st.booleans()):
        obj["valid_until"] = valid_until
    if draw(st.booleans()):
        obj["name"] = draw(_text)
    if draw(st.booleans()):
        obj["indicator_types"] = draw(st.lists(st.sampled_from(["malicious-activity", "anomalous-activity"]),
                                               min_size=1, max_size=2, unique=True))
    return obj


_kill_chain = st.lists(st.fixed_dictionaries({"kill_chain_name": st.sampled_from(["mitre-atlas", "lockheed"]),
                                              "phase_name": st.sampled_from(["initial-access", "execution"])}),
                       min_size=1, max_size=2)


@st.composite
def attack_pattern(draw: st.DrawFn) -> dict[str, Any]:
    obj = draw(common("attack-pattern"))
    obj["name"] = draw(_text)
    if draw(st.booleans()):
        obj["kill_chain_phases"] = draw(_kill_chain)
    if draw(st.booleans()):
        obj["aliases"] = draw(st.lists(_text, min_size=1, max_size=2))
    return obj


@st.composite
def malware(draw: st.DrawFn) -> dict[str, Any]:
    obj = draw(common("malware"))
    obj["is_family"] = draw(st.booleans())
    if obj["is_family"] or draw(st.booleans()):
        obj["name"] = draw(_text)
    if draw(st.booleans()):
        obj["first_seen"], obj["last_seen"] = draw(ordered_timestamps())
    if draw(st.booleans()):
        obj["sample_refs"] = draw(st.lists(_ref(["file", "artifact"]), min_size=1, max_size=2))
    return obj


@st.composite
def relationship(draw: st.DrawFn) -> dict[str, Any]:
    obj = draw(common("relationship"))
    obj.update(relationship_type=draw(st.sampled_from(["indicates", "uses", "related-to", "subtechnique-of"])),
               source_ref=draw(_ref(_SDO_TYPES + _SCO_TYPES)), target_ref=draw(_ref(_SDO_TYPES + _SCO_TYPES)))
    if draw(st.booleans()):
        obj["start_time"], obj["stop_time"] = draw(ordered_timestamps(strictly=True))
    return obj


@st.composite
def sighting(draw: st.DrawFn) -> dict[str, Any]:
    obj = draw(common("sighting"))
    obj["sighting_of_ref"] = draw(_ref(_SDO_TYPES))
    if draw(st.booleans()):
        obj["count"] = draw(st.integers(0, 999_999_999))
    if draw(st.booleans()):
        obj["where_sighted_refs"] = draw(st.lists(_ref(["identity", "location"]), min_size=1, max_size=2))
    if draw(st.booleans()):
        obj["first_seen"], obj["last_seen"] = draw(ordered_timestamps())
    return obj


@st.composite
def observed_data(draw: st.DrawFn) -> dict[str, Any]:
    obj = draw(common("observed-data"))
    obj["first_observed"], obj["last_observed"] = draw(ordered_timestamps())
    obj["number_observed"] = draw(st.integers(1, 999_999_999))
    obj["object_refs"] = draw(st.lists(_ref(_SCO_TYPES), min_size=1, max_size=3))
    return obj


@st.composite
def identity(draw: st.DrawFn) -> dict[str, Any]:
    obj = draw(common("identity"))
    obj["name"] = draw(_text)
    if draw(st.booleans()):
        obj["identity_class"] = draw(st.sampled_from(["organization", "individual", "system"]))
    return obj


@st.composite
def location(draw: st.DrawFn) -> dict[str, Any]:
    obj = draw(common("location"))
    if draw(st.booleans()):
        obj["region"] = draw(st.sampled_from(["europe", "northern-america", "eastern-asia"]))
    else:
        obj["latitude"] = draw(st.floats(-90, 90))
        obj["longitude"] = draw(st.floats(-180, 180))
    return obj


@st.composite
def ipv4_addr(draw: st.DrawFn) -> dict[str, Any]:
    return {"type": "ipv4-addr", "spec_version": "2.1", "id": f"ipv4-addr--{draw(st.uuids(version=4))}",
            "value": str(draw(st.ip_addresses(v=4)))}


@st.composite
def file_sco(draw: st.DrawFn) -> dict[str, Any]:
    obj = {"type": "file", "spec_version": "2.1", "id": f"file--{draw(st.uuids(version=4))}"}
    which = draw(st.sampled_from(["name", "hashes", "both"]))
    if which != "hashes":
        obj["name"] = draw(_text)
    if which != "name":
        obj["hashes"] = {"SHA-256": draw(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))}
    return obj


GENERATORS = {"indicator": indicator, "attack-pattern": attack_pattern, "malware": malware,
              "relationship": relationship, "sighting": sighting, "observed-data": observed_data,
              "identity": identity, "location": location, "ipv4-addr": ipv4_addr, "file": file_sco}
any_valid = st.sampled_from(sorted(GENERATORS)).flatmap(lambda t: GENERATORS[t]())

_VERSIONED = ("type", "id", "spec_version", "created", "modified")
REQUIRED: dict[str, tuple[str, ...]] = {
    "indicator": (*_VERSIONED, "pattern", "pattern_type", "valid_from"),
    "attack-pattern": (*_VERSIONED, "name"),
    "malware": (*_VERSIONED, "is_family"),
    "relationship": (*_VERSIONED, "relationship_type", "source_ref", "target_ref"),
    "sighting": (*_VERSIONED, "sighting_of_ref"),
    "observed-data": (*_VERSIONED, "first_observed", "last_observed", "number_observed"),
    "identity": (*_VERSIONED, "name"),
    "location": _VERSIONED,
    "ipv4-addr": ("type", "id", "value"),  # spec_version is optional on SCOs (§6.1)
    "file": ("type", "id"),
}
_BOOLEANS = {"is_family"}
_INTEGERS = {"number_observed"}

# Integers within 64 bits: the exchange parses JSON with orjson, which refuses larger ones before any check runs.
_int64 = st.integers(-(2**63), 2**63 - 1)
_not_a_string = st.one_of(_int64, st.booleans(), st.none(), st.lists(_int64, max_size=2),
                          st.dictionaries(st.text(max_size=3), _int64, max_size=2))
_not_a_boolean = st.one_of(_int64, st.text(max_size=5), st.none(), st.lists(st.booleans(), max_size=2))
_fraction = st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
_not_an_integer = st.one_of(st.text(max_size=5), st.none(), st.booleans(), _fraction, st.lists(_int64, max_size=2))


@st.composite
def mutated(draw: st.DrawFn, stix_type: str | None = None, prop: str | None = None,
            how: str | None = None) -> tuple[dict[str, Any], str, str]:
    """A valid object with one required property deleted or given a value of the wrong type."""
    obj = draw(GENERATORS[stix_type]() if stix_type else any_valid)
    prop = prop or draw(st.sampled_from(REQUIRED[obj["type"]]))
    how = how or draw(st.sampled_from(["delete", "wrong type"]))
    if how == "delete":
        del obj[prop]
    elif prop in _BOOLEANS:
        obj[prop] = draw(_not_a_boolean)
    elif prop in _INTEGERS:
        obj[prop] = draw(_not_an_integer)
    else:
        obj[prop] = draw(_not_a_string)
    return obj, prop, how


def problems(obj: dict[str, Any]) -> list[str]:
    """What the exchange says about ``obj`` before storing it: the storage gate, then the STIX MUSTs."""
    try:
        check_object(obj)
    except ObjectRejected as exc:
        return [str(exc)]
    return [str(f) for f in check_ai(obj) + validate(obj)]


def names(message: str, prop: str) -> bool:
    """Whether a finding or rejection names ``prop``: as its path ("prop: …", "prop[0]: …") or quoted."""
    return message.startswith((f"{prop}: ", f"{prop}[")) or f"'{prop}'" in message


# ------------------------------------------------------------------ properties


@pytest.mark.parametrize("stix_type", sorted(GENERATORS))
@FAST
@given(data=st.data())
def test_generated_valid_objects_have_no_findings(stix_type: str, data: st.DataObject) -> None:
    obj = data.draw(GENERATORS[stix_type]())
    assert problems(obj) == []
    stix2.parse(obj, allow_custom=True)  # the generator makes what the reference library accepts


@pytest.mark.parametrize(("stix_type", "prop", "how"), [
    (t, p, h) for t, props in sorted(REQUIRED.items()) for p in props for h in ("delete", "wrong type")])
@settings(FAST, max_examples=8)
@given(data=st.data())
def test_a_single_mutation_of_a_required_property_is_named(stix_type: str, prop: str, how: str,
                                                           data: st.DataObject) -> None:
    obj, prop, how = data.draw(mutated(stix_type, prop, how))
    found = problems(obj)
    assert found, f"{how} {prop}: no finding for {obj}"
    assert any(names(message, prop) for message in found), f"{how} {prop}: {found}"


def test_the_property_naming_helper() -> None:
    assert names("name: is required on a tool", "name")
    assert names("object_refs[0]: must reference", "object_refs")
    assert names("'created' is required on a indicator object", "created")
    assert not names("modified: 'modified' must not be earlier than 'created'", "name")


# ------------------------------------------------------------------ through the live server


@pytest.fixture(scope="module")
def strict_collection(server: Server, lab: Participant) -> str:
    collection = server.add_collection("property-strict", "Property tests (strict)")
    server.grant(lab.slug, "property-strict", read=True, write=True)
    return collection["id"]


def _for_the_exchange(obj: dict[str, Any]) -> dict[str, Any]:
    """A fresh id (examples repeat; a reused id with new content would be a conflict) and a TLP marking."""
    obj = dict(obj)
    if isinstance(obj.get("id"), str):
        obj["id"] = f"{obj['id'].partition('--')[0]}--{uuid.uuid4()}"
    obj["object_marking_refs"] = [TLP_GREEN]
    return obj


@LIVE
@given(st.lists(any_valid, min_size=3, max_size=6), st.lists(mutated(), min_size=3, max_size=6))
def test_the_server_accepts_the_valid_and_names_the_property_of_the_mutated(
    server: Server, lab: Participant, strict_collection: str, valid: list[dict[str, Any]],
    broken: list[tuple[dict[str, Any], str, str]],
) -> None:
    good = [_for_the_exchange(o) for o in valid]
    bad = [(_for_the_exchange(o), prop, how) for o, prop, how in broken if isinstance(o.get("id"), str)]
    response = lab.client.post(f"collections/{strict_collection}/objects/",
                               json={"objects": good + [o for o, _, _ in bad]},
                               headers={"Content-Type": "application/taxii+json;version=2.1"})
    assert response.status_code == 202, response.text
    status = response.json()
    assert status["success_count"] == len(good), status
    assert {s["id"] for s in status["successes"]} == {o["id"] for o in good}
    failures = {f["id"]: f["message"] for f in status["failures"]}
    assert len(failures) == len(bad) == status["failure_count"]
    for obj, prop, how in bad:
        assert names(failures[obj["id"]], prop), f"{how} {prop}: {failures[obj['id']]}"
