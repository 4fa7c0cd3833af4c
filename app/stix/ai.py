"""The exchange's two AI STIX extensions (domain/ai-content.md §4): their extension-definition objects, the
checks every object that uses them passes (the JSON Schemas in ``schemas/``, compiled once, plus the
``ai-prompt`` id derivation), the ATLAS technique ids they carry, and the terms that feeds filter on.

Objects that use neither extension cost one dictionary lookup or two."""

import difflib
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

from jsonschema import ValidationError

from app.published import schema_path
from app.stix.findings import Finding, article
from app.stix.markings import TLP2_IDS, Tlp
from app.stix.schemacache import Test, Validator, compile_schema

AI_THREAT_EXTENSION_ID = "extension-definition--58ec9352-2bc3-4b8f-902a-30818e066d96"
AI_OBSERVABLES_EXTENSION_ID = "extension-definition--1929ec3c-7cff-484f-a44a-3a5d5e90cc04"
AI_THREAT_SCHEMA = "ai-threat-context.schema.json"
AI_OBSERVABLES_SCHEMA = "ai-observables.schema.json"
_SCHEMAS = {AI_THREAT_EXTENSION_ID: AI_THREAT_SCHEMA, AI_OBSERVABLES_EXTENSION_ID: AI_OBSERVABLES_SCHEMA}

_DEFINED = "2026-11-26T00:00:00.000Z"
# STIX 2.1 §2.9: the namespace of deterministic SCO ids.
_SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ATLAS_TECHNIQUE = re.compile(r"AML\.T\d{4}(\.\d{3})?")
_MAX_TERM = 200  # object_term.value
_MOST_UNKNOWN = 20  # unknown properties reported one by one; the status shows the first five findings anyway


@cache
def _schema(name: str) -> tuple[Test, Any]:
    """The fast acceptance test and the jsonschema validator of one published schema, loaded once."""
    schema = json.loads(schema_path(name).read_text(encoding="utf-8"))
    Validator.check_schema(schema)
    return compile_schema(schema), Validator(schema)


# ------------------------------------------------------------------ extension-definitions


def extension_definitions(exchange_identity_id: str) -> list[dict[str, Any]]:
    """The two extension-definition objects the exchange publishes, created by its own identity."""
    common = {"type": "extension-definition", "spec_version": "2.1", "created_by_ref": exchange_identity_id,
              "created": _DEFINED, "modified": _DEFINED, "version": "1.0.0",
              "object_marking_refs": [TLP2_IDS[Tlp.CLEAR]]}
    return [
        {**common, "id": AI_THREAT_EXTENSION_ID, "name": "AI Threat Context",
         "description": "Nested property extension adding AI threat context to SDOs and sightings: "
                        "threat_category, ai_system_kinds, affected_model_families, atlas_technique_ids with "
                        "atlas_version, edition-qualified OWASP LLM / Agentic ids, modalities, harm_categories, "
                        "maturity (ATLAS vocabulary) and confidence_rationale.",
         "schema": f"JSON Schema (draft 2020-12) served by the exchange at /schemas/{AI_THREAT_SCHEMA}",
         "extension_types": ["property-extension"]},
        {**common, "id": AI_OBSERVABLES_EXTENSION_ID, "name": "AI Observables",
         "description": "Defines the 'ai-prompt' SCO (compatible superset of the community ai-prompt: value, "
                        "models, plus hashes, normalized_sha256, value_disclosure, prompt_role, language; the id "
                        "is derived from hashes.SHA-256 only) and a property extension on 'file' for serialized "
                        "model artifacts (model_format, hub_uri, hub_revision, base_model, embedded_code, "
                        "unsafe_imports).",
         "schema": f"JSON Schema (draft 2020-12) served by the exchange at /schemas/{AI_OBSERVABLES_SCHEMA}",
         "extension_types": ["new-sco", "property-extension"]},
    ]


# ------------------------------------------------------------------ checks


def ai_prompt_id(sha256: str) -> str:
    """The deterministic id of the ai-prompt whose text has this SHA-256: UUIDv5 over the RFC 8785 canonical
    JSON of its one id-contributing property, ``{"hashes":{"SHA-256":…}}``."""
    canonical = json.dumps({"hashes": {"SHA-256": sha256}}, separators=(",", ":"), ensure_ascii=False)
    return f"ai-prompt--{uuid.uuid5(_SCO_NAMESPACE, canonical)}"


def check_ai(obj: dict[str, Any]) -> list[Finding]:
    """Errors for an object that uses either AI extension or is an ai-prompt; [] for every other object."""
    extensions = obj.get("extensions")
    stix_type = obj.get("type")
    uses_threat = uses_observables = False
    if isinstance(extensions, dict) and extensions:
        uses_threat = AI_THREAT_EXTENSION_ID in extensions
        uses_observables = AI_OBSERVABLES_EXTENSION_ID in extensions
    is_prompt = stix_type == "ai-prompt"
    if not (uses_threat or uses_observables or is_prompt):
        return []
    findings: list[Finding] = []
    if uses_threat:
        findings += _schema_findings(obj, AI_THREAT_EXTENSION_ID)
    if uses_observables or is_prompt:
        findings += _schema_findings(obj, AI_OBSERVABLES_EXTENSION_ID)
    if is_prompt:
        hashes = obj.get("hashes")
        sha256 = hashes.get("SHA-256") if isinstance(hashes, dict) else None
        if isinstance(sha256, str) and _SHA256.fullmatch(sha256):
            expected = ai_prompt_id(sha256)
            if obj.get("id") != expected:
                findings.append(Finding("id", "deterministic-id", (
                    f"must be {expected}: an ai-prompt's id is the UUIDv5 of its hashes.SHA-256 (STIX 2.1 §2.9, "
                    "id-contributing property 'hashes' reduced to SHA-256), so every producer of the same "
                    "payload shares one id")))
    return findings


_REQUIRED_HINTS = {
    "threat_category": "the primary AI threat class, e.g. 'prompt-injection' or 'jailbreak'",
    "ai_system_kinds": "at least one kind of AI system component hit or abused, e.g. ['llm', 'agent']",
    "atlas_version": "the ATLAS release the technique ids refer to, e.g. '5.6.0' (ATLAS renumbers techniques)",
    "hashes": "hashes.SHA-256 of the prompt's exact UTF-8 text; the ai-prompt id is derived from it",
    "SHA-256": "the SHA-256 of the exact UTF-8 bytes, as 64 lower-case hex digits",
    "value_disclosure": "'full', 'redacted' or 'withheld'",
    "value": "when value_disclosure is 'full' or 'redacted' (use 'withheld' to share the hashes only)",
    "model_format": "the serialization format, e.g. 'safetensors', 'gguf' or 'pytorch-pickle'",
    "extensions": f"an ai-prompt declares {{'{AI_OBSERVABLES_EXTENSION_ID}': {{'extension_type': 'new-sco'}}}}",
    AI_OBSERVABLES_EXTENSION_ID: "an ai-prompt declares the AI Observables extension with "
                                 "{'extension_type': 'new-sco'}",
}
_PATTERN_HINTS = {
    "atlas_technique_ids": "must be a MITRE ATLAS technique id such as 'AML.T0051' or 'AML.T0051.000' "
                           "(ATT&CK ids such as T1588.007 belong in external_references)",
    "atlas_version": "must be an ATLAS release such as '5.6.0' or '2026.09'",
    "owasp_llm_ids": "must be an OWASP Top 10 for LLM Applications id with its edition, such as 'LLM01:2025' "
                     "(the 2026 edition reuses LLM01-LLM10 with other meanings)",
    "owasp_agentic_ids": "must be an OWASP Top 10 for Agentic Applications id with its edition, such as "
                         "'ASI01:2026'",
    "affected_model_families": "must be a lower-case model family token such as 'llama-3' or 'gpt-4o' "
                               "(a-z, 0-9 and . _ + : / -, at most 128 characters), or 'any'",
    "SHA-256": "must be 64 hexadecimal digits (lower-case on an ai-prompt, since its id derives from it)",
    "normalized_sha256": "must be 64 lower-case hexadecimal digits",
    "language": "must be a BCP 47 language tag such as 'en' or 'pt-BR'",
    "hub_uri": "must be an absolute URI such as 'https://huggingface.co/org/model'",
    "hub_revision": "must be an immutable revision: 7-64 lower-case hexadecimal digits",
    "unsafe_imports": "must be a dotted Python name such as 'builtins.exec'",
    "object_marking_refs": "must be a marking-definition id",
    "id": "must be '<type>--<RFC 4122 UUID>' (an ai-prompt's UUID is version 5)",
}
_TYPE_WORDS = {"string": "a string", "array": "a list", "object": "a dictionary", "boolean": "true or false",
               "integer": "an integer", "number": "a number"}


def _path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _owner(path: str, obj: dict[str, Any]) -> str:
    if AI_THREAT_EXTENSION_ID in path:
        return "the AI Threat Context extension"
    if AI_OBSERVABLES_EXTENSION_ID in path:
        return "the AI model-file extension" if obj.get("type") == "file" else "the AI Observables extension"
    return article(str(obj.get("type")))


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _schema_findings(obj: dict[str, Any], extension_id: str) -> list[Finding]:
    accepts, validator = _schema(_SCHEMAS[extension_id])
    if accepts(obj):
        return []
    # A dict, not a list: one error per item of a long list made membership tests quadratic.
    out: dict[Finding, None] = {}
    for error in validator.iter_errors(obj):
        out.update(dict.fromkeys(_explain(error, obj, extension_id)))
    return list(out)


def _explain(error: ValidationError, obj: dict[str, Any], extension_id: str) -> Iterator[Finding]:
    keyword, expected, value = error.validator, error.validator_value, error.instance
    parts = list(error.absolute_path)
    path = _path(parts)
    name = next((p for p in reversed(parts) if isinstance(p, str)), "")
    if keyword == "required" and isinstance(value, dict):
        for prop in expected:
            if prop not in value:
                hint = _REQUIRED_HINTS.get(prop)
                yield Finding(_join(path, prop), "required", f"is required: {hint}" if hint else "is required")
    elif keyword == "dependentRequired" and isinstance(value, dict):
        for trigger, needed in expected.items():
            for prop in needed:
                if trigger in value and prop not in value:
                    yield Finding(_join(path, prop), "required",
                                  f"is required with {trigger}: {_REQUIRED_HINTS.get(prop, 'see the schema')}")
    elif keyword == "additionalProperties" and isinstance(value, dict):
        yield from _unknown_properties(error, value, path, obj)
    elif keyword == "not" and isinstance(expected, dict) and "required" in expected:
        for prop in expected["required"]:
            yield Finding(_join(path, prop), "exclusive",
                          "must be absent when value_disclosure is 'withheld' (share the hashes only)")
    elif keyword == "enum" and parts == ["type"]:
        yield Finding(f"extensions.{extension_id}", "applies-to", f"cannot be used on {article(str(value))} object; "
                      f"{_owner(extension_id, obj)} applies to: {', '.join(expected)}")
    elif keyword == "enum":
        yield Finding(path, "vocabulary", f"must be one of {', '.join(expected)}, not {value!r}")
    elif keyword == "const":
        yield Finding(path, "vocabulary", f"must be {expected!r}, not {value!r}")
    elif keyword == "pattern":
        yield Finding(path, "pattern", f"{_PATTERN_HINTS.get(name, f'must match {expected}')}, not {value!r}")
    elif keyword == "type":
        kinds = [expected] if isinstance(expected, str) else expected
        yield Finding(path, "type", f"must be {' or '.join(_TYPE_WORDS.get(k, k) for k in kinds)}")
    elif keyword == "minItems":
        yield Finding(path, "type", "must list at least one value (omit an optional property instead of an empty list)")
    elif keyword == "maxItems":
        yield Finding(path, "length", f"must list at most {expected} values")
    elif keyword == "maxProperties":
        yield Finding(path, "length", f"must have at most {expected} entries")
    elif keyword == "uniqueItems":
        yield Finding(path, "unique", "must not repeat a value")
    elif keyword == "minLength":
        yield Finding(path, "length", "must not be empty")
    elif keyword == "maxLength":
        yield Finding(path, "length", f"must be at most {expected} characters")
    else:
        yield Finding(path, "schema", error.message)


def _unknown_properties(error: ValidationError, value: dict[str, Any], path: str,
                        obj: dict[str, Any]) -> Iterator[Finding]:
    """One finding with a suggestion per unknown property, for the first _MOST_UNKNOWN; then one that counts
    the rest. (A suggestion costs ~1 ms of difflib: 10,000 unknown properties took 10 s.)"""
    known = list(error.schema.get("properties", {}))
    patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
    unknown = [prop for prop in value if prop not in known and not any(p.search(prop) for p in patterns)]
    owner = _owner(path, obj)
    for prop in unknown[:_MOST_UNKNOWN]:
        close = difflib.get_close_matches(prop, known, n=1)
        advice = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(known)}"
        yield Finding(_join(path, prop), "unknown-property", f"is not a property of {owner}; {advice}")
    if len(unknown) > _MOST_UNKNOWN:
        yield Finding(path, "unknown-property",
                      f"has {len(unknown) - _MOST_UNKNOWN} more properties that are not properties of {owner}")


# ------------------------------------------------------------------ ATLAS and the feed index


def _threat_context(obj: dict[str, Any]) -> dict[str, Any] | None:
    extensions = obj.get("extensions")
    if not isinstance(extensions, dict):
        return None
    context = extensions.get(AI_THREAT_EXTENSION_ID)
    return context if isinstance(context, dict) else None


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def atlas_technique_ids(obj: dict[str, Any]) -> list[str]:
    """The ATLAS technique ids the object's AI Threat Context names (as given)."""
    context = _threat_context(obj)
    return _strings(context.get("atlas_technique_ids")) if context else []


def atlas_external_id(obj: dict[str, Any]) -> str | None:
    """For an ATLAS technique (an attack-pattern with a 'mitre-atlas' external reference), its id: AML.T0051."""
    if obj.get("type") != "attack-pattern":
        return None
    for ref in obj.get("external_references") or ():
        if isinstance(ref, dict) and ref.get("source_name") == "mitre-atlas":
            external_id = ref.get("external_id")
            if isinstance(external_id, str) and _ATLAS_TECHNIQUE.fullmatch(external_id):
                return external_id
    return None


def unknown_atlas_findings(obj: dict[str, Any], known: set[str]) -> list[Finding]:
    """Warnings for the technique ids in the object's AI Threat Context that are not in ``known``."""
    context = _threat_context(obj)
    ids = context.get("atlas_technique_ids") if context else None
    if not isinstance(ids, list):
        return []
    version = context.get("atlas_version") if context else None
    return [
        Finding(f"extensions.{AI_THREAT_EXTENSION_ID}.atlas_technique_ids[{i}]", "unknown-technique",
                f"{technique} is not an ATLAS technique this exchange holds (ATLAS {version or 'version not given'}); "
                "check the id, or post the ATLAS attack-pattern first")
        for i, technique in enumerate(ids)
        if isinstance(technique, str) and technique not in known
    ]


_TERM_SOURCES = (
    ("threat_category", "threat_category"),
    ("atlas", "atlas_technique_ids"),
    ("owasp", "owasp_llm_ids"),
    ("owasp", "owasp_agentic_ids"),
    ("model_family", "affected_model_families"),
    ("ai_system_kind", "ai_system_kinds"),
)


def index_terms(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """The (kind, value) pairs that feed selectors match on, deduplicated, in a stable order."""
    terms: dict[tuple[str, str], None] = {}
    context = _threat_context(obj)
    if context:
        for kind, prop in _TERM_SOURCES:
            value = context.get(prop)
            for item in [value] if isinstance(value, str) else _strings(value):
                terms[kind, item] = None
    if obj.get("type") == "ai-prompt":
        for model in _strings(obj.get("models")):
            terms["model_family", model.lower()] = None
    for label in _strings(obj.get("labels")):
        terms["label", label] = None
    return [t for t in terms if 0 < len(t[1]) <= _MAX_TERM]


def index_columns(obj: dict[str, Any]) -> dict[str, Any]:
    """The filter columns of stix_object that come from the object: confidence, revoked, atlas_id."""
    confidence = obj.get("confidence")
    return {
        "confidence": confidence if type(confidence) is int and 0 <= confidence <= 100 else None,
        "revoked": obj.get("revoked") is True,
        "atlas_id": atlas_external_id(obj),
    }
