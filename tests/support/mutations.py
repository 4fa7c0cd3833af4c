"""Mutations of valid STIX 2.1 objects, each labelled with the rule it breaks, its section of the specification, and
whether a conforming consumer must reject it (``must=True``: it breaks a MUST), must accept it (``must=False``: a
valid variant), or the specification does not say clearly enough (``must=None``: reported, never counted).

One valid base object per STIX 2.1 SDO, SRO, SCO and meta type (``BASE``, each parsed by stix2 in the test); every
required property dropped; every property given a value of the wrong JSON type; every timestamp, identifier,
reference, hash, list, closed enumeration, property name, ``lang`` and value format broken in each way §2-§3 forbid;
every co-constraint broken; plus valid variants real producers send. Deterministic: the same list every run.

``python -m tests.support.mutations --report`` prints the exchange's figures (MUST violations accepted, valid
objects rejected, per rule), stix2-validator's on the same set, and the exchange's single-core validation rate on
tests/data."""

import copy
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from app.stix.model import SCO_TYPES as STIX_SCO_TYPES

T0, T1, T2 = "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"
U = "4b9b7a8e-6d7f-4c3a-9b1e-2f5d8c7a6e10"
TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP1_WHITE = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
SHA256 = "0e461b6458cf90aec94ad432af9a96aad8d0e54e7f6f131d414776a112e31766"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
EXTENSION = "extension-definition--1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")

SCO_TYPES = tuple(sorted(STIX_SCO_TYPES - {"ai-prompt"}))  # STIX 2.1's own (ai-prompt is the exchange's)


def ref(stix_type: str) -> str:
    return f"{stix_type}--{U}"


def _sdo(stix_type: str, **props: Any) -> dict[str, Any]:
    return {"type": stix_type, "spec_version": "2.1", "id": ref(stix_type), "created": T0, "modified": T0,
            "object_marking_refs": [TLP_GREEN], **props}


def _sco(stix_type: str, **props: Any) -> dict[str, Any]:
    return {"type": stix_type, "spec_version": "2.1", "id": ref(stix_type), "object_marking_refs": [TLP_GREEN],
            **props}


KILL_CHAIN = [{"kill_chain_name": "mitre-atlas", "phase_name": "initial-access"}]

# A valid object of each type, carrying the optional properties that rules apply to. The indicator carries every
# common property.
BASE: dict[str, dict[str, Any]] = {
    "attack-pattern": _sdo("attack-pattern", name="LLM Prompt Injection", kill_chain_phases=KILL_CHAIN),
    "campaign": _sdo("campaign", name="Operation Echo", first_seen=T0, last_seen=T1),
    "course-of-action": _sdo("course-of-action", name="Input filtering"),
    "grouping": _sdo("grouping", context="suspicious-activity", object_refs=[ref("indicator")]),
    "identity": _sdo("identity", name="Northwind AI", identity_class="organization", sectors=["technology"]),
    "incident": _sdo("incident", name="Model weights exfiltrated", kill_chain_phases=KILL_CHAIN),
    "indicator": _sdo(
        "indicator", name="injection marker", pattern="[url:value = 'https://evil.example/inject']",
        pattern_type="stix", valid_from=T0, valid_until=T1, indicator_types=["malicious-activity"],
        kill_chain_phases=KILL_CHAIN, created_by_ref=ref("identity"), revoked=False, labels=["prompt-injection"],
        confidence=80, lang="en",
        external_references=[{"source_name": "mitre-atlas", "external_id": "AML.T0051",
                              "url": "https://atlas.mitre.org/techniques/AML.T0051"}],
        granular_markings=[{"marking_ref": TLP_GREEN, "selectors": ["description"]}],
        description="what it finds"),
    "infrastructure": _sdo("infrastructure", name="docs mirror", first_seen=T0, last_seen=T1),
    "intrusion-set": _sdo("intrusion-set", name="Glass Heron", aliases=["GH"], first_seen=T0, last_seen=T1),
    "location": _sdo("location", name="Paris", latitude=48.8566, longitude=2.3522, precision=1000.0),
    "malware": _sdo("malware", name="picklebomb", is_family=True, sample_refs=[ref("file")], first_seen=T0,
                    last_seen=T1),
    "malware-analysis": _sdo("malware-analysis", product="sandbox", result="malicious", sample_ref=ref("file")),
    "note": _sdo("note", content="seen twice", object_refs=[ref("indicator")]),
    "observed-data": _sdo("observed-data", first_observed=T0, last_observed=T1, number_observed=3,
                          object_refs=[ref("ipv4-addr")]),
    "opinion": _sdo("opinion", opinion="agree", object_refs=[ref("indicator")]),
    "report": _sdo("report", name="Quarterly", published=T1, object_refs=[ref("indicator")]),
    "threat-actor": _sdo("threat-actor", name="Glass Heron", first_seen=T0, last_seen=T1),
    "tool": _sdo("tool", name="promptmap"),
    "vulnerability": _sdo("vulnerability", name="CVE-2023-29374"),
    "relationship": _sdo("relationship", relationship_type="indicates", source_ref=ref("indicator"),
                         target_ref=ref("malware"), start_time=T0, stop_time=T1),
    "sighting": _sdo("sighting", sighting_of_ref=ref("indicator"), where_sighted_refs=[ref("identity")],
                     observed_data_refs=[ref("observed-data")], count=2, first_seen=T0, last_seen=T1),
    "marking-definition": {"type": "marking-definition", "spec_version": "2.1", "id": ref("marking-definition"),
                           "created": T0, "definition_type": "statement",
                           "definition": {"statement": "Copyright 2026"}},
    "language-content": _sdo("language-content", object_ref=ref("indicator"), object_modified=T0,
                             contents={"fr": {"name": "marqueur"}}),
    "extension-definition": _sdo("extension-definition", created_by_ref=ref("identity"), name="acme widgets",
                                 version="1.0.0", schema="https://example.org/schema.json",
                                 extension_types=["property-extension"]),
    "artifact": _sco("artifact", mime_type="text/plain", payload_bin="aGVsbG8=", encryption_algorithm="AES-256-GCM",
                     decryption_key="secret"),
    "autonomous-system": _sco("autonomous-system", number=64500, name="ACME"),
    "directory": _sco("directory", path="/tmp", ctime=T0),
    "domain-name": _sco("domain-name", value="evil.example", resolves_to_refs=[ref("ipv4-addr")]),
    "email-addr": _sco("email-addr", value="a@evil.example", belongs_to_ref=ref("user-account")),
    "email-message": _sco("email-message", is_multipart=False, from_ref=ref("email-addr"), body="hello",
                          date=T0),
    "file": _sco("file", name="model.pt", size=10, hashes={"SHA-256": SHA256}, parent_directory_ref=ref("directory"),
                 content_ref=ref("artifact"), name_enc="UTF-8"),
    "ipv4-addr": _sco("ipv4-addr", value="198.51.100.23"),
    "ipv6-addr": _sco("ipv6-addr", value="2001:db8::1"),
    "mac-addr": _sco("mac-addr", value="00:00:5e:00:53:01"),
    "mutex": _sco("mutex", name="Global\\x"),
    "network-traffic": _sco("network-traffic", protocols=["tcp"], dst_ref=ref("ipv4-addr"), dst_port=443,
                            dst_byte_count=10, start=T0, end=T1, is_active=False),
    "process": _sco("process", pid=4, created_time=T0),
    "software": _sco("software", name="mcp-server-weather-pro"),
    "url": _sco("url", value="https://evil.example/"),
    "user-account": _sco("user-account", user_id="1001", is_privileged=False),
    "windows-registry-key": _sco("windows-registry-key", key="HKEY_LOCAL_MACHINE\\System",
                                 values=[{"name": "Run", "data": "x.exe", "data_type": "REG_SZ"}]),
    "x509-certificate": _sco("x509-certificate", hashes={"SHA-256": SHA256}, serial_number="01"),
}

# STIX 2.1's required properties per type beyond type and id, written out from the specification: spec_version,
# created and modified for every SDO and SRO; created for marking-definitions (§7.2.1); and per type.
REQUIRED: dict[str, list[str]] = {
    "attack-pattern": ["name"], "campaign": ["name"], "course-of-action": ["name"],
    "grouping": ["context", "object_refs"], "identity": ["name"], "incident": ["name"],
    "indicator": ["pattern", "pattern_type", "valid_from"], "infrastructure": ["name"], "intrusion-set": ["name"],
    "location": [], "malware": ["is_family"], "malware-analysis": ["product"], "note": ["content", "object_refs"],
    "observed-data": ["first_observed", "last_observed", "number_observed", "object_refs"],
    "opinion": ["opinion", "object_refs"], "report": ["name", "published", "object_refs"],
    "threat-actor": ["name"], "tool": ["name"], "vulnerability": ["name"],
    "relationship": ["relationship_type", "source_ref", "target_ref"], "sighting": ["sighting_of_ref"],
    "marking-definition": [], "language-content": ["object_ref", "contents"],
    "extension-definition": ["created_by_ref", "name", "schema", "version", "extension_types"],
    "autonomous-system": ["number"], "directory": ["path"], "domain-name": ["value"], "email-addr": ["value"],
    "email-message": ["is_multipart"], "ipv4-addr": ["value"], "ipv6-addr": ["value"], "mac-addr": ["value"],
    "mutex": ["name"], "network-traffic": ["protocols"], "software": ["name"], "url": ["value"],
}

# The types each reference property may point at (STIX 2.1 property tables); properties absent here take any type.
REF_TARGETS: dict[str, set[str]] = {
    "created_by_ref": {"identity"}, "object_marking_refs": {"marking-definition"},
    "sample_refs": {"file", "artifact"}, "sample_ref": {"file", "network-traffic", "artifact"},
    "where_sighted_refs": {"identity", "location"}, "observed_data_refs": {"observed-data"},
    "resolves_to_refs": {"ipv4-addr", "ipv6-addr", "domain-name"}, "belongs_to_ref": {"user-account"},
    "from_ref": {"email-addr"}, "parent_directory_ref": {"directory"}, "content_ref": {"artifact"},
    "dst_ref": {"ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"},
    "object_refs@observed-data": set(SCO_TYPES) | {"relationship", "sighting"},
    "source_ref": {"attack-pattern", "campaign", "indicator", "malware", *SCO_TYPES},  # SDOs or SCOs: not meta
    "target_ref": {"attack-pattern", "campaign", "indicator", "malware", *SCO_TYPES},
    "sighting_of_ref": {"attack-pattern", "campaign", "indicator", "malware"},  # an SDO
}
# Each reference gets a target outside its set: one of these, the first that is not allowed.
_WRONG_TARGETS = ("marking-definition", "tool", "bundle")

_DIGEST = {"SHA-256": 64, "MD5": 32}


@dataclass(frozen=True)
class Mutation:
    name: str  # "<type>: <what changed>", unique
    rule: str  # short rule id, e.g. "required", "timestamp", "co-constraint"
    section: str  # section of STIX 2.1 CS02 (2021)
    must: bool | None  # True: breaks a MUST (reject); False: valid (accept); None: unclear, not counted
    obj: dict[str, Any]


Change = Callable[[dict[str, Any]], None]


def _set(prop: str, value: Any) -> Change:
    def change(obj: dict[str, Any]) -> None:
        obj[prop] = value
    return change


def _drop(*props: str) -> Change:
    def change(obj: dict[str, Any]) -> None:
        for prop in props:
            obj.pop(prop, None)
    return change


def _both(*changes: Change) -> Change:
    def change(obj: dict[str, Any]) -> None:
        for one in changes:
            one(obj)
    return change


def _make(stix_type: str, what: str, rule: str, section: str, must: bool | None, change: Change) -> Mutation:
    """A copy of ``BASE[stix_type]`` changed by ``change``, with an id of its own (unless the change set one), so that
    every mutation can travel in one envelope."""
    obj = copy.deepcopy(BASE[stix_type])
    change(obj)
    name = f"{stix_type}: {what}"
    if obj.get("id") == BASE[stix_type]["id"]:
        obj["id"] = f"{stix_type}--{uuid.uuid5(_NAMESPACE, name)}"
    return Mutation(name, rule, section, must, obj)


def _is_timestamp(value: Any) -> bool:
    return isinstance(value, str) and len(value) >= 20 and value[4] == "-" and value[10] == "T"


# ------------------------------------------------------------------ per-property mutations

# §3.2 (created/modified) and the timestamp type of §2: "MUST be a valid RFC 3339-formatted timestamp [RFC3339]
# using the format YYYY-MM-DDTHH:mm:ss[.s+]Z" in UTC with "the 'Z' designation". RFC 3339 alone would admit 't'
# and 'z' (its §5.6 note); the STIX format fixes upper-case T and Z, as do the OASIS JSON schema
# (common/timestamp.json) and stix2's regular expression. So lower-case t/z stay MUST violations.
BAD_TIMESTAMPS = {
    "lower-case t": "2026-01-01t00:00:00.000Z", "lower-case z": "2026-01-01T00:00:00.000z",
    "offset +00:00": "2026-01-01T00:00:00.000+00:00", "offset +02:00": "2026-01-01T02:00:00.000+02:00",
    "no Z": "2026-01-01T00:00:00.000", "February 30": "2026-02-30T00:00:00.000Z", "month 13": "2026-13-01T00:00:00Z",
    "hour 24": "2026-01-01T24:00:00Z", "date only": "2026-01-01", "space for T": "2026-01-01 00:00:00Z",
}
GOOD_TIMESTAMPS = {"second precision": "2026-01-01T12:00:00Z", "microseconds": "2026-01-01T12:00:00.123456Z"}
BAD_UUIDS = {"not a uuid": "not-a-uuid", "short uuid": "4b9b7a8e-6d7f-4c3a-9b1e",
             "upper-case uuid": U.upper(), "non-RFC 4122 variant": "4b9b7a8e-6d7f-4c3a-1b1e-2f5d8c7a6e10"}


def _wrong_types(value: Any) -> dict[str, Any]:
    """Values of the wrong JSON type for a property whose valid value is ``value``."""
    if isinstance(value, bool):
        return {"string for boolean": "true", "integer for boolean": 1}
    if isinstance(value, int):
        return {"string for integer": str(value), "float for integer": value + 0.5, "boolean for integer": True}
    if isinstance(value, float):
        return {"string for number": str(value)}
    if isinstance(value, list):
        return {"string instead of list": value[0] if isinstance(value[0], str) else "x", "empty list": [],
                "list holding a number": [7]}
    if isinstance(value, dict):
        return {"string for dictionary": "x", "list for dictionary": [value]}
    return {"number for string": 42, "list for string": [value], "null for string": None}


def _property_mutations(stix_type: str) -> Iterator[Mutation]:
    base = BASE[stix_type]
    for prop, value in base.items():
        if prop in ("type", "id"):
            continue
        if prop != "spec_version":
            for what, bad in _wrong_types(value).items():
                section = "§2.8 (empty list)" if what == "empty list" else "§2 (property types)"
                yield _make(stix_type, f"{prop} {what}", "type", section, True, _set(prop, bad))
        if _is_timestamp(value):
            for what, bad in BAD_TIMESTAMPS.items():
                yield _make(stix_type, f"{prop} {what}", "timestamp", "§3.2", True, _set(prop, bad))
            for what, good in GOOD_TIMESTAMPS.items():
                if prop not in ("created", "modified"):  # (keeps created <= modified)
                    yield _make(stix_type, f"{prop} {what}", "timestamp", "§3.2", False, _set(prop, good))
        refs = value if prop.endswith("_refs") and isinstance(value, list) else [value] if prop.endswith("_ref") \
            else []
        for target in refs:
            yield from _ref_mutations(stix_type, prop, target, isinstance(value, list))
        if prop == "hashes":
            yield from _hash_mutations(stix_type)


def _ref_mutations(stix_type: str, prop: str, target: str, is_list: bool) -> Iterator[Mutation]:
    def put(new: str) -> Change:
        return _set(prop, [new] if is_list else new)
    prefix = target.partition("--")[0]
    for what, bad in BAD_UUIDS.items():
        must: bool | None = what != "upper-case uuid" or None  # RFC 4122 reads upper case; STIX prints lower
        yield _make(stix_type, f"{prop} {what}", "identifier", "§2.9", must, put(f"{prefix}--{bad}"))
    yield _make(stix_type, f"{prop} without type prefix", "identifier", "§2.9", True, put(U))
    allowed = REF_TARGETS.get(f"{prop}@{stix_type}", REF_TARGETS.get(prop))
    if allowed is not None:
        wrong = next(t for t in _WRONG_TARGETS if t not in allowed)
        yield _make(stix_type, f"{prop} to a {wrong}", "ref-type", "§2.9 + property table", True, put(ref(wrong)))


def _hash_mutations(stix_type: str) -> Iterator[Mutation]:
    cases: list[tuple[str, dict[str, str], bool | None]] = [
        ("SHA-256 of 63 digits", {"SHA-256": SHA256[:-1]}, True),
        ("SHA-256 with non-hex digits", {"SHA-256": "z" * 64}, True),
        ("MD5 of 40 digits", {"MD5": SHA256[:40]}, True),
        ("two-character key", {"md": MD5}, True),
        ("251-character key", {"x_" + "h" * 249: "abc"}, True),
        ("MD5", {"MD5": MD5}, False),
        ("upper-case hex", {"SHA-256": SHA256.upper()}, False),
        ("custom algorithm", {"x_acme_fuzzy": "3:abc:def"}, False),
        ("sha256 (vocabulary name spelled otherwise)", {"sha256": SHA256}, None),  # SHOULD use the vocabulary
    ]
    for what, hashes, must in cases:
        yield _make(stix_type, f"hashes {what}", "hashes", "§2.7 + §10.7", must, _set("hashes", hashes))


def _required_mutations(stix_type: str) -> Iterator[Mutation]:
    base = BASE[stix_type]
    common = ["type", "id"] + (["spec_version"] if stix_type not in SCO_TYPES else [])
    if "created" in base:
        common.append("created")
    if "modified" in base:
        common.append("modified")
    for prop in common + REQUIRED.get(stix_type, []):
        yield _make(stix_type, f"without {prop}", "required", "§3.2-§7 property tables", True, _drop(prop))


def _name_mutations(stix_type: str) -> Iterator[Mutation]:
    """§3.1 property names (and §11.1 custom properties): ASCII a-z, 0-9, _; 3-250 characters."""
    cases: list[tuple[str, str, bool | None]] = [
        ("upper-case property name", "x_Acme", True), ("two-character property name", "xa", True),
        ("251-character property name", "x_" + "a" * 249, True), ("hyphen in property name", "x-acme", True),
        ("non-ASCII property name", "x_acmé", True), ("space in property name", "x acme", True),
        ("250-character property name", "x_" + "a" * 248, False), ("custom x_ property", "x_acme_score", False),
        ("custom property without x_", "acme_score", False),
        ("property name with leading digit", "1acme", None), ("property name with leading underscore", "_acme", None),
    ]
    for what, name, must in cases:
        yield _make(stix_type, what, "property-name", "§3.1 / §11.1", must, _set(name, 1))


# ------------------------------------------------------------------ formats, enumerations and co-constraints

_CASES: list[tuple[str, str, str, str, bool | None, Change]] = [
    # (type, what, rule, section, must, change)
    ("indicator", "lang en_US", "lang", "§3.3 lang (RFC 5646)", True, _set("lang", "en_US")),
    ("indicator", "lang of one letter", "lang", "§3.3 lang (RFC 5646)", True, _set("lang", "e")),
    ("indicator", "lang with a space", "lang", "§3.3 lang (RFC 5646)", True, _set("lang", "en US")),
    ("indicator", "lang zh-Hant-TW", "lang", "§3.3 lang (RFC 5646)", False, _set("lang", "zh-Hant-TW")),
    ("indicator", "lang en-US", "lang", "§3.3 lang (RFC 5646)", False, _set("lang", "en-US")),
    ("language-content", "contents key not RFC 5646", "lang", "§7.1", True, _set("contents", {"fr_FR": {"name": "m"}})),
    ("mac-addr", "upper-case value", "format", "§6.10", True, _set("value", "00:00:5E:00:53:01")),
    ("mac-addr", "value without leading zeros", "format", "§6.10", True, _set("value", "0:0:5e:0:53:1")),
    ("mac-addr", "value with hyphens", "format", "§6.10", True, _set("value", "00-00-5e-00-53-01")),
    ("url", "value without scheme", "format", "§6.15 (RFC 3986 URL)", True, _set("value", "evil.example/inject")),
    ("indicator", "external_references url without scheme", "format", "§2.5 url", True,
     _set("external_references", [{"source_name": "acme", "url": "atlas.mitre.org/x"}])),
    ("artifact", "payload_bin not base64", "format", "§2.2 binary", True, _set("payload_bin", "not base64!")),
    ("artifact", "payload_bin with bad padding", "format", "§2.2 binary", True, _set("payload_bin", "aGVsbG8")),
    ("ipv4-addr", "value not an address", "format", "§6.7", None, _set("value", "999.1.1.1")),
    ("relationship", "upper-case relationship_type", "format", "§5.1", True, _set("relationship_type", "Indicates")),
    ("relationship", "relationship_type with underscore", "format", "§5.1", True,
     _set("relationship_type", "related_to")),
    ("indicator", "pattern ungrammatical", "pattern", "§9", True, _set("pattern", "[url:value = ]")),
    ("indicator", "pattern with upper-case object type", "pattern-path", "§9.4", True,
     _set("pattern", "[File:Name = 'a']")),
    ("indicator", "pattern with a misspelt file property", "pattern-path", "§9.4", None,
     _set("pattern", "[file:nmae = 'a']")),
    ("indicator", "pattern with a short SHA-256", "pattern", "§9.4 + §10.7", True,
     _set("pattern", f"[file:hashes.'SHA-256' = '{SHA256[:-2]}']")),
    # closed enumerations (§10)
    ("opinion", "opinion out of enumeration", "enum", "§10.8 opinion-enum", True, _set("opinion", "maybe")),
    ("extension-definition", "extension_types out of enumeration", "enum", "§10.5 extension-type-enum", True,
     _set("extension_types", ["new-widget"])),
    ("artifact", "encryption_algorithm out of enumeration", "enum", "§10.4 encryption-algorithm-enum", True,
     _set("encryption_algorithm", "rot13")),
    ("windows-registry-key", "data_type out of enumeration", "enum", "§10.17 windows-registry-datatype-enum", True,
     _set("values", [{"name": "Run", "data": "x", "data_type": "REG_TEXT"}])),
    ("identity", "identity_class outside its open vocabulary", "enum", "§10.11 (open)", False,
     _set("identity_class", "collective")),
    # ranges
    ("indicator", "confidence 101", "range", "§3.3 confidence", True, _set("confidence", 101)),
    ("indicator", "confidence -1", "range", "§3.3 confidence", True, _set("confidence", -1)),
    ("observed-data", "number_observed 0", "range", "§4.13", True, _set("number_observed", 0)),
    ("observed-data", "number_observed 1e9", "range", "§4.13", True, _set("number_observed", 1_000_000_000)),
    ("sighting", "count 1e9", "range", "§5.2", True, _set("count", 1_000_000_000)),
    ("location", "latitude 91", "range", "§4.11", True, _set("latitude", 91.0)),
    ("location", "longitude -181", "range", "§4.11", True, _set("longitude", -181.0)),
    ("network-traffic", "dst_port 65536", "range", "§6.12", True, _set("dst_port", 65536)),
    ("file", "size -1", "range", "§6.7", True, _set("size", -1)),
    # co-constraints
    ("relationship", "stop_time equal to start_time", "co-constraint", "§5.1", True, _set("stop_time", T0)),
    ("relationship", "stop_time before start_time", "co-constraint", "§5.1", True, _set("start_time", T2)),
    ("indicator", "valid_until equal to valid_from", "co-constraint", "§4.7", True, _set("valid_until", T0)),
    ("indicator", "valid_until before valid_from", "co-constraint", "§4.7", True, _set("valid_from", T2)),
    ("indicator", "modified before created", "co-constraint", "§3.2", True, _set("created", T1)),
    ("campaign", "last_seen before first_seen", "co-constraint", "§4.2", True, _set("first_seen", T2)),
    ("intrusion-set", "last_seen before first_seen", "co-constraint", "§4.9", True, _set("first_seen", T2)),
    ("threat-actor", "last_seen before first_seen", "co-constraint", "§4.16", True, _set("first_seen", T2)),
    ("infrastructure", "last_seen before first_seen", "co-constraint", "§4.8", True, _set("first_seen", T2)),
    ("malware", "last_seen before first_seen", "co-constraint", "§4.12", True, _set("first_seen", T2)),
    ("sighting", "last_seen before first_seen", "co-constraint", "§5.2", True, _set("first_seen", T2)),
    ("observed-data", "last_observed before first_observed", "co-constraint", "§4.13", True,
     _set("first_observed", T2)),
    ("campaign", "last_seen equal to first_seen", "co-constraint", "§4.2", False, _set("last_seen", T0)),
    ("network-traffic", "end before start", "co-constraint", "§6.12", True, _set("start", T2)),
    ("network-traffic", "end with is_active true", "co-constraint", "§6.12", True, _set("is_active", True)),
    ("network-traffic", "neither src_ref nor dst_ref", "co-constraint", "§6.12", True, _drop("dst_ref")),
    ("email-message", "body with is_multipart true", "co-constraint", "§6.6", True, _set("is_multipart", True)),
    ("email-message", "body_multipart with is_multipart false", "co-constraint", "§6.6", True,
     _both(_drop("body"), _set("body_multipart", [{"content_type": "text/plain", "body": "hi"}]))),
    ("artifact", "payload_bin with url", "co-constraint", "§6.1", True,
     _both(_set("url", "https://evil.example/a"), _set("hashes", {"SHA-256": SHA256}))),
    ("artifact", "url without hashes", "co-constraint", "§6.1", True,
     _both(_drop("payload_bin"), _set("url", "https://evil.example/a"))),
    ("artifact", "decryption_key without encryption_algorithm", "co-constraint", "§6.1", True,
     _drop("encryption_algorithm")),
    ("file", "neither hashes nor name", "co-constraint", "§6.7", True, _drop("hashes", "name")),
    ("location", "latitude without longitude", "co-constraint", "§4.11", True, _drop("longitude")),
    ("location", "precision without latitude and longitude", "co-constraint", "§4.11", True,
     _both(_drop("latitude", "longitude"), _set("region", "europe"))),
    ("location", "none of region, country, latitude", "co-constraint", "§4.11", True,
     _drop("latitude", "longitude", "precision")),
    ("malware", "is_family true without name", "co-constraint", "§4.12", True, _drop("name")),
    ("malware-analysis", "neither result nor analysis_sco_refs", "co-constraint", "§4.13", True, _drop("result")),
    ("observed-data", "objects and object_refs", "co-constraint", "§4.13", True,
     _set("objects", {"0": {"type": "ipv4-addr", "value": "198.51.100.1"}})),
    ("marking-definition", "modified on a marking-definition", "co-constraint", "§7.2.1", True, _set("modified", T1)),
    ("marking-definition", "neither definition nor extensions", "co-constraint", "§7.2.1", True,
     _drop("definition", "definition_type")),
    ("indicator", "external reference with source_name only", "co-constraint", "§2.5", True,
     _set("external_references", [{"source_name": "acme"}])),
    ("indicator", "kill-chain phase without phase_name", "required", "§2.6", True,
     _set("kill_chain_phases", [{"kill_chain_name": "mitre-atlas"}])),
    ("indicator", "granular marking with marking_ref and lang", "co-constraint", "§7.2.3", True,
     _set("granular_markings", [{"marking_ref": TLP_GREEN, "lang": "en", "selectors": ["description"]}])),
    ("indicator", "granular marking without selectors", "required", "§7.2.3", True,
     _set("granular_markings", [{"marking_ref": TLP_GREEN}])),
    ("indicator", "granular marking selecting an absent property", "selector", "§7.2.3.1", True,
     _set("granular_markings", [{"marking_ref": TLP_GREEN, "selectors": ["summary"]}])),
    ("indicator", "granular marking selecting an absent list item", "selector", "§7.2.3.1", True,
     _set("granular_markings", [{"marking_ref": TLP_GREEN, "selectors": ["labels.[3]"]}])),
    ("indicator", "granular marking by lang", "selector", "§7.2.3", False,
     _set("granular_markings", [{"lang": "fr", "selectors": ["name", "external_references.[0].source_name"]}])),
    ("file", "name_enc in lower case", "format", "§6.7 (IANA charset names are case-insensitive)", False,
     _set("name_enc", "utf-8")),
    ("language-content", "without object_modified", "required", "§7.1 (object_modified is optional)", False,
     _drop("object_modified")),
    ("indicator", "extension by -ext name that is not predefined", "extension", "§7.3", None,
     _set("extensions", {"acme-ext": {"score": 1}})),
    ("indicator", "property extension by extension-definition id", "extension", "§7.3", False,
     _set("extensions", {EXTENSION: {"extension_type": "property-extension", "score": 1}})),
    ("indicator", "extension_type out of enumeration", "enum", "§7.3 + §10.5", True,
     _set("extensions", {EXTENSION: {"extension_type": "new-widget"}})),
]


def _extra_valid() -> Iterator[Mutation]:
    """Valid objects that are no mutation of a base: what real producers send."""
    for stix_type in SCO_TYPES:
        yield _make(stix_type, "without spec_version", "required", "§6 (spec_version optional on SCOs)", False,
                    _drop("spec_version"))
    opencti_clear = {"type": "marking-definition", "spec_version": "2.1", "id": TLP1_WHITE,
                     "created": "2017-01-20T00:00:00.000Z", "definition_type": "TLP", "name": "TLP:CLEAR",
                     "definition": {"TLP": "TLP:CLEAR"}, "x_opencti_order": 0, "x_opencti_color": "#ffffff"}
    yield Mutation("marking-definition: OpenCTI TLP:CLEAR under the TLP 1.0 WHITE id", "marking", "§7.2.1.4", False,
                   opencti_clear)
    widget = {"type": "x-acme-widget", "spec_version": "2.1", "id": f"x-acme-widget--{U}", "serial": "W-1",
              "object_marking_refs": [TLP_GREEN], "extensions": {EXTENSION: {"extension_type": "new-sco"}}}
    yield Mutation("x-acme-widget: new-sco object of an extension-definition", "extension", "§7.3", False, widget)
    sdo = {**_sdo("x-acme-campaign", name="W"), "extensions": {EXTENSION: {"extension_type": "new-sdo"}}}
    yield Mutation("x-acme-campaign: new-sdo object of an extension-definition", "extension", "§7.3", False, sdo)


def mutations() -> list[Mutation]:
    """Every mutation, in a fixed order; names are unique."""
    found: list[Mutation] = [Mutation(f"{t}: base", "base", "-", False, copy.deepcopy(o)) for t, o in BASE.items()]
    for stix_type in BASE:
        found += [*_required_mutations(stix_type), *_id_mutations(stix_type), *_property_mutations(stix_type)]
    found += _name_mutations("indicator")
    found += _name_mutations("file")
    found += [_make(*case) for case in _CASES]
    found += _extra_valid()
    return found


def _id_mutations(stix_type: str) -> Iterator[Mutation]:
    for what, bad in BAD_UUIDS.items():
        must: bool | None = what != "upper-case uuid" or None
        yield _make(stix_type, f"id {what}", "identifier", "§2.9", must, _set("id", f"{stix_type}--{bad}"))
    other = "tool" if stix_type != "tool" else "malware"
    yield _make(stix_type, "id of another type", "identifier", "§2.9", True, _set("id", ref(other)))


# ------------------------------------------------------------------ verdicts


CRASH_PREFIX = "validation crashed: "


def exchange_rejection(obj: dict[str, Any]) -> str | None:
    """Why a strict collection rejects ``obj`` on validation grounds, or None when it accepts it: the sequence of
    app.ingest.pipeline.submit (check_object, then the exchange's own extensions, then every STIX MUST), without
    the sharing rules that follow it."""
    from app.stix.ai import check_ai
    from app.stix.checks import ObjectRejected, check_object
    from app.stix.validate import validate

    try:
        check_object(obj)
        findings = check_ai(obj) or validate(obj)
    except ObjectRejected as exc:
        return str(exc)
    except Exception as exc:  # a crash would be a 500 on POST: reported apart (CRASH_PREFIX)
        return f"{CRASH_PREFIX}{exc!r}"
    return "; ".join(str(f) for f in findings) or None


def stix2_validator_verdict(obj: dict[str, Any]) -> bool | None:
    """stix2-validator's answer: True (valid), False (invalid) or None (it crashed)."""
    from stix2validator import ValidationOptions, validate_instance

    try:
        return bool(validate_instance(copy.deepcopy(obj), ValidationOptions(version="2.1")).is_valid)
    except Exception:  # its known crashes on values of the wrong type
        return None


# ------------------------------------------------------------------ figures


@dataclass(frozen=True)
class Figures:
    """Verdicts of one validator on the labelled mutations."""

    must_accepted: list[Mutation]  # MUST violations it accepted (goal: at most 1% of them)
    must_total: int
    valid_rejected: list[tuple[Mutation, str]]  # valid objects it rejected, with why (goal: none)
    valid_total: int
    crashed: list[Mutation]  # no answer at all

    def lines(self, label: str) -> list[str]:
        must = len(self.must_accepted)
        out = [f"{label}: MUST violations accepted: {must} of {self.must_total} "
               f"({100 * must / max(self.must_total, 1):.1f}%); valid objects rejected: {len(self.valid_rejected)} "
               f"of {self.valid_total}; crashed: {len(self.crashed)}"]
        by_rule = Counter(f"{m.rule} ({m.section})" for m in self.must_accepted)
        out += [f"  accepted {count:4d} x {rule}" for rule, count in by_rule.most_common()]
        out += [f"  rejected valid: {m.name}: {why[:140]}" for m, why in self.valid_rejected]
        out += [f"  crashed: {m.name}" for m in self.crashed[:10]]
        out += [f"  crashed: and {len(self.crashed) - 10} more"] if len(self.crashed) > 10 else []
        return out


def figures(verdicts: list[tuple[Mutation, str | None]]) -> Figures:
    """``verdicts`` pairs each mutation with its rejection reason (None: accepted; CRASH_PREFIX...: crashed)."""
    crashed = [m for m, why in verdicts if why is not None and why.startswith(CRASH_PREFIX)]
    return Figures(
        must_accepted=[m for m, why in verdicts if m.must is True and why is None],
        must_total=sum(1 for m, _ in verdicts if m.must is True),
        valid_rejected=[(m, why) for m, why in verdicts if m.must is False and why is not None],
        valid_total=sum(1 for m, _ in verdicts if m.must is False),
        crashed=crashed)


def exchange_figures(found: list[Mutation]) -> Figures:
    return figures([(m, exchange_rejection(m.obj)) for m in found])


def stix2_validator_figures(found: list[Mutation]) -> Figures:
    answers = {True: None, False: "invalid", None: CRASH_PREFIX + "stix2-validator raised"}
    return figures([(m, answers[stix2_validator_verdict(m.obj)]) for m in found])


def real_data_rate(passes: int = 5) -> tuple[int, float]:
    """Objects of tests/data and the exchange's validation rate over them in objects/s (this process: one core):
    the storage gate, the exchange's extensions and every STIX MUST, as ``exchange_rejection`` runs them."""
    import gzip
    import json
    import time
    from pathlib import Path

    data = Path(__file__).resolve().parent.parent / "data"
    objects: list[dict[str, Any]] = []
    for path in [*sorted(data.glob("examples/*.json")), data / "atlas" / "stix-atlas.json"]:
        objects += json.loads(path.read_text(encoding="utf-8"))["objects"]
    with gzip.open(data / "genai-incidents-ai-subset.stix.json.gz") as stream:
        objects += json.load(stream)["objects"]
    exchange_rejection(objects[0])  # warm up: schemas compile once
    best = float("inf")
    for _ in range(passes):  # the best pass in CPU time: on a shared machine wall time measures the neighbours
        start = time.process_time()
        for obj in objects:
            exchange_rejection(obj)
        best = min(best, time.process_time() - start)
    return len(objects), len(objects) / best


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="print the figures")
    parser.parse_args()
    found = mutations()
    print(f"{len(found)} mutations: {sum(m.must is True for m in found)} MUST violations, "
          f"{sum(m.must is False for m in found)} valid, {sum(m.must is None for m in found)} unclear (not counted)")
    print("\n".join(exchange_figures(found).lines("exchange (strict)")))
    print("\n".join(stix2_validator_figures(found).lines("stix2-validator")))
    count, rate = real_data_rate()
    print(f"exchange validation on tests/data: {count} objects, {rate:,.0f} objects/s on one core (best of 5 passes, "
          "CPU time)")


if __name__ == "__main__":
    main()
