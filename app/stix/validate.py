"""STIX 2.1 validation of one object: every MUST of the specification that can be checked on the object alone,
driven by the object model in ``app.stix.model`` (property types, required properties, co-constraints, the
predefined extensions), plus the rules on names (§3.1, §11.1), extensions (§7.3) and marking-definitions (§7.2).
Each finding names the property path and the rule in words; all findings are reported, none stops the walk.

Written as plain dictionary checks (no object model is built), so that validating is cheaper than parsing."""

import re
from typing import Any

from app.stix.findings import Finding, article
from app.stix.markings import TLP1_IDS, Tlp
from app.stix.model import (
    COMMON,
    EXTENSION_TYPES,
    EXTENSIONS,
    TYPES,
    TypeSpec,
    ordered,
)
from app.stix.patterns import pattern_error, pattern_path_findings
from app.stix.selectors import selector_findings
from app.stix.values import IDENTIFIER

__all__ = ["validate"]

_PROPERTY_NAME = re.compile(r"^[a-z0-9_]{3,250}\Z")
# Names the specification reserves (STIX 2.1 §3.1 "Reserved Names"): no object may use them for a property it
# defines itself, and no object type may be called "action".
_RESERVED_PROPERTIES = frozenset({"severity", "action", "username", "phone_numbers"})
_RESERVED_TYPES = frozenset({"action"})
_ALWAYS = frozenset({"type", "id", "spec_version"})
# The TLP 1.0 marking-definitions (§7.2.1.4): id → the one "tlp" value each may carry.
_TLP1 = {marking_id: "white" if level is Tlp.CLEAR else level.name.lower() for level, marking_id in TLP1_IDS.items()}
# The one accepted deviation: OpenCTI publishes "TLP:CLEAR" under the TLP 1.0 WHITE id with {"tlp": "clear"}.
# TLP 2.0 renamed WHITE to CLEAR and means the same, so its readers and ours agree on the audience (docs/validation.md).
_OPENCTI_CLEAR = (TLP1_IDS[Tlp.CLEAR], "clear")
_UNKNOWN = TypeSpec("custom", (), {})
_VERSION_ORDER = ordered("created", "modified", strict=False)  # §3.2, for every object


def validate(obj: dict[str, Any]) -> list[Finding]:
    """Every STIX 2.1 MUST this object breaks (empty when it is valid). Custom properties are kept: their names
    must only be well-formed, not reserved, and their values not empty lists."""
    stix_type = obj.get("type", "")
    if not isinstance(stix_type, str):
        return [Finding("type", "type", "must be a string")]
    findings: list[Finding] = []
    spec = TYPES.get(stix_type, _UNKNOWN)
    for prop in spec.required:
        if prop not in obj:
            findings.append(Finding(prop, "required", f"is required on {article(stix_type)}"))
    for prop, value in obj.items():
        check = spec.props.get(prop) or COMMON.get(prop)
        if check is not None:
            check(value, prop, findings)
        elif prop not in _ALWAYS:
            _custom_property(prop, value, findings)
    _VERSION_ORDER(obj, findings)
    for rule in spec.rules:
        rule(obj, findings)
    if stix_type in _RESERVED_TYPES:
        findings.append(Finding("type", "reserved", f"'{stix_type}' is a reserved type name"))
    if stix_type == "indicator" and obj.get("pattern_type") == "stix" and isinstance(obj.get("pattern"), str):
        _pattern(obj["pattern"], findings)
    if "granular_markings" in obj:
        findings += selector_findings(obj)  # §7.2.3.1: selectors must select something present
    if stix_type == "marking-definition":
        _marking_definition(obj, findings)
    if isinstance(obj.get("extensions"), dict):
        _extensions(obj, stix_type, findings)
    return findings


def _pattern(pattern: str, out: list[Finding]) -> None:
    """§9: the grammar, then (for a grammatical pattern) its object types and property paths."""
    error = pattern_error(pattern)
    if error:
        out.append(Finding("pattern", "pattern", f"is not a valid STIX pattern: {error}"))
    else:
        out += pattern_path_findings(pattern)


def _custom_property(prop: str, value: Any, out: list[Finding]) -> None:
    """§11.1: custom property names are 3-250 of a-z, 0-9 and _; §2.12: no list is empty."""
    if not _PROPERTY_NAME.match(prop):
        out.append(Finding(prop, "property-name", "property names must be 3-250 characters of a-z, 0-9 and _"))
    elif prop in _RESERVED_PROPERTIES:
        out.append(Finding(prop, "reserved", f"'{prop}' is a reserved property name"))
    if value == []:
        out.append(Finding(prop, "type", "must not be an empty list (omit the property instead)"))


def _marking_definition(obj: dict[str, Any], out: list[Finding]) -> None:
    """§7.2.1: a definition_type and its definition, or an extension; TLP only under the four TLP 1.0 ids;
    no marking of itself."""
    if "extensions" not in obj and not ("definition_type" in obj and "definition" in obj):
        out.append(Finding("", "required", "a marking-definition needs extensions, or definition_type and "
                                           "definition"))
    kind, definition = obj.get("definition_type"), obj.get("definition")
    if kind in ("tlp", "statement") and isinstance(definition, dict) and not isinstance(definition.get(kind), str):
        out.append(Finding(f"definition.{kind}", "required", f"a {kind} marking's definition needs '{kind}' "
                                                              "(a string)"))
    if kind == "tlp" and isinstance(definition, dict):
        expected = _TLP1.get(obj.get("id", ""))
        if expected is None:
            out.append(Finding("definition_type", "tlp", "TLP 1.0 marking-definitions are the four of §7.2.1.4; "
                                                         "this id is not one of them"))
        elif definition.get("tlp") != expected and (obj["id"], definition.get("tlp")) != _OPENCTI_CLEAR:
            out.append(Finding("definition.tlp", "tlp", f"must be {expected!r} under this TLP 1.0 id"))
    own = obj.get("id")
    refs = obj.get("object_marking_refs")
    if isinstance(refs, list) and own in refs:
        out.append(Finding("object_marking_refs", "circular", "a marking-definition must not mark itself"))
    granular_markings = obj.get("granular_markings")
    for i, granular in enumerate(granular_markings if isinstance(granular_markings, list) else []):
        if isinstance(granular, dict) and granular.get("marking_ref") == own:
            out.append(Finding(f"granular_markings[{i}].marking_ref", "circular",
                               "a marking-definition must not mark itself"))


def _extensions(obj: dict[str, Any], stix_type: str, out: list[Finding]) -> None:
    """§7.3: keys are extension-definition ids (the body says its extension_type) or predefined '-ext' names;
    no body is empty; the predefined SCO extensions follow the object model."""
    predefined = EXTENSIONS.get(stix_type, {})
    for key, body in obj["extensions"].items():
        path = f"extensions.{key}"
        if isinstance(body, dict) and not body:
            out.append(Finding(path, "empty", "an extension must carry at least one property"))
            continue
        if key.startswith("extension-definition--"):
            if not IDENTIFIER.match(key):
                out.append(Finding(path, "identifier", "must be an extension-definition identifier"))
            elif not isinstance(body, dict) or body.get("extension_type", "property-extension") not in EXTENSION_TYPES:
                out.append(Finding(f"{path}.extension_type", "vocabulary",
                                   f"must be one of {', '.join(sorted(EXTENSION_TYPES))}"))
        elif key in predefined:
            predefined[key](body, path, out)
        elif not key.endswith("-ext") and not key.startswith("x-"):
            out.append(Finding(path, "extension", "must be an extension-definition id or a predefined '-ext' name"))
        elif not isinstance(body, dict):
            out.append(Finding(path, "type", "must be an object"))
