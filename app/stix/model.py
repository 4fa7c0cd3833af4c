"""The STIX 2.1 object model as one table: for every SDO, SRO, SCO and meta object, and for every predefined SCO
extension, each property's check, the required properties and the co-constraints between properties.

Read from the specification (cross-checked against the stix2 library's object classes, which encode the same
model, and which the tests use as an oracle); the runtime does not import stix2. ``app.stix.validate`` walks an
object against this table."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from app.stix.findings import Finding
from app.stix.timestamps import TimestampError, parse_timestamp
from app.stix.values import (
    Check,
    any_ref,
    binary,
    boolean,
    cpe,
    dictionary,
    embedded,
    enum,
    hashes,
    hex_string,
    integer,
    iso_639_2,
    language_tag,
    list_of,
    mac_address,
    non_empty_string,
    number,
    ref,
    string,
    timestamp,
    timestamp_millis,
    url,
)

Rule = Callable[[dict[str, Any], list[Finding]], None]

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
EXTENSION_TYPES = frozenset({"new-sdo", "new-sco", "new-sro", "property-extension", "toplevel-property-extension"})


def announced_sco(obj: dict[str, Any]) -> bool:
    """An object of a type that an extension-definition defines as a new SCO. §7.3: such an object MUST carry that
    extension-definition in ``extensions`` with ``"extension_type": "new-sco"`` — the one sign that tells, from the
    object alone, an SCO (not versioned, ``created``/``modified`` absent) from a custom SDO."""
    extensions = obj.get("extensions")
    return isinstance(extensions, dict) and any(
        isinstance(body, dict) and body.get("extension_type") == "new-sco" for body in extensions.values())


def is_sco(obj: dict[str, Any]) -> bool:
    """STIX's own SCO types, and types announced as new SCOs (``announced_sco``)."""
    return obj.get("type") in SCO_TYPES or (obj.get("type") not in _STIX_TYPES and announced_sco(obj))


# ------------------------------------------------------------------ references by category


class _Category(TypedDict):
    """The keyword arguments of ``ref`` that name a category of types instead of the types."""

    category: str
    excluded: frozenset[str]


_NOT_SDO_OR_SCO = SRO_TYPES | META_TYPES | {"bundle"}
_TO_SDO_OR_SCO: _Category = {"category": "an SDO or SCO", "excluded": _NOT_SDO_OR_SCO}
_TO_SDO: _Category = {"category": "an SDO", "excluded": SCO_TYPES | _NOT_SDO_OR_SCO}
_TO_SCO_OR_SRO: _Category = {"category": "an SCO or SRO", "excluded": SDO_TYPES | META_TYPES | {"bundle"}}
_TO_SCO: _Category = {"category": "an SCO", "excluded": SDO_TYPES | SRO_TYPES | META_TYPES | {"bundle"}}


def _refs(*types: str, **category: Any) -> Check:
    return list_of(ref(*types, **category))


# ------------------------------------------------------------------ co-constraints


def at_least_one(*props: str, what: str) -> Rule:
    def rule(obj: dict[str, Any], out: list[Finding]) -> None:
        if not any(p in obj for p in props):
            out.append(Finding("", "required", f"{what} needs at least one of {', '.join(props)}"))
    return rule


def exactly_one(first: str, second: str, what: str) -> Rule:
    def rule(obj: dict[str, Any], out: list[Finding]) -> None:
        if (first in obj) == (second in obj):
            out.append(Finding("", "exclusive", f"{what} needs exactly one of {first} or {second}"))
    return rule


def requires(prop: str, needed: str, reason: str = "") -> Rule:
    def rule(obj: dict[str, Any], out: list[Finding]) -> None:
        if prop in obj and needed not in obj:
            out.append(Finding(needed, "required", reason or f"is required when {prop} is present"))
    return rule


def ordered(earlier: str, later: str, *, strict: bool) -> Rule:
    """``later`` after (``strict``) or not before ``earlier``; malformed timestamps are reported elsewhere."""
    relation = "be later than" if strict else "not be earlier than"
    message = f"'{later}' must {relation} '{earlier}'"

    def rule(obj: dict[str, Any], out: list[Finding]) -> None:
        first, last = obj.get(earlier), obj.get(later)
        if not isinstance(first, str) or not isinstance(last, str):
            return
        try:
            start, end = parse_timestamp(first), parse_timestamp(last)
        except TimestampError:
            return
        if end < start or (strict and end == start):
            out.append(Finding(later, "order", message))
    return rule


def _seen_order(obj: dict[str, Any], out: list[Finding]) -> None:
    ordered("first_seen", "last_seen", strict=False)(obj, out)


def _malware_family_name(obj: dict[str, Any], out: list[Finding]) -> None:
    if obj.get("is_family") is True and not obj.get("name"):
        out.append(Finding("name", "required", "is required when is_family is true"))


def _location(obj: dict[str, Any], out: list[Finding]) -> None:
    if not ("region" in obj or "country" in obj or ("latitude" in obj and "longitude" in obj)):
        out.append(Finding("", "required", "a location needs region, country, or latitude and longitude"))
    for prop, other in (("latitude", "longitude"), ("longitude", "latitude")):
        if prop in obj and other not in obj:
            out.append(Finding(other, "required", f"is required when {prop} is present"))
    if "precision" in obj and not ("latitude" in obj and "longitude" in obj):
        out.append(Finding("precision", "required", "needs latitude and longitude"))


def _observed_data(obj: dict[str, Any], out: list[Finding]) -> None:
    if ("objects" in obj) == ("object_refs" in obj):
        out.append(Finding("object_refs", "exclusive", "exactly one of object_refs or the deprecated objects is "
                                                       "required"))
    refs = obj.get("object_refs")
    if isinstance(refs, list) and refs and all(
            isinstance(r, str) and r.partition("--")[0] in SRO_TYPES for r in refs):
        out.append(Finding("object_refs", "required", "must reference at least one SCO"))


def _email_body(obj: dict[str, Any], out: list[Finding]) -> None:
    """§6.6: body only when is_multipart is false, body_multipart only when it is true."""
    multipart = obj.get("is_multipart")
    if multipart is True and "body" in obj:
        out.append(Finding("body", "exclusive", "must not be present when is_multipart is true (use body_multipart)"))
    if multipart is False and "body_multipart" in obj:
        out.append(Finding("body_multipart", "exclusive", "must not be present when is_multipart is false"))


def _network_traffic_end(obj: dict[str, Any], out: list[Finding]) -> None:
    if obj.get("is_active") is True and "end" in obj:
        out.append(Finding("end", "exclusive", "must not be present when is_active is true"))


# ------------------------------------------------------------------ nested types

KILL_CHAIN_PHASE = embedded({"kill_chain_name": non_empty_string, "phase_name": non_empty_string},
                            ("kill_chain_name", "phase_name"), "kill-chain-phase")
EXTERNAL_REFERENCE = embedded({"source_name": non_empty_string, "description": string, "url": url,
                               "hashes": hashes, "external_id": string},
                              ("source_name",), "external-reference", one_of=("description", "url", "external_id"))


def _granular_marking(value: Any, path: str, out: list[Finding]) -> None:
    """§7.2.3; the selectors' syntax and what they resolve to are checked apart (granular-marking selectors)."""
    if not isinstance(value, dict):
        out.append(Finding(path, "type", "must be a granular-marking object"))
        return
    if ("marking_ref" in value) == ("lang" in value):
        out.append(Finding(path, "exclusive", "needs exactly one of marking_ref or lang"))
    if "marking_ref" in value:
        ref("marking-definition")(value["marking_ref"], f"{path}.marking_ref", out)
    if "lang" in value:
        language_tag(value["lang"], f"{path}.lang", out)
    list_of(non_empty_string)(value.get("selectors"), f"{path}.selectors", out)


def _relationship_type(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, str) or not value or not all(c.islower() or c.isdigit() or c == "-" for c in value) \
            or not value.isascii():
        out.append(Finding(path, "format", f"must be lower-case a-z, 0-9 and '-' (e.g. 'indicates'), not {value!r}"))


def _contents(value: Any, path: str, out: list[Finding]) -> None:
    """language-content ``contents``: RFC 5646 language tags → non-empty dictionaries of translations."""
    dictionary(value, path, out)
    for lang, translation in value.items() if isinstance(value, dict) else ():
        language_tag(lang, f"{path}.{lang[:40]}", out)
        dictionary(translation, f"{path}.{lang[:40]}", out)


_STRINGS = list_of(string)
_NON_EMPTY_STRINGS = list_of(non_empty_string)
_UNSIGNED = integer(0)
_MIME_PART = embedded({"body": string, "body_raw_ref": ref("artifact", "file"), "content_type": string,
                       "content_disposition": string}, (), "email MIME component", one_of=("body", "body_raw_ref"))
_REGISTRY_VALUE = embedded({"name": string, "data": string, "data_type": enum({
    "REG_NONE", "REG_SZ", "REG_EXPAND_SZ", "REG_BINARY", "REG_DWORD", "REG_DWORD_BIG_ENDIAN",
    "REG_DWORD_LITTLE_ENDIAN", "REG_LINK", "REG_MULTI_SZ", "REG_RESOURCE_LIST", "REG_FULL_RESOURCE_DESCRIPTION",
    "REG_RESOURCE_REQUIREMENTS_LIST", "REG_QWORD", "REG_INVALID_TYPE"})}, (), "windows-registry-value-type")
_X509_V3 = embedded({
    **dict.fromkeys(("basic_constraints", "name_constraints", "policy_constraints", "key_usage", "extended_key_usage",
                     "subject_key_identifier", "authority_key_identifier", "subject_alternative_name",
                     "issuer_alternative_name", "subject_directory_attributes", "crl_distribution_points",
                     "inhibit_any_policy", "certificate_policies", "policy_mappings"), string),
    "private_key_usage_period_not_before": timestamp, "private_key_usage_period_not_after": timestamp,
}, (), "x509-v3-extensions-type")
_PE_OPTIONAL_HEADER = embedded({
    **dict.fromkeys(("magic_hex", "win32_version_value_hex", "checksum_hex", "subsystem_hex",
                     "dll_characteristics_hex", "loader_flags_hex"), hex_string),
    **dict.fromkeys(("major_linker_version", "minor_linker_version", "address_of_entry_point", "base_of_code",
                     "base_of_data", "image_base", "section_alignment", "file_alignment", "major_os_version",
                     "minor_os_version", "major_image_version", "minor_image_version", "major_subsystem_version",
                     "minor_subsystem_version", "number_of_rva_and_sizes"), integer()),
    **dict.fromkeys(("size_of_code", "size_of_initialized_data", "size_of_uninitialized_data", "size_of_image",
                     "size_of_headers", "size_of_stack_reserve", "size_of_stack_commit", "size_of_heap_reserve",
                     "size_of_heap_commit"), _UNSIGNED),
    "hashes": hashes,
}, (), "windows-pe-optional-header-type")

# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class TypeSpec:
    kind: str  # "sdo", "sro", "sco", "meta"
    required: tuple[str, ...]
    props: dict[str, Check]
    rules: tuple[Rule, ...] = field(default=())


# §3.2 and §6.1: the common properties (one table: their names never clash between categories).
COMMON: dict[str, Check] = {
    "created_by_ref": ref("identity"),
    "created": timestamp_millis,
    "modified": timestamp_millis,
    "revoked": boolean,
    "labels": _NON_EMPTY_STRINGS,
    "confidence": integer(0, 100),
    "lang": language_tag,
    "external_references": list_of(EXTERNAL_REFERENCE),
    "object_marking_refs": _refs("marking-definition"),
    "granular_markings": list_of(_granular_marking),
    "extensions": dictionary,
    "defanged": boolean,
}
_NAMED: dict[str, Check] = {"name": non_empty_string, "description": string}
_KILL_CHAIN = {"kill_chain_phases": list_of(KILL_CHAIN_PHASE)}
_SEEN = {"first_seen": timestamp, "last_seen": timestamp}
_OBJECT_REFS = {"object_refs": list_of(any_ref)}
_FILE_TIMES = {"ctime": timestamp, "mtime": timestamp, "atime": timestamp}
_IP = {"value": non_empty_string, "resolves_to_refs": _refs("mac-addr"),
       "belongs_to_refs": _refs("autonomous-system")}
_MOTIVATIONS = {"resource_level": string, "primary_motivation": string, "secondary_motivations": _STRINGS}
_PROCESS_PROPS = {
    "is_hidden": boolean, "pid": integer(), "created_time": timestamp, "cwd": string, "command_line": string,
    "environment_variables": dictionary, "opened_connection_refs": _refs("network-traffic"),
    "creator_user_ref": ref("user-account"), "image_ref": ref("file"), "parent_ref": ref("process"),
    "child_refs": _refs("process"),
}
_X509_PROPS = {
    "is_self_signed": boolean, "hashes": hashes, "version": string, "serial_number": string,
    "signature_algorithm": string, "issuer": string, "validity_not_before": timestamp,
    "validity_not_after": timestamp, "subject": string, "subject_public_key_algorithm": string,
    "subject_public_key_modulus": string, "subject_public_key_exponent": integer(), "x509_v3_extensions": _X509_V3,
}
_ENDPOINT = ref("ipv4-addr", "ipv6-addr", "mac-addr", "domain-name")

TYPES: dict[str, TypeSpec] = {
    # §4: domain objects
    "attack-pattern": TypeSpec("sdo", ("name",), {**_NAMED, "aliases": _STRINGS, **_KILL_CHAIN}),
    "campaign": TypeSpec("sdo", ("name",), {**_NAMED, "aliases": _STRINGS, **_SEEN, "objective": string},
                         (_seen_order,)),
    "course-of-action": TypeSpec("sdo", ("name",), _NAMED),
    "grouping": TypeSpec("sdo", ("context", "object_refs"), {"name": string, "description": string,
                                                             "context": non_empty_string, **_OBJECT_REFS}),
    "identity": TypeSpec("sdo", ("name",), {**_NAMED, "roles": _NON_EMPTY_STRINGS, "identity_class": string,
                                            "sectors": _NON_EMPTY_STRINGS, "contact_information": string}),
    "incident": TypeSpec("sdo", ("name",), {**_NAMED, **_KILL_CHAIN}),
    "indicator": TypeSpec("sdo", ("pattern", "pattern_type", "valid_from"), {
        "name": string, "description": string, "indicator_types": _NON_EMPTY_STRINGS, "pattern": non_empty_string,
        "pattern_type": non_empty_string, "pattern_version": string, "valid_from": timestamp,
        "valid_until": timestamp, **_KILL_CHAIN}, (ordered("valid_from", "valid_until", strict=True),)),
    "infrastructure": TypeSpec("sdo", ("name",), {**_NAMED, "infrastructure_types": _STRINGS, "aliases": _STRINGS,
                                                  **_KILL_CHAIN, **_SEEN}, (_seen_order,)),
    "intrusion-set": TypeSpec("sdo", ("name",), {**_NAMED, "aliases": _NON_EMPTY_STRINGS, **_SEEN,
                                                 "goals": _NON_EMPTY_STRINGS, **_MOTIVATIONS}, (_seen_order,)),
    "location": TypeSpec("sdo", (), {
        "name": string, "description": string, "latitude": number(-90, 90), "longitude": number(-180, 180),
        "precision": number(0), "region": non_empty_string, "country": non_empty_string,
        "administrative_area": string, "city": string, "street_address": string, "postal_code": string},
        (_location,)),
    "malware": TypeSpec("sdo", ("is_family",), {
        "name": string, "description": string, "malware_types": _STRINGS, "is_family": boolean,
        "aliases": _STRINGS, **_KILL_CHAIN, **_SEEN, "operating_system_refs": _refs("software"),
        "architecture_execution_envs": _STRINGS, "implementation_languages": _STRINGS, "capabilities": _STRINGS,
        "sample_refs": _refs("file", "artifact")}, (_malware_family_name, _seen_order)),
    "malware-analysis": TypeSpec("sdo", ("product",), {
        "product": non_empty_string, "version": string, "host_vm_ref": ref("software"),
        "operating_system_ref": ref("software"), "installed_software_refs": _refs("software"),
        "configuration_version": string, "modules": _STRINGS, "analysis_engine_version": string,
        "analysis_definition_version": string, "submitted": timestamp, "analysis_started": timestamp,
        "analysis_ended": timestamp, "result_name": string, "result": non_empty_string,
        "analysis_sco_refs": _refs(**_TO_SCO), "sample_ref": ref("file", "network-traffic", "artifact")},
        (at_least_one("result", "analysis_sco_refs", what="a malware-analysis"),)),
    "note": TypeSpec("sdo", ("content", "object_refs"), {"abstract": string, "content": non_empty_string,
                                                         "authors": _STRINGS, **_OBJECT_REFS}),
    "observed-data": TypeSpec("sdo", ("first_observed", "last_observed", "number_observed"), {
        "first_observed": timestamp, "last_observed": timestamp, "number_observed": integer(1, 999_999_999),
        "objects": dictionary, "object_refs": _refs(**_TO_SCO_OR_SRO)},
        (ordered("first_observed", "last_observed", strict=False), _observed_data)),
    "opinion": TypeSpec("sdo", ("opinion", "object_refs"), {
        "explanation": string, "authors": _STRINGS,
        "opinion": enum({"strongly-disagree", "disagree", "neutral", "agree", "strongly-agree"}), **_OBJECT_REFS}),
    "report": TypeSpec("sdo", ("name", "published", "object_refs"), {
        **_NAMED, "report_types": _STRINGS, "published": timestamp, **_OBJECT_REFS}),
    "threat-actor": TypeSpec("sdo", ("name",), {
        **_NAMED, "threat_actor_types": _STRINGS, "aliases": _STRINGS, **_SEEN, "roles": _STRINGS, "goals": _STRINGS,
        "sophistication": string, **_MOTIVATIONS, "personal_motivations": _STRINGS}, (_seen_order,)),
    "tool": TypeSpec("sdo", ("name",), {**_NAMED, "tool_types": _STRINGS, "aliases": _STRINGS, **_KILL_CHAIN,
                                        "tool_version": string}),
    "vulnerability": TypeSpec("sdo", ("name",), _NAMED),
    # §5: relationship objects
    "relationship": TypeSpec("sro", ("relationship_type", "source_ref", "target_ref"), {
        "relationship_type": _relationship_type, "description": string, "source_ref": ref(**_TO_SDO_OR_SCO),
        "target_ref": ref(**_TO_SDO_OR_SCO), "start_time": timestamp, "stop_time": timestamp},
        (ordered("start_time", "stop_time", strict=True),)),
    "sighting": TypeSpec("sro", ("sighting_of_ref",), {
        "description": string, **_SEEN, "count": integer(0, 999_999_999), "sighting_of_ref": ref(**_TO_SDO),
        "observed_data_refs": _refs("observed-data"), "where_sighted_refs": _refs("identity", "location"),
        "summary": boolean}, (_seen_order,)),
    # §7: meta objects (marking-definition rules: app.stix.validate)
    "marking-definition": TypeSpec("meta", (), {"name": string, "definition_type": non_empty_string,
                                                "definition": dictionary}),
    "language-content": TypeSpec("meta", ("object_ref", "contents"), {
        "object_ref": any_ref, "object_modified": timestamp, "contents": _contents}),
    "extension-definition": TypeSpec("meta", ("created_by_ref", "name", "schema", "version", "extension_types"), {
        **_NAMED, "schema": non_empty_string, "version": non_empty_string,
        "extension_types": list_of(enum(EXTENSION_TYPES)), "extension_properties": _STRINGS}),
    # §6: cyber-observable objects
    "artifact": TypeSpec("sco", (), {
        "mime_type": string, "payload_bin": binary, "url": url, "hashes": hashes,
        "encryption_algorithm": enum({"AES-256-GCM", "ChaCha20-Poly1305", "mime-type-indicated"}),
        "decryption_key": string},
        (exactly_one("payload_bin", "url", "an artifact"),
         requires("url", "hashes", "is required on an artifact given by url"),
         requires("decryption_key", "encryption_algorithm"))),
    "autonomous-system": TypeSpec("sco", ("number",), {"number": integer(0, 2**32 - 1), "name": string,
                                                       "rir": string}),
    "directory": TypeSpec("sco", ("path",), {"path": non_empty_string, "path_enc": string, **_FILE_TIMES,
                                             "contains_refs": _refs("file", "directory")}),
    "domain-name": TypeSpec("sco", ("value",), {"value": non_empty_string,
                                                "resolves_to_refs": _refs("ipv4-addr", "ipv6-addr", "domain-name")}),
    "email-addr": TypeSpec("sco", ("value",), {"value": non_empty_string, "display_name": string,
                                               "belongs_to_ref": ref("user-account")}),
    "email-message": TypeSpec("sco", ("is_multipart",), {
        "is_multipart": boolean, "date": timestamp, "content_type": string, "from_ref": ref("email-addr"),
        "sender_ref": ref("email-addr"), "to_refs": _refs("email-addr"), "cc_refs": _refs("email-addr"),
        "bcc_refs": _refs("email-addr"), "message_id": string, "subject": string, "received_lines": _STRINGS,
        "additional_header_fields": dictionary, "body": string, "body_multipart": list_of(_MIME_PART),
        "raw_email_ref": ref("artifact")}, (_email_body,)),
    "file": TypeSpec("sco", (), {
        "hashes": hashes, "size": integer(0), "name": string, "name_enc": string, "magic_number_hex": hex_string,
        "mime_type": string, **_FILE_TIMES, "parent_directory_ref": ref("directory"),
        "contains_refs": _refs(**_TO_SCO), "content_ref": ref("artifact")},
        (at_least_one("hashes", "name", what="a file"),)),
    "ipv4-addr": TypeSpec("sco", ("value",), _IP),
    "ipv6-addr": TypeSpec("sco", ("value",), _IP),
    "mac-addr": TypeSpec("sco", ("value",), {"value": mac_address}),
    "mutex": TypeSpec("sco", ("name",), {"name": non_empty_string}),
    "network-traffic": TypeSpec("sco", ("protocols",), {
        "start": timestamp, "end": timestamp, "is_active": boolean, "src_ref": _ENDPOINT, "dst_ref": _ENDPOINT,
        "src_port": integer(0, 65535), "dst_port": integer(0, 65535), "protocols": _NON_EMPTY_STRINGS,
        "src_byte_count": _UNSIGNED, "dst_byte_count": _UNSIGNED, "src_packets": _UNSIGNED,
        "dst_packets": _UNSIGNED, "ipfix": dictionary, "src_payload_ref": ref("artifact"),
        "dst_payload_ref": ref("artifact"), "encapsulates_refs": _refs("network-traffic"),
        "encapsulated_by_ref": ref("network-traffic")},
        (at_least_one("src_ref", "dst_ref", what="network-traffic"), ordered("start", "end", strict=False),
         _network_traffic_end)),
    "process": TypeSpec("sco", (), _PROCESS_PROPS,
                        (at_least_one(*_PROCESS_PROPS, "extensions", what="a process"),)),
    "software": TypeSpec("sco", ("name",), {"name": non_empty_string, "cpe": cpe, "swid": string,
                                            "languages": list_of(iso_639_2), "vendor": string, "version": string}),
    "url": TypeSpec("sco", ("value",), {"value": url}),
    "user-account": TypeSpec("sco", (), {
        "user_id": string, "credential": string, "account_login": string, "account_type": string,
        "display_name": string, **dict.fromkeys(("is_service_account", "is_privileged", "can_escalate_privs",
                                                 "is_disabled"), boolean),
        **dict.fromkeys(("account_created", "account_expires", "credential_last_changed", "account_first_login",
                         "account_last_login"), timestamp)}),
    "windows-registry-key": TypeSpec("sco", (), {
        "key": string, "values": list_of(_REGISTRY_VALUE), "modified_time": timestamp,
        "creator_user_ref": ref("user-account"), "number_of_subkeys": integer()}),
    "x509-certificate": TypeSpec("sco", (), _X509_PROPS,
                                 (at_least_one(*_X509_PROPS, what="an x509-certificate"),)),
    # the exchange's own SCO (its extension's JSON Schema checks the rest: app.stix.ai)
    "ai-prompt": TypeSpec("sco", (), {"value": string, "hashes": hashes}),
}
_STIX_TYPES = frozenset(TYPES) - {"ai-prompt"}

# The common properties each kind of object defines (§3.2 SDOs and SROs, §6.1 SCOs, §7.2.1 marking-definitions;
# language-content and extension-definition take the SDO ones): with each type's own properties, the names STIX
# 2.1 defines on it. ``COMMON`` checks their values wherever they appear; these say where they belong.
_ALWAYS = frozenset({"type", "id", "spec_version", "extensions"})
_SDO_COMMON = frozenset({"created_by_ref", "created", "modified", "revoked", "labels", "confidence", "lang",
                         "external_references", "object_marking_refs", "granular_markings"})
_SCO_COMMON = frozenset({"object_marking_refs", "granular_markings", "defanged"})
_MARKING_COMMON = frozenset({"created_by_ref", "created", "external_references", "object_marking_refs",
                             "granular_markings"})


def _common(stix_type: str, kind: str) -> frozenset[str]:
    if stix_type == "marking-definition":
        return _MARKING_COMMON
    return _SCO_COMMON if kind == "sco" else _SDO_COMMON


# STIX 2.1 type → every property name it defines (the exchange's own ai-prompt is left out: its extension's schema
# defines it). Used to name custom properties (app.stix.custom) and to check pattern object paths (app.stix.patterns).
DEFINED: dict[str, frozenset[str]] = {
    name: _ALWAYS | _common(name, spec.kind) | frozenset(spec.props)
    for name, spec in TYPES.items() if name in _STIX_TYPES}

# §6: the predefined extensions of SCOs, by host type → extension name → (required, properties). Every one of
# them MUST carry at least one property (enforced for every extension: an empty body is refused).
_SERVICE_STATUS = {"SERVICE_CONTINUE_PENDING", "SERVICE_PAUSE_PENDING", "SERVICE_PAUSED", "SERVICE_RUNNING",
                   "SERVICE_START_PENDING", "SERVICE_STOP_PENDING", "SERVICE_STOPPED"}
EXTENSIONS: dict[str, dict[str, Check]] = {
    "file": {
        "archive-ext": embedded({"contains_refs": _refs("file", "directory"), "comment": string},
                                ("contains_refs",), "archive-ext"),
        "ntfs-ext": embedded({"sid": string, "alternate_data_streams": list_of(embedded(
            {"name": non_empty_string, "hashes": hashes, "size": _UNSIGNED}, ("name",), "alternate-data-stream"))},
            (), "ntfs-ext"),
        "pdf-ext": embedded({"version": string, "is_optimized": boolean, "document_info_dict": dictionary,
                             "pdfid0": string, "pdfid1": string}, (), "pdf-ext"),
        "raster-image-ext": embedded({"image_height": integer(), "image_width": integer(),
                                      "bits_per_pixel": integer(), "exif_tags": dictionary}, (), "raster-image-ext"),
        "windows-pebinary-ext": embedded({
            "pe_type": non_empty_string, "imphash": string, "machine_hex": hex_string,
            "number_of_sections": _UNSIGNED, "time_date_stamp": timestamp, "pointer_to_symbol_table_hex": hex_string,
            "number_of_symbols": _UNSIGNED, "size_of_optional_header": _UNSIGNED, "characteristics_hex": hex_string,
            "file_header_hashes": hashes, "optional_header": _PE_OPTIONAL_HEADER,
            "sections": list_of(embedded({"name": non_empty_string, "size": _UNSIGNED, "entropy": number(-2**63),
                                          "hashes": hashes}, ("name",), "windows-pe-section"))},
            ("pe_type",), "windows-pebinary-ext"),
    },
    "network-traffic": {
        "http-request-ext": embedded({
            "request_method": non_empty_string, "request_value": non_empty_string, "request_version": string,
            "request_header": dictionary, "message_body_length": integer(),
            "message_body_data_ref": ref("artifact")}, ("request_method", "request_value"), "http-request-ext"),
        "icmp-ext": embedded({"icmp_type_hex": hex_string, "icmp_code_hex": hex_string},
                             ("icmp_type_hex", "icmp_code_hex"), "icmp-ext"),
        "socket-ext": embedded({
            "address_family": enum({"AF_UNSPEC", "AF_INET", "AF_IPX", "AF_APPLETALK", "AF_NETBIOS", "AF_INET6",
                                    "AF_IRDA", "AF_BTH"}),
            "is_blocking": boolean, "is_listening": boolean, "options": dictionary,
            "socket_type": enum({"SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_RDM", "SOCK_SEQPACKET"}),
            "socket_descriptor": _UNSIGNED, "socket_handle": integer()}, ("address_family",), "socket-ext"),
        "tcp-ext": embedded({"src_flags_hex": hex_string, "dst_flags_hex": hex_string}, (), "tcp-ext"),
    },
    "process": {
        "windows-process-ext": embedded({
            "aslr_enabled": boolean, "dep_enabled": boolean, "priority": string, "owner_sid": string,
            "window_title": string, "startup_info": dictionary,
            "integrity_level": enum({"low", "medium", "high", "system"})}, (), "windows-process-ext"),
        "windows-service-ext": embedded({
            "service_name": string, "descriptions": _STRINGS, "display_name": string, "group_name": string,
            "start_type": enum({"SERVICE_AUTO_START", "SERVICE_BOOT_START", "SERVICE_DEMAND_START",
                                "SERVICE_DISABLED", "SERVICE_SYSTEM_ALERT"}),
            "service_dll_refs": _refs("file"),
            "service_type": enum({"SERVICE_KERNEL_DRIVER", "SERVICE_FILE_SYSTEM_DRIVER",
                                  "SERVICE_WIN32_OWN_PROCESS", "SERVICE_WIN32_SHARE_PROCESS"}),
            "service_status": enum(_SERVICE_STATUS)}, (), "windows-service-ext"),
    },
    "user-account": {
        "unix-account-ext": embedded({"gid": integer(), "groups": _STRINGS, "home_dir": string, "shell": string},
                                     (), "unix-account-ext"),
    },
}
