"""One negative test per STIX 2.1 validation rule, without a server: ``validate`` (the per-type MUSTs),
``check_object`` (the storage gate) and ``pattern_error`` (the pattern parser). Every test changes one thing in a
valid object and asserts that a finding names the property (its path), or, for rules about the whole object, that
the message names the properties involved.

The valid base objects are checked too: no findings from us, and ``stix2.parse`` accepts them, so a negative test
can only fail for the reason it states."""

import copy
from collections.abc import Callable
from typing import Any

import pytest
import stix2

from app.stix.checks import ObjectRejected, check_object
from app.stix.findings import Finding
from app.stix.patterns import pattern_error
from app.stix.validate import validate

T0, T1, T2 = "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"
U = "4b9b7a8e-6d7f-4c3a-9b1e-2f5d8c7a6e10"  # any RFC 4122 UUID
TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
IDENTITY, INDICATOR, MALWARE = f"identity--{U}", f"indicator--{U}", f"malware--{U}"
IPV4, FILE, URL = f"ipv4-addr--{U}", f"file--{U}", f"url--{U}"
OBSERVED, RELATIONSHIP, SIGHTING = f"observed-data--{U}", f"relationship--{U}", f"sighting--{U}"
MARKING, LOCATION = f"marking-definition--{U}", f"location--{U}"
SHA256 = "0e461b6458cf90aec94ad432af9a96aad8d0e54e7f6f131d414776a112e31766"
DELETE = object()


def _sdo(stix_type: str, **props: Any) -> dict[str, Any]:
    return {"type": stix_type, "spec_version": "2.1", "id": f"{stix_type}--{U}", "created": T0, "modified": T0,
            **props}


def _sco(stix_type: str, **props: Any) -> dict[str, Any]:
    return {"type": stix_type, "spec_version": "2.1", "id": f"{stix_type}--{U}", **props}


KILL_CHAIN = [{"kill_chain_name": "mitre-atlas", "phase_name": "initial-access"}]

# A valid object of every STIX 2.1 type (and the exchange's ai-prompt SCO), each with its optional properties that
# rules apply to. The indicator carries every common property.
BASE: dict[str, dict[str, Any]] = {
    "attack-pattern": _sdo("attack-pattern", name="LLM Prompt Injection", kill_chain_phases=KILL_CHAIN),
    "campaign": _sdo("campaign", name="Operation Echo", first_seen=T0, last_seen=T1),
    "course-of-action": _sdo("course-of-action", name="Input filtering"),
    "grouping": _sdo("grouping", context="suspicious-activity", object_refs=[INDICATOR]),
    "identity": _sdo("identity", name="Northwind AI", identity_class="organization", sectors=["technology"]),
    "incident": _sdo("incident", name="Model weights exfiltrated", kill_chain_phases=KILL_CHAIN),
    "indicator": _sdo(
        "indicator", name="injection marker", pattern="[url:value = 'https://evil.example/inject']",
        pattern_type="stix", valid_from=T0, valid_until=T1, indicator_types=["malicious-activity"],
        kill_chain_phases=KILL_CHAIN, created_by_ref=IDENTITY, revoked=False, labels=["prompt-injection"],
        confidence=80, lang="en", object_marking_refs=[TLP_GREEN],
        external_references=[{"source_name": "mitre-atlas", "external_id": "AML.T0051",
                              "url": "https://atlas.mitre.org/techniques/AML.T0051"}],
        granular_markings=[{"marking_ref": TLP_GREEN, "selectors": ["description"]}],
        description="what it finds"),
    "infrastructure": _sdo("infrastructure", name="docs mirror", first_seen=T0, last_seen=T1),
    "intrusion-set": _sdo("intrusion-set", name="Glass Heron", aliases=["GH"], first_seen=T0, last_seen=T1),
    "location": _sdo("location", name="Paris", latitude=48.8566, longitude=2.3522, precision=1000.0),
    "malware": _sdo("malware", name="picklebomb", is_family=True, sample_refs=[FILE], first_seen=T0, last_seen=T1),
    "malware-analysis": _sdo("malware-analysis", product="sandbox", result="malicious", sample_ref=FILE),
    "note": _sdo("note", content="seen twice", object_refs=[INDICATOR]),
    "observed-data": _sdo("observed-data", first_observed=T0, last_observed=T1, number_observed=3,
                          object_refs=[IPV4]),
    "opinion": _sdo("opinion", opinion="agree", object_refs=[INDICATOR]),
    "report": _sdo("report", name="Quarterly", published=T1, object_refs=[INDICATOR]),
    "threat-actor": _sdo("threat-actor", name="Glass Heron", first_seen=T0, last_seen=T1),
    "tool": _sdo("tool", name="promptmap"),
    "vulnerability": _sdo("vulnerability", name="CVE-2023-29374"),
    "relationship": _sdo("relationship", relationship_type="indicates", source_ref=INDICATOR, target_ref=MALWARE,
                         start_time=T0, stop_time=T1),
    "sighting": _sdo("sighting", sighting_of_ref=INDICATOR, where_sighted_refs=[IDENTITY],
                     observed_data_refs=[OBSERVED], count=2, first_seen=T0, last_seen=T1),
    "marking-definition": {"type": "marking-definition", "spec_version": "2.1", "id": MARKING, "created": T0,
                           "definition_type": "statement", "definition": {"statement": "Copyright 2026"}},
    "language-content": _sdo("language-content", object_ref=INDICATOR, object_modified=T0,
                             contents={"fr": {"name": "marqueur"}}),
    "extension-definition": _sdo("extension-definition", created_by_ref=IDENTITY, name="x", version="1.0.0",
                                 schema="https://example.org/schema.json",
                                 extension_types=["property-extension"]),
    "artifact": _sco("artifact", mime_type="text/plain", payload_bin="aGVsbG8="),
    "autonomous-system": _sco("autonomous-system", number=64500),
    "directory": _sco("directory", path="/tmp"),
    "domain-name": _sco("domain-name", value="evil.example", resolves_to_refs=[IPV4]),
    "email-addr": _sco("email-addr", value="a@evil.example", belongs_to_ref=f"user-account--{U}"),
    "email-message": _sco("email-message", is_multipart=False, from_ref=f"email-addr--{U}"),
    "file": _sco("file", name="model.pt", size=10, hashes={"SHA-256": SHA256}, parent_directory_ref=f"directory--{U}",
                 content_ref=f"artifact--{U}"),
    "ipv4-addr": _sco("ipv4-addr", value="198.51.100.23"),
    "ipv6-addr": _sco("ipv6-addr", value="2001:db8::1"),
    "mac-addr": _sco("mac-addr", value="00:00:5e:00:53:01"),
    "mutex": _sco("mutex", name="Global\\x"),
    "network-traffic": _sco("network-traffic", protocols=["tcp"], dst_ref=IPV4, dst_port=443, dst_byte_count=10),
    "process": _sco("process", pid=4),
    "software": _sco("software", name="mcp-server-weather-pro"),
    "url": _sco("url", value="https://evil.example/"),
    "user-account": _sco("user-account", user_id="1001"),
    "windows-registry-key": _sco("windows-registry-key", key="HKEY_LOCAL_MACHINE\\System"),
    "x509-certificate": _sco("x509-certificate", hashes={"SHA-256": SHA256}),
    "ai-prompt": _sco("ai-prompt", value="ignore previous instructions"),
}

# STIX 2.1's required properties per type (beyond type, id, spec_version and, for SDOs and SROs, created and
# modified), written out from the specification rather than read from the code under test.
REQUIRED = {
    "attack-pattern": ["name"], "campaign": ["name"], "course-of-action": ["name"],
    "grouping": ["context", "object_refs"], "identity": ["name"], "incident": ["name"],
    "indicator": ["pattern", "pattern_type", "valid_from"], "infrastructure": ["name"], "intrusion-set": ["name"],
    "malware": ["is_family"], "malware-analysis": ["product"], "note": ["content", "object_refs"],
    "observed-data": ["first_observed", "last_observed", "number_observed"], "opinion": ["opinion", "object_refs"],
    "report": ["name", "published", "object_refs"], "threat-actor": ["name"], "tool": ["name"],
    "vulnerability": ["name"], "relationship": ["relationship_type", "source_ref", "target_ref"],
    "sighting": ["sighting_of_ref"], "language-content": ["object_ref", "contents"],
    "extension-definition": ["created_by_ref", "name", "schema", "version", "extension_types"],
    "autonomous-system": ["number"], "directory": ["path"], "domain-name": ["value"], "email-addr": ["value"],
    "email-message": ["is_multipart"], "ipv4-addr": ["value"], "ipv6-addr": ["value"], "mac-addr": ["value"],
    "mutex": ["name"], "network-traffic": ["protocols"], "software": ["name"], "url": ["value"],
}


def _changed(stix_type: str, change: dict[str, Any] | Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    obj = copy.deepcopy(BASE[stix_type])
    if callable(change):
        change(obj)
    else:
        for prop, value in change.items():
            if value is DELETE:
                obj.pop(prop, None)
            else:
                obj[prop] = value
    return obj


def _assert_finding(obj: dict[str, Any], path: str, rule: str | None = None, *words: str) -> Finding:
    findings = validate(obj)
    hits = [f for f in findings if f.path == path and (rule is None or f.rule == rule)]
    assert hits, f"expected a finding at {path!r} ({rule}), got {[str(f) for f in findings]}"
    for word in words:  # object-level rules: the message names the properties
        assert word in hits[0].message, hits[0]
    if path:
        assert str(hits[0]).startswith(f"{path}: "), "the message a producer reads starts with the property"
    return hits[0]


# ------------------------------------------------------------------ the base objects are valid


@pytest.mark.parametrize("stix_type", sorted(BASE))
def test_base_objects_are_valid(stix_type: str) -> None:
    obj = BASE[stix_type]
    assert validate(obj) == []
    check_object(obj)
    if stix_type != "ai-prompt":  # our own SCO; stix2 knows it only through the extension
        stix2.parse(obj, allow_custom=True)


def test_every_stix_type_has_a_base_object() -> None:
    from app.stix.model import META_TYPES, SCO_TYPES, SDO_TYPES, SRO_TYPES

    assert set(BASE) == SDO_TYPES | SRO_TYPES | SCO_TYPES | META_TYPES


# ------------------------------------------------------------------ required properties


@pytest.mark.parametrize(("stix_type", "prop"), [(t, p) for t, props in REQUIRED.items() for p in props])
def test_a_missing_required_property_is_named(stix_type: str, prop: str) -> None:
    finding = _assert_finding(_changed(stix_type, {prop: DELETE}), prop, "required")
    assert stix_type in finding.message or "required" in finding.message


@pytest.mark.parametrize(("stix_type", "prop"), [
    ("indicator", "created"), ("indicator", "modified"), ("relationship", "modified"), ("sighting", "created"),
    ("marking-definition", "created"), ("identity", "modified"),
])
def test_storage_gate_requires_created_and_modified(stix_type: str, prop: str) -> None:
    with pytest.raises(ObjectRejected, match=f"'{prop}'"):
        check_object(_changed(stix_type, {prop: DELETE}))


@pytest.mark.parametrize("prop", ["type", "id", "spec_version"])
def test_storage_gate_requires_type_id_and_spec_version(prop: str) -> None:
    with pytest.raises(ObjectRejected, match=f"'{prop}'"):
        check_object(_changed("indicator", {prop: DELETE}))


# ------------------------------------------------------------------ types of the common properties


@pytest.mark.parametrize(("prop", "value", "rule"), [
    ("created_by_ref", 42, "identifier"),
    ("revoked", "false", "type"),
    ("labels", "prompt-injection", "type"),
    ("labels", ["ok", ""], None),
    ("confidence", "80", "range"),
    ("lang", 5, "type"),
    ("lang", "", "format"),
    ("external_references", {"source_name": "x"}, "type"),
    ("object_marking_refs", TLP_GREEN, "type"),
    ("granular_markings", {"marking_ref": TLP_GREEN, "selectors": ["name"]}, "type"),
    ("extensions", ["x-ext"], "type"),
    ("extensions", {}, "type"),
    ("name", 7, "type"),
    ("description", ["not", "a", "string"], "type"),
    ("pattern_type", "", "type"),
    ("indicator_types", "malicious-activity", "type"),
])
def test_common_property_types(prop: str, value: Any, rule: str | None) -> None:
    path = f"{prop}[1]" if prop == "labels" and isinstance(value, list) else prop
    _assert_finding(_changed("indicator", {prop: value}), path, rule)


@pytest.mark.parametrize(("stix_type", "prop", "value"), [
    ("malware", "is_family", "yes"),
    ("email-message", "is_multipart", 0),
    ("observed-data", "number_observed", 0),
    ("observed-data", "number_observed", 1_000_000_000),
    ("sighting", "count", -1),
    ("sighting", "summary", "no"),
    ("autonomous-system", "number", -1),
    ("file", "size", -1),
    ("file", "size", 1.5),
    ("process", "pid", "4"),
    ("network-traffic", "dst_port", 70000),
    ("network-traffic", "src_byte_count", -5),
    ("ipv4-addr", "value", ""),
    ("domain-name", "value", None),
    ("identity", "sectors", []),
    ("grouping", "context", 3),
    ("note", "content", ""),
    ("software", "version", 2),
    ("extension-definition", "version", ""),
])
def test_type_specific_property_types(stix_type: str, prop: str, value: Any) -> None:
    _assert_finding(_changed(stix_type, {prop: value}), prop)


# ------------------------------------------------------------------ confidence, empty lists


@pytest.mark.parametrize("value", [101, -1, True, 50.5])
def test_confidence_is_an_integer_from_0_to_100(value: Any) -> None:
    finding = _assert_finding(_changed("indicator", {"confidence": value}), "confidence", "range")
    assert "0 to 100" in finding.message


@pytest.mark.parametrize(("stix_type", "prop"), [
    ("indicator", "labels"), ("indicator", "external_references"), ("indicator", "object_marking_refs"),
    ("indicator", "granular_markings"), ("indicator", "kill_chain_phases"), ("report", "object_refs"),
    ("grouping", "object_refs"), ("network-traffic", "protocols"), ("extension-definition", "extension_types"),
    ("sighting", "where_sighted_refs"), ("malware", "sample_refs"), ("domain-name", "resolves_to_refs"),
    ("intrusion-set", "aliases"),
])
def test_empty_lists_are_refused(stix_type: str, prop: str) -> None:
    finding = _assert_finding(_changed(stix_type, {prop: []}), prop, "type")
    assert "omit" in finding.message


# ------------------------------------------------------------------ timestamps and their order


@pytest.mark.parametrize(("stix_type", "prop", "value"), [
    ("indicator", "created", "2026-01-01T00:00:00.000+01:00"),  # not UTC
    ("indicator", "modified", "2026-01-01 00:00:00Z"),
    ("indicator", "valid_from", "2026-02-30T00:00:00Z"),
    ("indicator", "valid_until", 1767225600),
    ("report", "published", "yesterday"),
    ("campaign", "first_seen", "2026-01-01"),
    ("observed-data", "last_observed", "2026-01-01T25:00:00Z"),
    ("relationship", "start_time", "2026-01-01T00:00:00.000z+"),
    ("sighting", "last_seen", ""),
    ("language-content", "object_modified", "T0"),
])
def test_timestamps_must_be_rfc3339_utc(stix_type: str, prop: str, value: Any) -> None:
    _assert_finding(_changed(stix_type, {prop: value}), prop, "timestamp")


def test_storage_gate_rejects_a_timestamp_not_in_utc() -> None:
    with pytest.raises(ObjectRejected, match=r"'modified'.*UTC"):
        check_object(_changed("indicator", {"modified": "2026-01-01T01:00:00.000+01:00"}))


@pytest.mark.parametrize(("stix_type", "earlier", "later", "same_is_ok"), [
    ("indicator", "created", "modified", True),
    ("indicator", "valid_from", "valid_until", False),
    ("campaign", "first_seen", "last_seen", True),
    ("intrusion-set", "first_seen", "last_seen", True),
    ("threat-actor", "first_seen", "last_seen", True),
    ("malware", "first_seen", "last_seen", True),
    ("infrastructure", "first_seen", "last_seen", True),
    ("sighting", "first_seen", "last_seen", True),
    ("observed-data", "first_observed", "last_observed", True),
    ("relationship", "start_time", "stop_time", False),
])
def test_timestamps_in_order(stix_type: str, earlier: str, later: str, same_is_ok: bool) -> None:
    finding = _assert_finding(_changed(stix_type, {earlier: T2, later: T1}), later, "order")
    assert earlier in finding.message and later in finding.message
    same = validate(_changed(stix_type, {"created": T0, "modified": T1, earlier: T1, later: T1}))
    assert any(f.path == later and f.rule == "order" for f in same) != same_is_ok, same


def test_modified_before_created_is_a_finding_not_a_storage_rejection() -> None:
    """ATLAS has two such objects; lenient collections keep them (with a warning), so the gate must let them by."""
    obj = _changed("attack-pattern", {"created": T1, "modified": T0})
    check_object(obj)
    _assert_finding(obj, "modified", "order")


# ------------------------------------------------------------------ identifier formats


@pytest.mark.parametrize(("stix_type", "prop", "value"), [
    ("indicator", "created_by_ref", "identity--not-a-uuid"),
    ("indicator", "created_by_ref", f"identity--{U.upper()}"),
    ("indicator", "created_by_ref", U),
    ("indicator", "object_marking_refs", ["TLP:GREEN"]),
    ("report", "object_refs", [INDICATOR, "indicator-5"]),
    ("relationship", "source_ref", f"Indicator--{U}"),
    ("language-content", "object_ref", "indicator--"),
    ("sighting", "observed_data_refs", [f"observed-data--{U}x"]),
])
def test_identifiers_are_type_dash_dash_uuid(stix_type: str, prop: str, value: Any) -> None:
    path = prop if isinstance(value, str) else f"{prop}[{len(value) - 1}]"
    finding = _assert_finding(_changed(stix_type, {prop: value}), path, "identifier")
    assert "type--<UUID>" in finding.message


@pytest.mark.parametrize(("value", "words"), [
    (f"malware--{U}", "'id' must be 'indicator--"),  # the id's type is not the object's
    (f"indicator-{U}", "'id' must be 'indicator--"),
    ("indicator--4B9B7A8E-6D7F-4C3A-9B1E-2F5D8C7A6E10", "'id' must end in a lower-case"),
    ("indicator--1234", "'id' must end in"),
    (42, "'id' is required and must be a string"),
])
def test_storage_gate_checks_the_id(value: Any, words: str) -> None:
    with pytest.raises(ObjectRejected) as raised:
        check_object(_changed("indicator", {"id": value}))
    assert words in str(raised.value)


@pytest.mark.parametrize(("stix_type", "value", "words"), [
    ("indicator", "Indicator", "'type' must be"),
    ("indicator", "ab", "'type' must be"),
    ("indicator", "-indicator", "'type' must be"),
    ("indicator", None, "'type' must be"),
])
def test_storage_gate_checks_the_type(stix_type: str, value: Any, words: str) -> None:
    with pytest.raises(ObjectRejected, match=words):
        check_object(_changed(stix_type, {"type": value}))


@pytest.mark.parametrize("value", ["2.0", 2.1, "2.1 "])
def test_storage_gate_accepts_stix_2_1_only(value: Any) -> None:
    with pytest.raises(ObjectRejected, match="'spec_version'"):
        check_object(_changed("indicator", {"spec_version": value}))


def test_a_marking_definition_cannot_be_versioned() -> None:
    with pytest.raises(ObjectRejected, match="'modified'"):
        check_object(_changed("marking-definition", {"modified": T1}))


def test_validate_survives_a_type_that_is_not_a_string() -> None:
    _assert_finding(_changed("indicator", {"type": ["indicator"]}), "type", "type")


# ------------------------------------------------------------------ what references point at


@pytest.mark.parametrize(("stix_type", "prop", "value", "wanted"), [
    ("indicator", "created_by_ref", f"indicator--{U}", "identity"),
    ("indicator", "object_marking_refs", [IDENTITY], "marking-definition"),
    ("indicator", "granular_markings", [{"marking_ref": IDENTITY, "selectors": ["name"]}], "marking-definition"),
    ("sighting", "sighting_of_ref", IPV4, "an SDO"),
    ("sighting", "sighting_of_ref", RELATIONSHIP, "an SDO"),
    ("sighting", "sighting_of_ref", MARKING, "an SDO"),
    ("sighting", "where_sighted_refs", [INDICATOR], "identity or location"),
    ("sighting", "observed_data_refs", [INDICATOR], "observed-data"),
    ("observed-data", "object_refs", [INDICATOR], "an SCO or SRO"),
    ("observed-data", "object_refs", [IPV4, MARKING], "an SCO or SRO"),
    ("relationship", "source_ref", MARKING, "an SDO or SCO"),
    ("relationship", "target_ref", SIGHTING, "an SDO or SCO"),
    ("relationship", "target_ref", f"relationship--{U}", "an SDO or SCO"),
    ("malware", "sample_refs", [URL], "file or artifact"),
    ("malware", "operating_system_refs", [FILE], "software"),
    ("malware-analysis", "sample_ref", URL, "file or network-traffic or artifact"),
    ("malware-analysis", "analysis_sco_refs", [INDICATOR], "an SCO"),
    ("domain-name", "resolves_to_refs", [URL], "ipv4-addr or ipv6-addr or domain-name"),
    ("email-addr", "belongs_to_ref", IDENTITY, "user-account"),
    ("email-message", "from_ref", IDENTITY, "email-addr"),
    ("email-message", "to_refs", [URL], "email-addr"),
    ("file", "parent_directory_ref", FILE, "directory"),
    ("file", "content_ref", FILE, "artifact"),
    ("network-traffic", "dst_ref", URL, "ipv4-addr or ipv6-addr or mac-addr or domain-name"),
])
def test_references_point_at_the_right_types(stix_type: str, prop: str, value: Any, wanted: str) -> None:
    if isinstance(value, list):
        path = f"{prop}[{len(value) - 1}]"
        if prop == "granular_markings":
            path = f"{prop}[0].marking_ref"
    else:
        path = prop
    finding = _assert_finding(_changed(stix_type, {prop: value}), path, "ref-type")
    assert f"must reference {wanted}," in finding.message


@pytest.mark.parametrize(("stix_type", "prop", "value"), [
    ("relationship", "target_ref", f"x-mitre-tactic--{U}"),  # a custom SDO
    ("relationship", "target_ref", f"weakness--{U}"),  # an SDO defined by an extension-definition (new-sdo)
    ("relationship", "source_ref", IPV4),
    ("sighting", "sighting_of_ref", f"x-genai-incident--{U}"),
    ("sighting", "sighting_of_ref", f"exploit--{U}"),
    ("observed-data", "object_refs", [f"cryptocurrency-wallet--{U}", RELATIONSHIP]),  # a new-sco extension type
    ("observed-data", "object_refs", [f"ai-prompt--{U}"]),
])
def test_custom_and_extension_defined_types_are_accepted_as_endpoints(stix_type: str, prop: str, value: Any) -> None:
    assert validate(_changed(stix_type, {prop: value})) == []


# ------------------------------------------------------------------ vocabularies, formats, names


@pytest.mark.parametrize("value", ["maybe", "Agree", "", None])
def test_opinion_vocabulary(value: Any) -> None:
    finding = _assert_finding(_changed("opinion", {"opinion": value}), "opinion", "vocabulary")
    assert "strongly-disagree" in finding.message


@pytest.mark.parametrize("value", [["new-thing"], ["property-extension", "Property-Extension"]])
def test_extension_types_vocabulary(value: list[str]) -> None:
    path = f"extension_types[{len(value) - 1}]"
    finding = _assert_finding(_changed("extension-definition", {"extension_types": value}), path, "vocabulary")
    assert "toplevel-property-extension" in finding.message


@pytest.mark.parametrize("value", ["Indicates", "has spaces", "related_to", ""])
def test_relationship_type_format(value: str) -> None:
    _assert_finding(_changed("relationship", {"relationship_type": value}), "relationship_type")


@pytest.mark.parametrize("name", ["x", "ab", "Bad_Name", "x-dash", "x_émoji", "x" * 251, "x_with space"])
def test_custom_property_names(name: str) -> None:
    finding = _assert_finding(_changed("indicator", {name: "value"}), name, "property-name")
    assert "3-250" in finding.message


def test_well_formed_custom_properties_are_kept() -> None:
    assert validate(_changed("indicator", {"x_mitre_platforms": ["ATLAS"], "x" * 250: 1, "abc": None})) == []


@pytest.mark.parametrize(("key", "body", "path"), [
    ("extension-definition--not-a-uuid", {"extension_type": "property-extension"},
     "extensions.extension-definition--not-a-uuid"),
    (f"extension-definition--{U}", {"extension_type": "new-thing"}, f"extensions.extension-definition--{U}"
                                                                     ".extension_type"),
    (f"extension-definition--{U}", "property-extension", f"extensions.extension-definition--{U}.extension_type"),
    ("my-extension", {"x": 1}, "extensions.my-extension"),
])
def test_extension_keys(key: str, body: Any, path: str) -> None:
    _assert_finding(_changed("indicator", {"extensions": {key: body}}), path)


def test_predefined_and_custom_extension_keys_are_accepted() -> None:
    obj = _changed("file", {"extensions": {"archive-ext": {"contains_refs": [FILE]}, "x-vendor": {"y": 1},
                                           f"extension-definition--{U}": {"extension_type": "property-extension"}}})
    assert validate(obj) == []


# ------------------------------------------------------------------ rules of particular types


def test_malware_family_needs_a_name() -> None:
    finding = _assert_finding(_changed("malware", {"name": DELETE}), "name", "required")
    assert "is_family" in finding.message
    assert validate(_changed("malware", {"name": DELETE, "is_family": False})) == []


@pytest.mark.parametrize(("change", "path", "words"), [
    ({"latitude": DELETE, "longitude": DELETE}, "", ("region", "country", "latitude")),
    ({"longitude": DELETE}, "longitude", ()),
    ({"latitude": DELETE}, "latitude", ()),
    ({"latitude": 91.0}, "latitude", ("-90",)),
    ({"longitude": -180.5}, "longitude", ("180",)),
    ({"latitude": "48.8566"}, "latitude", ()),
    ({"precision": -1.0}, "precision", ()),
    ({"latitude": DELETE, "longitude": DELETE, "region": "europe"}, "precision", ("latitude",)),
    ({"latitude": DELETE, "longitude": DELETE, "precision": DELETE, "country": ""}, "country", ()),
])
def test_location(change: dict[str, Any], path: str, words: tuple[str, ...]) -> None:
    _assert_finding(_changed("location", change), path, None, *words)


def test_a_location_by_region_alone_is_valid() -> None:
    assert validate(_changed("location", {"latitude": DELETE, "longitude": DELETE, "precision": DELETE,
                                          "region": "northern-europe"})) == []


@pytest.mark.parametrize(("change", "path", "words"), [
    ({"name": DELETE, "hashes": DELETE}, "", ("hashes", "name")),
    ({"hashes": {}}, "hashes", ()),
    ({"hashes": {"SHA-256": ""}}, "hashes.SHA-256", ()),
    ({"hashes": ["SHA-256", SHA256]}, "hashes", ()),
])
def test_file(change: dict[str, Any], path: str, words: tuple[str, ...]) -> None:
    _assert_finding(_changed("file", change), path, None, *words)


@pytest.mark.parametrize(("change", "path", "words"), [
    ({"url": "https://evil.example/a.bin", "hashes": {"SHA-256": SHA256}}, "", ("payload_bin", "url")),
    ({"payload_bin": DELETE}, "", ("payload_bin", "url")),
    ({"payload_bin": DELETE, "url": "https://evil.example/a.bin"}, "hashes", ("url",)),
])
def test_artifact(change: dict[str, Any], path: str, words: tuple[str, ...]) -> None:
    _assert_finding(_changed("artifact", change), path, None, *words)


def test_network_traffic_needs_an_endpoint() -> None:
    _assert_finding(_changed("network-traffic", {"dst_ref": DELETE}), "", "required", "src_ref", "dst_ref")


@pytest.mark.parametrize(("change", "path", "words"), [
    ({"definition": DELETE}, "", ("definition_type", "definition", "extensions")),
    ({"definition_type": DELETE}, "", ("definition_type", "definition")),
    ({"definition": {}}, "definition", ()),
    ({"definition": "Copyright 2026"}, "definition", ()),
])
def test_marking_definition_definition(change: dict[str, Any], path: str, words: tuple[str, ...]) -> None:
    _assert_finding(_changed("marking-definition", change), path, None, *words)


def test_a_tlp2_marking_definition_with_only_its_extension_is_valid() -> None:
    tlp = {"type": "marking-definition", "spec_version": "2.1", "id": TLP_GREEN, "created": "2022-10-01T00:00:00.000Z",
           "name": "TLP:GREEN", "extensions": {"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
               "extension_type": "property-extension", "tlp_2_0": "green"}}}
    assert validate(tlp) == []


@pytest.mark.parametrize(("change", "path", "words"), [
    ({"object_refs": DELETE}, "object_refs", ("objects",)),
    ({"objects": {"0": {"type": "ipv4-addr", "value": "198.51.100.1"}}}, "object_refs", ("objects",)),
    ({"object_refs": [RELATIONSHIP]}, "object_refs", ("SCO",)),
])
def test_observed_data_object_refs(change: dict[str, Any], path: str, words: tuple[str, ...]) -> None:
    _assert_finding(_changed("observed-data", change), path, None, *words)


def test_malware_analysis_needs_a_result_or_analysed_scos() -> None:
    _assert_finding(_changed("malware-analysis", {"result": DELETE}), "", "required", "result", "analysis_sco_refs")
    assert validate(_changed("malware-analysis", {"result": DELETE, "analysis_sco_refs": [FILE]})) == []


def test_extension_definition_needs_created_by_ref() -> None:
    _assert_finding(_changed("extension-definition", {"created_by_ref": DELETE}), "created_by_ref", "required")


# ------------------------------------------------------------------ kill chains, external references, granular markings


@pytest.mark.parametrize(("phase", "path"), [
    ({"kill_chain_name": "mitre-atlas"}, "kill_chain_phases[0].phase_name"),
    ({"phase_name": "execution"}, "kill_chain_phases[0].kill_chain_name"),
    ({"kill_chain_name": "", "phase_name": "execution"}, "kill_chain_phases[0].kill_chain_name"),
    ({"kill_chain_name": "mitre-atlas", "phase_name": 3}, "kill_chain_phases[0].phase_name"),
    ("mitre-atlas:execution", "kill_chain_phases[0]"),
])
def test_kill_chain_phases(phase: Any, path: str) -> None:
    for stix_type in ("attack-pattern", "indicator", "malware", "tool", "infrastructure", "incident"):
        _assert_finding(_changed(stix_type, {"kill_chain_phases": [phase]}), path)


@pytest.mark.parametrize(("reference", "path", "words"), [
    ({"url": "https://atlas.mitre.org/"}, "external_references[0].source_name", ()),
    ({"source_name": "", "url": "https://atlas.mitre.org/"}, "external_references[0].source_name", ()),
    ({"source_name": "mitre-atlas"}, "external_references[0]", ("description", "url", "external_id")),
    ({"source_name": "mitre-atlas", "url": 5}, "external_references[0].url", ()),
    ({"source_name": "mitre-atlas", "external_id": ["AML.T0051"]}, "external_references[0].external_id", ()),
    ({"source_name": "x", "url": "https://x.example/", "hashes": {}}, "external_references[0].hashes", ()),
    ("https://atlas.mitre.org/", "external_references[0]", ()),
])
def test_external_references(reference: Any, path: str, words: tuple[str, ...]) -> None:
    _assert_finding(_changed("attack-pattern", {"external_references": [reference]}), path, None, *words)


@pytest.mark.parametrize(("marking", "path", "words"), [
    ({"marking_ref": TLP_GREEN, "lang": "fr", "selectors": ["name"]}, "granular_markings[0]",
     ("marking_ref", "lang")),
    ({"selectors": ["name"]}, "granular_markings[0]", ("marking_ref", "lang")),
    ({"marking_ref": TLP_GREEN}, "granular_markings[0].selectors", ()),
    ({"marking_ref": TLP_GREEN, "selectors": []}, "granular_markings[0].selectors", ()),
    ({"marking_ref": TLP_GREEN, "selectors": [""]}, "granular_markings[0].selectors[0]", ()),
    ({"marking_ref": "TLP:GREEN", "selectors": ["name"]}, "granular_markings[0].marking_ref", ()),
    ([TLP_GREEN, "name"], "granular_markings[0]", ()),
])
def test_granular_markings(marking: Any, path: str, words: tuple[str, ...]) -> None:
    _assert_finding(_changed("indicator", {"granular_markings": [marking]}), path, None, *words)


# ------------------------------------------------------------------ patterns


@pytest.mark.parametrize("pattern", [
    "[url:value = 'https://evil.example/inject'",  # unclosed observation
    "url:value = 'x'",  # no brackets
    "[url:value = 'x'] AND",
    "[url:value == ]",
    "[url:value LIKE 5]",
    "[url:value = 'x' AND]",
    "[url:value = 'x'] WITHIN -5 SECONDS",
    "[url:value = 'x'] REPEATS 0 TIMES",
    "[url:value = 'x'] WITHIN 5 SECONDS WITHIN 10 SECONDS",
    "[url:value = 'x'] START '2026-01-01T00:00:00Z' STOP t'2026-01-02T00:00:00Z'",
    "[url:value > true]",
    "[url:value = 007]",
    "[file:first-name = 'x']",  # a property name with a hyphen must be quoted
    "[url:value = 'it's']",
    "[url:value = b'not base64!']",
    "[url:value = h'abc']",
    "[url:value IN ('a', )]",
    "[(url:value = 'x']",
    "",
])
def test_pattern_syntax_errors_point_at_a_position(pattern: str) -> None:
    error = pattern_error(pattern)
    assert error is not None and "position" in error, error
    finding = _assert_finding(_changed("indicator", {"pattern": pattern}) if pattern else
                              _changed("indicator", {"pattern": " "}), "pattern", "pattern")
    assert "is not a valid STIX pattern" in finding.message


@pytest.mark.parametrize(("pattern", "algorithm"), [
    ("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427']", "MD5"),
    ("[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd8070g']", "SHA-1"),
    (f"[file:hashes.'SHA-256' != '{SHA256}00']", "SHA-256"),
    ("[file:hashes.sha256 = 'abc']", "sha256"),
    (f"[file:hashes.'SHA-512' = '{SHA256}']", "SHA-512"),
    (f"[file:hashes.'SHA3-256' IN ('{SHA256}', 'abc')]", "SHA3-256"),
    ("[artifact:hashes.MD5 = 5]", "MD5"),
    (f"[ai-prompt:hashes.'SHA-256' = '{SHA256}'] OR [file:hashes.MD5 = 'x']", "MD5"),
])
def test_hash_lengths_in_patterns(pattern: str, algorithm: str) -> None:
    error = pattern_error(pattern)
    assert error is not None and f"not a valid {algorithm} hash" in error, error
    _assert_finding(_changed("indicator", {"pattern": pattern}), "pattern", "pattern")


@pytest.mark.parametrize("pattern", [
    f"[file:hashes.'SHA-256' = '{SHA256}']",
    f"[file:hashes.'SHA-256' IN ('{SHA256}', '{SHA256.upper()}')]",
    "[file:hashes.MD5 LIKE 'd41d8cd98f00b204%']",  # a prefix search is not a malformed hash
    "[file:hashes.'x-custom' = 'anything']",
    "[ipv4-addr:value = '198.51.100.1'] FOLLOWEDBY [url:value = 'x'] WITHIN 60 SECONDS",
    "([url:value = 'a'] WITHIN 5 SECONDS) WITHIN 10 SECONDS",  # qualifiers of different expressions
    "[url:value = 'a'] WITHIN 5 SECONDS REPEATS 2 TIMES START t'2026-01-01T00:00:00Z' STOP t'2026-02-01T00:00:00Z'",
    "[network-traffic:dst_ref.value = '192.0.2.1' AND network-traffic:extensions.'http-request-ext'.x[*] = 1]",
    "[url:value <> 'x'] /* a comment */",
])
def test_valid_patterns(pattern: str) -> None:
    assert pattern_error(pattern) is None
    assert validate(_changed("indicator", {"pattern": pattern})) == []


def test_other_pattern_languages_are_not_parsed() -> None:
    assert validate(_changed("indicator", {"pattern_type": "sigma", "pattern": "title: x\ndetection: {}"})) == []
