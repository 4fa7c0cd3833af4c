"""Custom content a producer may not have meant: properties STIX 2.1 does not define whose names lack the
``x_`` prefix (STIX 2.1 §11.1: custom property names SHOULD start with ``x_``), and custom object types
(§11.2, deprecated in favour of extension-definitions). Both are accepted, in lenient and strict collections
alike, because the specification allows them; but each is named in the status resource as a warning, so a typo
such as ``indicator_type`` for ``indicator_types`` no longer passes silently.

Objects whose type or top-level properties an extension-definition declares (``new-sdo``, ``new-sco``,
``new-sro``, ``toplevel-property-extension``) are left alone: their schema, not STIX, says what they hold."""

import difflib
from typing import Any

from app.stix.findings import Finding, article

_ALWAYS = frozenset({"type", "spec_version", "id", "extensions"})
_SDO_COMMON = frozenset({"created_by_ref", "created", "modified", "revoked", "labels", "confidence", "lang",
                         "external_references", "object_marking_refs", "granular_markings"})
_SCO_COMMON = frozenset({"object_marking_refs", "granular_markings", "defanged"})
_NAMED = ("name", "description")

# STIX 2.1 §4-§7: the properties each type defines beyond the common ones.
_SDO_SRO: dict[str, tuple[str, ...]] = {
    "attack-pattern": (*_NAMED, "aliases", "kill_chain_phases"),
    "campaign": (*_NAMED, "aliases", "first_seen", "last_seen", "objective"),
    "course-of-action": (*_NAMED, "action_type", "os_execution_envs", "action_bin", "action_reference"),
    "grouping": (*_NAMED, "context", "object_refs"),
    "identity": (*_NAMED, "roles", "identity_class", "sectors", "contact_information"),
    "incident": (*_NAMED, "kill_chain_phases"),
    "indicator": (*_NAMED, "indicator_types", "pattern", "pattern_type", "pattern_version", "valid_from",
                  "valid_until", "kill_chain_phases"),
    "infrastructure": (*_NAMED, "infrastructure_types", "aliases", "kill_chain_phases", "first_seen", "last_seen"),
    "intrusion-set": (*_NAMED, "aliases", "first_seen", "last_seen", "goals", "resource_level",
                      "primary_motivation", "secondary_motivations"),
    "location": (*_NAMED, "latitude", "longitude", "precision", "region", "country", "administrative_area", "city",
                 "street_address", "postal_code"),
    "malware": (*_NAMED, "malware_types", "is_family", "aliases", "kill_chain_phases", "first_seen", "last_seen",
                "operating_system_refs", "architecture_execution_envs", "implementation_languages", "capabilities",
                "sample_refs"),
    "malware-analysis": ("product", "version", "host_vm_ref", "operating_system_ref", "installed_software_refs",
                         "configuration_version", "modules", "analysis_engine_version",
                         "analysis_definition_version", "submitted", "analysis_started", "analysis_ended",
                         "result_name", "result", "analysis_sco_refs", "sample_ref"),
    "note": ("abstract", "content", "authors", "object_refs"),
    "observed-data": ("first_observed", "last_observed", "number_observed", "objects", "object_refs"),
    "opinion": ("explanation", "authors", "opinion", "object_refs"),
    "report": (*_NAMED, "report_types", "published", "object_refs"),
    "threat-actor": (*_NAMED, "threat_actor_types", "aliases", "first_seen", "last_seen", "roles", "goals",
                     "sophistication", "resource_level", "primary_motivation", "secondary_motivations",
                     "personal_motivations"),
    "tool": (*_NAMED, "tool_types", "aliases", "kill_chain_phases", "tool_version"),
    "vulnerability": _NAMED,
    "relationship": ("relationship_type", "description", "source_ref", "target_ref", "start_time", "stop_time"),
    "sighting": ("description", "first_seen", "last_seen", "count", "sighting_of_ref", "observed_data_refs",
                 "where_sighted_refs", "summary"),
    "language-content": ("object_ref", "object_modified", "contents"),
    "extension-definition": (*_NAMED, "schema", "version", "extension_types", "extension_properties"),
}
_ADDRESS = ("value", "resolves_to_refs", "belongs_to_refs")
_SCO: dict[str, tuple[str, ...]] = {
    "artifact": ("mime_type", "payload_bin", "url", "hashes", "encryption_algorithm", "decryption_key"),
    "autonomous-system": ("number", "name", "rir"),
    "directory": ("path", "path_enc", "ctime", "mtime", "atime", "contains_refs"),
    "domain-name": ("value", "resolves_to_refs"),
    "email-addr": ("value", "display_name", "belongs_to_ref"),
    "email-message": ("is_multipart", "date", "content_type", "from_ref", "sender_ref", "to_refs", "cc_refs",
                      "bcc_refs", "message_id", "subject", "received_lines", "additional_header_fields", "body",
                      "body_multipart", "raw_email_ref"),
    "file": ("hashes", "size", "name", "name_enc", "magic_number_hex", "mime_type", "ctime", "mtime", "atime",
             "parent_directory_ref", "contains_refs", "content_ref"),
    "ipv4-addr": _ADDRESS,
    "ipv6-addr": _ADDRESS,
    "mac-addr": ("value",),
    "mutex": ("name",),
    "network-traffic": ("start", "end", "is_active", "src_ref", "dst_ref", "src_port", "dst_port", "protocols",
                        "src_byte_count", "dst_byte_count", "src_packets", "dst_packets", "ipfix",
                        "src_payload_ref", "dst_payload_ref", "encapsulates_refs", "encapsulated_by_ref"),
    "process": ("is_hidden", "pid", "created_time", "cwd", "command_line", "environment_variables",
                "opened_connection_refs", "creator_user_ref", "image_ref", "parent_ref", "child_refs"),
    "software": ("name", "cpe", "swid", "languages", "vendor", "version"),
    "url": ("value",),
    "user-account": ("user_id", "credential", "account_login", "account_type", "display_name",
                     "is_service_account", "is_privileged", "can_escalate_privs", "is_disabled", "account_created",
                     "account_expires", "credential_last_changed", "account_first_login", "account_last_login"),
    "windows-registry-key": ("key", "values", "modified_time", "creator_user_ref", "number_of_subkeys"),
    "x509-certificate": ("is_self_signed", "hashes", "version", "serial_number", "signature_algorithm", "issuer",
                         "validity_not_before", "validity_not_after", "subject", "subject_public_key_algorithm",
                         "subject_public_key_modulus", "subject_public_key_exponent", "x509_v3_extensions"),
}
_MARKING = frozenset({"created_by_ref", "created", "external_references", "object_marking_refs",
                      "granular_markings", "name", "definition_type", "definition"})
DEFINED: dict[str, frozenset[str]] = {
    **{t: _ALWAYS | _SDO_COMMON | frozenset(props) for t, props in _SDO_SRO.items()},
    **{t: _ALWAYS | _SCO_COMMON | frozenset(props) for t, props in _SCO.items()},
    "marking-definition": _ALWAYS | _MARKING,
}
_EXTENSION_DEFINED = {"new-sdo", "new-sco", "new-sro", "toplevel-property-extension"}
_OWN_TYPES = frozenset({"ai-prompt"})  # defined by the exchange's AI Observables extension, checked by its schema


def _declared_by_extension(obj: dict[str, Any]) -> bool:
    extensions = obj.get("extensions")
    return isinstance(extensions, dict) and any(
        isinstance(body, dict) and body.get("extension_type") in _EXTENSION_DEFINED for body in extensions.values())


def custom_findings(obj: dict[str, Any]) -> list[Finding]:
    """Warnings naming the custom object type or each custom property without the ``x_`` prefix."""
    stix_type = obj.get("type")
    if not isinstance(stix_type, str) or stix_type in _OWN_TYPES or _declared_by_extension(obj):
        return []
    defined = DEFINED.get(stix_type)
    if defined is None:
        return [Finding("type", "custom-type", f"{stix_type!r} is a custom object type, not a STIX 2.1 type: "
                                               "consumers that do not know it may drop it; define it with an "
                                               "extension-definition (new-sdo or new-sco)")]
    return [_custom_property(prop, stix_type, defined) for prop in obj
            if prop not in defined and not prop.startswith("x_")]


def _custom_property(prop: str, stix_type: str, defined: frozenset[str]) -> Finding:
    close = difflib.get_close_matches(prop, defined, n=1, cutoff=0.8)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return Finding(prop, "custom-property", f"is not a STIX 2.1 property of {article(stix_type)}{hint}; custom "
                                            "property names should start with x_")
