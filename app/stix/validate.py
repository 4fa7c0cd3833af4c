"""STIX 2.1 validation of one object: the MUSTs of the specification that a consumer relies on — required
properties and their types, timestamps and their order, identifier formats and the types references point
at, the closed vocabularies, patterns. Each finding names the property path and the rule.

Written as plain dictionary checks (no object model is built), so that validating is cheaper than parsing."""

import re
from collections.abc import Callable
from typing import Any

from app.stix.findings import Finding, article
from app.stix.patterns import pattern_error
from app.stix.timestamps import TimestampError, parse_timestamp

SDO_TYPES = frozenset({
    "attack-pattern", "campaign", "course-of-action", "grouping", "identity", "incident", "indicator",
    "infrastructure", "intrusion-set", "location", "malware", "malware-analysis", "note", "observed-data",
    "opinion", "report", "threat-actor", "tool", "vulnerability",
})
SRO_TYPES = frozenset({"relationship", "sighting"})
SCO_TYPES = frozenset({
    "artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message", "file",
    "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process", "software", "url",
    "user-account", "windows-registry-key", "x509-certificate", "ai-prompt",
})
META_TYPES = frozenset({"marking-definition", "language-content", "extension-definition"})

_PROPERTY_NAME = re.compile(r"^[a-z0-9_]{3,250}\Z")
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_IDENTIFIER = re.compile(rf"^([a-z0-9][a-z0-9-]{{1,248}}[a-z0-9])--{_UUID}\Z")
_EXTENSION_TYPES = {"new-sdo", "new-sco", "new-sro", "property-extension", "toplevel-property-extension"}
_OPINIONS = {"strongly-disagree", "disagree", "neutral", "agree", "strongly-agree"}
_SDO_OR_SCO = "an SDO or SCO"
_SDO = "an SDO"
_SCO_OR_SRO = "an SCO or SRO"
_SCO = "an SCO"
_ANY = "*"
_NOT_SDO_OR_SCO = SRO_TYPES | META_TYPES | {"bundle"}
# What each category excludes: types outside STIX's own (custom types, or types defined by an extension-definition
# such as a "new-sdo") cannot be classified from the id alone and are accepted.
_EXCLUDED = {
    _SDO_OR_SCO: _NOT_SDO_OR_SCO,
    _SDO: SCO_TYPES | _NOT_SDO_OR_SCO,
    _SCO_OR_SRO: SDO_TYPES | META_TYPES | {"bundle"},
    _SCO: SDO_TYPES | SRO_TYPES | META_TYPES | {"bundle"},
}
_RELATIONSHIP_TYPE = re.compile(r"^[a-z0-9-]+\Z")

Check = Callable[[Any, str, list[Finding]], None]


# ------------------------------------------------------------------ value checks


def _string(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, str):
        out.append(Finding(path, "type", f"must be a string, not {type(value).__name__}"))


def _non_empty_string(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, str) or not value:
        out.append(Finding(path, "type", "must be a non-empty string"))


def _boolean(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, bool):
        out.append(Finding(path, "type", "must be true or false"))


def _timestamp(value: Any, path: str, out: list[Finding]) -> None:
    try:
        parse_timestamp(value, require_utc=True)
    except TimestampError as exc:
        out.append(Finding(path, "timestamp", str(exc)))


def _number(low: float, high: float | None = None) -> Check:
    """A JSON number (integer or float) from ``low`` to ``high`` (no upper bound when None)."""
    wanted = f"a number from {low:g} to {high:g}" if high is not None else f"a number of at least {low:g}"

    def check(value: Any, path: str, out: list[Finding]) -> None:
        if (not isinstance(value, int | float) or isinstance(value, bool) or value != value  # NaN
                or value < low or (high is not None and value > high)):
            out.append(Finding(path, "range", f"must be {wanted}"))
    return check


def _integer(low: int, high: int) -> Check:
    def check(value: Any, path: str, out: list[Finding]) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            out.append(Finding(path, "range", f"must be an integer from {low} to {high}"))
    return check


def _enum(allowed: set[str]) -> Check:
    def check(value: Any, path: str, out: list[Finding]) -> None:
        if value not in allowed:
            out.append(Finding(path, "vocabulary", f"must be one of {', '.join(sorted(allowed))}, not {value!r}"))
    return check


def _list(item: Check) -> Check:
    def check(value: Any, path: str, out: list[Finding]) -> None:
        if not isinstance(value, list) or not value:
            out.append(Finding(path, "type", "must be a non-empty list (omit the property instead of an empty one)"))
            return
        for i, element in enumerate(value):
            item(element, f"{path}[{i}]", out)
    return check


def _ref(*types: str) -> Check:
    """An identifier whose type is one of ``types``; or of a category (``_SDO_OR_SCO``, ``_SDO``, ``_SCO``,
    ``_SCO_OR_SRO``), which custom and extension-defined types satisfy unless they are known to be outside it; or
    of any type (``_ANY``)."""
    def check(value: Any, path: str, out: list[Finding]) -> None:
        match = _IDENTIFIER.match(value) if isinstance(value, str) else None
        if match is None:
            out.append(Finding(path, "identifier", f"must be a STIX identifier 'type--<UUID>', not {value!r}"))
            return
        target = match.group(1)
        if _ANY in types or target in types:
            return
        if any(t in _EXCLUDED and target not in _EXCLUDED[t] for t in types):
            return
        wanted = " or ".join(types)
        out.append(Finding(path, "ref-type", f"must reference {wanted}, not {article(target)}"))
    return check


def _dict(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, dict) or not value:
        out.append(Finding(path, "type", "must be a non-empty dictionary"))


def _hashes(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, dict) or not value:
        out.append(Finding(path, "type", "must be a non-empty dictionary of hash algorithm → value"))
        return
    for algorithm, digest in value.items():
        if not isinstance(digest, str) or not digest:
            out.append(Finding(f"{path}.{algorithm}", "type", "must be a non-empty string"))
        elif len(algorithm) > 250:
            out.append(Finding(f"{path}.{algorithm[:20]}…", "length", "hash algorithm names are at most 250 long"))


def _kill_chain_phase(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, dict):
        out.append(Finding(path, "type", "must be a kill-chain-phase object"))
        return
    for prop in ("kill_chain_name", "phase_name"):
        if prop not in value:
            out.append(Finding(f"{path}.{prop}", "required", "is required"))
        else:
            _non_empty_string(value[prop], f"{path}.{prop}", out)


def _external_reference(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, dict):
        out.append(Finding(path, "type", "must be an external-reference object"))
        return
    if "source_name" not in value:
        out.append(Finding(f"{path}.source_name", "required", "is required"))
    else:
        _non_empty_string(value["source_name"], f"{path}.source_name", out)
    if not any(k in value for k in ("description", "url", "external_id")):
        out.append(Finding(path, "required", "needs at least one of description, url or external_id"))
    for prop in ("description", "url", "external_id"):
        if prop in value:
            _string(value[prop], f"{path}.{prop}", out)
    if "hashes" in value:
        _hashes(value["hashes"], f"{path}.hashes", out)


def _granular_marking(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, dict):
        out.append(Finding(path, "type", "must be a granular-marking object"))
        return
    if ("marking_ref" in value) == ("lang" in value):
        out.append(Finding(path, "exclusive", "needs exactly one of marking_ref or lang"))
    if "marking_ref" in value:
        _ref("marking-definition")(value["marking_ref"], f"{path}.marking_ref", out)
    _list(_non_empty_string)(value.get("selectors"), f"{path}.selectors", out)


def _relationship_type(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, str) or not _RELATIONSHIP_TYPE.match(value):
        out.append(Finding(path, "format", f"must be lower-case a-z, 0-9 and '-' (e.g. 'indicates'), not {value!r}"))


# ------------------------------------------------------------------ property tables

_COMMON: dict[str, Check] = {
    "created_by_ref": _ref("identity"),
    "created": _timestamp,
    "modified": _timestamp,
    "revoked": _boolean,
    "labels": _list(_non_empty_string),
    "confidence": _integer(0, 100),
    "lang": _non_empty_string,
    "external_references": _list(_external_reference),
    "object_marking_refs": _list(_ref("marking-definition")),
    "granular_markings": _list(_granular_marking),
    "extensions": _dict,
    "defanged": _boolean,
}
_NAMED = {"name": _non_empty_string, "description": _string}
_REFS = {"object_refs": _list(_ref(_ANY))}

# type → (required properties, property checks)
_TYPES: dict[str, tuple[tuple[str, ...], dict[str, Check]]] = {
    "attack-pattern": (("name",), {**_NAMED, "kill_chain_phases": _list(_kill_chain_phase)}),
    "campaign": (("name",), {**_NAMED, "first_seen": _timestamp, "last_seen": _timestamp}),
    "course-of-action": (("name",), _NAMED),
    "grouping": (("context", "object_refs"), {"context": _non_empty_string, **_REFS}),
    "identity": (("name",), {**_NAMED, "roles": _list(_non_empty_string), "sectors": _list(_non_empty_string)}),
    "incident": (("name",), {**_NAMED, "kill_chain_phases": _list(_kill_chain_phase)}),
    "indicator": (("pattern", "pattern_type", "valid_from"), {
        "pattern": _non_empty_string, "pattern_type": _non_empty_string, "pattern_version": _string,
        "valid_from": _timestamp, "valid_until": _timestamp, "indicator_types": _list(_non_empty_string),
        "kill_chain_phases": _list(_kill_chain_phase), "name": _string, "description": _string}),
    "infrastructure": (("name",), {**_NAMED, "first_seen": _timestamp, "last_seen": _timestamp,
                                   "kill_chain_phases": _list(_kill_chain_phase)}),
    "intrusion-set": (("name",), {**_NAMED, "first_seen": _timestamp, "last_seen": _timestamp,
                                  "aliases": _list(_non_empty_string), "goals": _list(_non_empty_string)}),
    "location": ((), {"latitude": _number(-90, 90), "longitude": _number(-180, 180),
                      "precision": _number(0), "region": _non_empty_string,
                      "country": _non_empty_string, "name": _string}),
    "malware": (("is_family",), {"is_family": _boolean, "name": _string, "first_seen": _timestamp,
                                 "last_seen": _timestamp, "sample_refs": _list(_ref("file", "artifact")),
                                 "operating_system_refs": _list(_ref("software")),
                                 "kill_chain_phases": _list(_kill_chain_phase)}),
    "malware-analysis": (("product",), {"product": _non_empty_string, "result": _non_empty_string,
                                        "analysis_sco_refs": _list(_ref(_SCO)),
                                        "sample_ref": _ref("file", "network-traffic", "artifact")}),
    "note": (("content", "object_refs"), {"content": _non_empty_string, "abstract": _string, **_REFS}),
    "observed-data": (("first_observed", "last_observed", "number_observed"), {
        "first_observed": _timestamp, "last_observed": _timestamp, "number_observed": _integer(1, 999_999_999),
        "object_refs": _list(_ref(_SCO_OR_SRO))}),
    "opinion": (("opinion", "object_refs"), {"opinion": _enum(_OPINIONS), "explanation": _string, **_REFS}),
    "report": (("name", "published", "object_refs"), {**_NAMED, "published": _timestamp, **_REFS}),
    "threat-actor": (("name",), {**_NAMED, "first_seen": _timestamp, "last_seen": _timestamp}),
    "tool": (("name",), {**_NAMED, "kill_chain_phases": _list(_kill_chain_phase)}),
    "vulnerability": (("name",), _NAMED),
    "relationship": (("relationship_type", "source_ref", "target_ref"), {
        "relationship_type": _relationship_type, "source_ref": _ref(_SDO_OR_SCO), "target_ref": _ref(_SDO_OR_SCO),
        "start_time": _timestamp, "stop_time": _timestamp}),
    "sighting": (("sighting_of_ref",), {
        "sighting_of_ref": _ref(_SDO), "observed_data_refs": _list(_ref("observed-data")),
        "where_sighted_refs": _list(_ref("identity", "location")), "count": _integer(0, 999_999_999),
        "first_seen": _timestamp, "last_seen": _timestamp, "summary": _boolean}),
    "marking-definition": ((), {"name": _string, "definition_type": _non_empty_string, "definition": _dict}),
    "language-content": (("object_ref", "object_modified", "contents"), {
        "object_ref": _ref(_ANY), "object_modified": _timestamp, "contents": _dict}),
    "extension-definition": (("created_by_ref", "name", "schema", "version", "extension_types"), {
        "name": _non_empty_string, "schema": _non_empty_string, "version": _non_empty_string,
        "extension_types": _list(_enum(_EXTENSION_TYPES))}),
    # observables
    "artifact": ((), {"mime_type": _string, "payload_bin": _string, "url": _string, "hashes": _hashes}),
    "autonomous-system": (("number",), {"number": _integer(0, 2**32 - 1), "name": _string}),
    "directory": (("path",), {"path": _non_empty_string}),
    "domain-name": (("value",), {"value": _non_empty_string, "resolves_to_refs": _list(
        _ref("ipv4-addr", "ipv6-addr", "domain-name"))}),
    "email-addr": (("value",), {"value": _non_empty_string, "belongs_to_ref": _ref("user-account")}),
    "email-message": (("is_multipart",), {"is_multipart": _boolean, "from_ref": _ref("email-addr"),
                                          "to_refs": _list(_ref("email-addr"))}),
    "file": ((), {"hashes": _hashes, "size": _integer(0, 2**63 - 1), "name": _string,
                  "parent_directory_ref": _ref("directory"), "content_ref": _ref("artifact")}),
    "ipv4-addr": (("value",), {"value": _non_empty_string}),
    "ipv6-addr": (("value",), {"value": _non_empty_string}),
    "mac-addr": (("value",), {"value": _non_empty_string}),
    "mutex": (("name",), {"name": _non_empty_string}),
    "network-traffic": (("protocols",), {"protocols": _list(_non_empty_string),
                                         "src_ref": _ref("ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"),
                                         "dst_ref": _ref("ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"),
                                         "src_port": _integer(0, 65535), "dst_port": _integer(0, 65535),
                                         "src_byte_count": _integer(0, 2**63 - 1),
                                         "dst_byte_count": _integer(0, 2**63 - 1)}),
    "process": ((), {"pid": _integer(0, 2**63 - 1)}),
    "software": (("name",), {"name": _non_empty_string, "vendor": _string, "version": _string}),
    "url": (("value",), {"value": _non_empty_string}),
    "user-account": ((), {"user_id": _string, "account_login": _string}),
    "windows-registry-key": ((), {"key": _string}),
    "x509-certificate": ((), {"hashes": _hashes}),
    "ai-prompt": ((), {"value": _string, "hashes": _hashes}),
}

# Pairs that must be in order: (earlier, later, rule text)
_ORDERED = (
    ("created", "modified", "'modified' must not be earlier than 'created'"),
    ("valid_from", "valid_until", "'valid_until' must be later than 'valid_from'"),
    ("first_seen", "last_seen", "'last_seen' must not be earlier than 'first_seen'"),
    ("first_observed", "last_observed", "'last_observed' must not be earlier than 'first_observed'"),
    ("start_time", "stop_time", "'stop_time' must be later than 'start_time'"),
)


def _structural_rules(obj: dict[str, Any], stix_type: str, out: list[Finding]) -> None:
    """Rules that span several properties of one object."""
    for earlier, later, message in _ORDERED:
        if isinstance(obj.get(earlier), str) and isinstance(obj.get(later), str):
            try:
                start, end = parse_timestamp(obj[earlier]), parse_timestamp(obj[later])
            except TimestampError:
                continue  # already reported as a timestamp finding
            strict = later in ("valid_until", "stop_time")
            if end < start or (strict and end == start):
                out.append(Finding(later, "order", message))
    if stix_type == "indicator" and obj.get("pattern_type") == "stix" and isinstance(obj.get("pattern"), str):
        error = pattern_error(obj["pattern"])
        if error:
            out.append(Finding("pattern", "pattern", f"is not a valid STIX pattern: {error}"))
    if stix_type == "malware" and obj.get("is_family") is True and not obj.get("name"):
        out.append(Finding("name", "required", "is required when is_family is true"))
    if stix_type == "location":
        _location_rules(obj, out)
    if stix_type == "observed-data":
        _observed_data_rules(obj, out)
    if stix_type == "malware-analysis" and "result" not in obj and "analysis_sco_refs" not in obj:
        out.append(Finding("", "required", "a malware-analysis needs result or analysis_sco_refs"))
    if stix_type == "file" and "hashes" not in obj and "name" not in obj:
        out.append(Finding("", "required", "a file needs hashes or name"))
    if stix_type == "artifact" and ("payload_bin" in obj) == ("url" in obj):
        out.append(Finding("", "exclusive", "an artifact needs exactly one of payload_bin or url"))
    if stix_type == "artifact" and "url" in obj and "hashes" not in obj:
        out.append(Finding("hashes", "required", "is required on an artifact given by url"))
    if stix_type == "network-traffic" and "src_ref" not in obj and "dst_ref" not in obj:
        out.append(Finding("", "required", "network-traffic needs src_ref or dst_ref"))
    if stix_type == "marking-definition" and "extensions" not in obj and not (
            "definition_type" in obj and "definition" in obj):
        out.append(Finding("", "required", "a marking-definition needs extensions, or definition_type and "
                                           "definition"))
    if stix_type == "extension-definition" and "modified" not in obj:  # created_by_ref: in its required list
        out.append(Finding("modified", "required", "is required on an extension-definition"))


def _location_rules(obj: dict[str, Any], out: list[Finding]) -> None:
    if not ("region" in obj or "country" in obj or ("latitude" in obj and "longitude" in obj)):
        out.append(Finding("", "required", "a location needs region, country, or latitude and longitude"))
    for prop, other in (("latitude", "longitude"), ("longitude", "latitude")):
        if prop in obj and other not in obj:
            out.append(Finding(other, "required", f"is required when {prop} is present"))
    if "precision" in obj and not ("latitude" in obj and "longitude" in obj):
        out.append(Finding("precision", "required", "needs latitude and longitude"))


def _observed_data_rules(obj: dict[str, Any], out: list[Finding]) -> None:
    if ("objects" in obj) == ("object_refs" in obj):
        out.append(Finding("object_refs", "exclusive", "exactly one of object_refs or the deprecated objects is "
                                                       "required"))
    refs = obj.get("object_refs")
    if isinstance(refs, list) and refs and all(
            isinstance(r, str) and r.partition("--")[0] in SRO_TYPES for r in refs):
        out.append(Finding("object_refs", "required", "must reference at least one SCO"))


def _extension_keys(obj: dict[str, Any], out: list[Finding]) -> None:
    for key, body in (obj.get("extensions") or {}).items():
        path = f"extensions.{key}"
        if key.startswith("extension-definition--"):
            if not _IDENTIFIER.match(key):
                out.append(Finding(path, "identifier", "must be an extension-definition identifier"))
            elif not isinstance(body, dict) or body.get("extension_type", "property-extension") not in _EXTENSION_TYPES:
                out.append(Finding(f"{path}.extension_type", "vocabulary",
                                   f"must be one of {', '.join(sorted(_EXTENSION_TYPES))}"))
        elif not key.endswith("-ext") and not key.startswith("x-"):
            out.append(Finding(path, "extension", "must be an extension-definition id or a predefined '-ext' name"))


def validate(obj: dict[str, Any]) -> list[Finding]:
    """Every STIX 2.1 MUST this object breaks (empty when it is valid). Custom properties are kept: names
    must only be well-formed (3-250 of a-z, 0-9, _)."""
    findings: list[Finding] = []
    stix_type = obj.get("type", "")
    if not isinstance(stix_type, str):
        return [Finding("type", "type", "must be a string")]
    required, checks = _TYPES.get(stix_type, ((), {}))
    for prop in required:
        if prop not in obj:
            findings.append(Finding(prop, "required", f"is required on {article(stix_type)}"))
    for prop, value in obj.items():
        check = checks.get(prop) or _COMMON.get(prop)
        if check is not None:
            check(value, prop, findings)
        elif prop not in ("type", "id", "spec_version") and not _PROPERTY_NAME.match(prop):
            findings.append(Finding(prop, "property-name", "property names must be 3-250 characters of a-z, 0-9 "
                                                           "and _"))
    _structural_rules(obj, stix_type, findings)
    if "extensions" in obj and isinstance(obj["extensions"], dict):
        _extension_keys(obj, findings)
    return findings
