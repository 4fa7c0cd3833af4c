"""The per-object checks every submission passes before it is stored: the STIX 2.1 common properties that
storage and TAXII depend on (type, id, spec_version, created/modified where the type is versioned). Every problem
is reported at once, not only the first.

An object that passes becomes a ``CheckedObject``: one record of everything the sharing rules and the store read
from it, computed here once (issue 15). Before, one object left the ingest pipeline for ``app.stix`` and came
back 17 times, ``marking_refs`` running on it five or six times. ``check_submitted`` (every check of a POST,
the derived record included) runs at about 42,000 objects/s on tests/data's 5,819 objects (one core, best of 5
in CPU time; goal ≥ 20,000)."""

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any

import orjson

from app.stix.ai import atlas_technique_ids, check_ai, index_columns, index_terms
from app.stix.custom import custom_findings
from app.stix.findings import Finding, article, describe
from app.stix.markings import AudienceSpec, Tlp, marking_refs, read_audience, tlp_of
from app.stix.model import is_sco
from app.stix.timestamps import TimestampError, parse_timestamp
from app.stix.validate import validate
from app.stix.values import UUID

__all__ = ["CheckedObject", "ObjectRejected", "SizeLimits", "check_common", "check_object", "check_submitted"]
# Marking definitions have a created but cannot be versioned (STIX 2.1 §7.2.1).
CREATED_ONLY_TYPES = frozenset({"marking-definition"})

_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]\Z")
# The longest type the store keeps (its ``type`` columns; its id columns, of 150, then hold any ``type--<UUID>``).
# STIX allows 250 characters: longer types are refused by name, where they were a 500 on PostgreSQL.
STORED_TYPE_LENGTH = 100


class ObjectRejected(ValueError):
    """The object cannot be stored; the message says what to fix. ``rule``: for a sharing rule's refusal, its
    short name (the metrics count refusals by rule)."""

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class SizeLimits:
    """How large one submitted object may be: serialised, in bytes, and in levels of nesting (the pipeline
    passes the exchange's settings)."""

    object_bytes: int
    nesting_depth: int


@dataclass(frozen=True)
class CheckedObject:
    """An object that passed the checks, with what the sharing rules and the store read from it."""

    obj: dict[str, Any]
    stix_id: str
    type: str
    spec_version: str
    version: int | None  # None for SCOs (§6: not versioned)
    content_hash: str
    raw: str
    is_sco: bool  # STIX's SCO types and types announced as "new-sco" (app.stix.model.is_sco)
    marking_refs: tuple[str, ...]  # object-level and granular
    tlp: Tlp | None  # the most restrictive TLP among them
    audience: AudienceSpec | None  # what an exchange-audience marking-definition says
    audience_error: str | None  # why its exchange-audience extension is malformed (then ``audience`` is None)
    atlas_ids: tuple[str, ...]  # the ATLAS technique ids its AI Threat Context names
    index: dict[str, Any]  # filter columns: confidence, revoked, atlas_id (app.stix.ai.index_columns)
    terms: tuple[tuple[str, str], ...]  # (kind, value) pairs feed selectors look up
    warnings: tuple[Finding, ...] = ()  # validation findings kept with an accepted object


def _timestamp(obj: dict[str, Any], prop: str, problems: list[str]) -> int | None:
    value = obj.get(prop)
    if value is None:
        problems.append(f"'{prop}' is required on {article(obj['type'])} object")
        return None
    try:
        return parse_timestamp(value, require_utc=True)
    except TimestampError as exc:
        problems.append(f"'{prop}': {exc}")
        return None


def _check_id(obj: dict[str, Any], problems: list[str]) -> None:
    prefix, sep, suffix = obj["id"].partition("--")
    if not sep or prefix != obj["type"]:
        problems.append(f"'id' must be '{obj['type']}--<UUID>', not {obj['id']!r}")
    elif not UUID.match(suffix):
        problems.append(f"'id' must end in a lower-case, hyphenated RFC 4122 UUID, not {suffix!r}")


def check_common(obj: dict[str, Any]) -> int | None:
    """Check what storage relies on; returns the version (modified, else created, else None). Raises
    ObjectRejected naming every problem found."""
    stix_type = obj.get("type")
    if not isinstance(stix_type, str) or not _TYPE.match(stix_type):
        raise ObjectRejected(
            "'type' must be 3-250 characters of lower-case a-z, 0-9 and '-', starting and ending alphanumeric"
        )
    if len(stix_type) > STORED_TYPE_LENGTH:
        raise ObjectRejected(f"'type' is {len(stix_type)} characters: this exchange stores types of up to "
                             f"{STORED_TYPE_LENGTH} (STIX allows 250)")
    problems: list[str] = []
    if not isinstance(obj.get("id"), str):
        problems.append("'id' is required and must be a string")
    else:
        _check_id(obj, problems)
    sco = is_sco(obj)
    if "spec_version" not in obj:
        if not sco:  # §6.1: optional on SCOs, where it defaults to 2.1
            problems.append("'spec_version' is required; this exchange accepts STIX 2.1 ('2.1')")
    elif obj["spec_version"] != "2.1":
        problems.append(f"'spec_version' is {obj['spec_version']!r}; this exchange accepts STIX 2.1 only")
    version = None
    if stix_type in CREATED_ONLY_TYPES:
        version = _timestamp(obj, "created", problems)
        if "modified" in obj:
            problems.append("a marking-definition cannot be versioned and must not carry 'modified'")
    elif not sco:
        _timestamp(obj, "created", problems)
        version = _timestamp(obj, "modified", problems)
    if problems:
        raise ObjectRejected("; ".join(problems))
    return version


def _nesting_depth(value: Any) -> int:
    """How deeply containers nest in ``value`` (iterative: a hostile object cannot exhaust the stack)."""
    if not isinstance(value, dict | list):
        return 0
    deepest, stack = 1, [(value, 1)]
    while stack:  # only containers are pushed: most values are scalars (2x faster on tests/data than pushing all)
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        stack += [(child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
                  if isinstance(child, dict | list)]
    return deepest


def check_object(obj: dict[str, Any], limits: SizeLimits | None = None) -> CheckedObject:
    """Check ``obj`` and derive the columns stored with it; raises ObjectRejected. Without ``limits`` (the
    exchange's own objects), any size is accepted."""
    try:
        raw = orjson.dumps(obj)
    except (TypeError, orjson.JSONEncodeError) as exc:  # e.g. an integer beyond 64 bits
        raise ObjectRejected(f"the object cannot be stored as JSON: {exc}") from None
    if limits is not None:
        if len(raw) > limits.object_bytes:
            raise ObjectRejected(f"the object is {len(raw)} bytes; at most {limits.object_bytes} are accepted")
        depth = _nesting_depth(obj)
        if depth > limits.nesting_depth:
            raise ObjectRejected(f"the object nests {depth} levels deep; at most {limits.nesting_depth} are accepted")
    version = check_common(obj)
    refs = marking_refs(obj)
    audience, audience_error = read_audience(obj)
    return CheckedObject(
        obj=obj,
        stix_id=obj["id"],
        type=obj["type"],
        spec_version=obj.get("spec_version", "2.1"),
        version=version,
        content_hash=hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest(),
        raw=raw.decode(),
        is_sco=is_sco(obj),
        marking_refs=tuple(refs),
        tlp=tlp_of(refs),
        audience=audience,
        audience_error=audience_error,
        atlas_ids=tuple(atlas_technique_ids(obj)),
        index=index_columns(obj),
        terms=tuple(index_terms(obj)),
    )


def check_submitted(obj: dict[str, Any], *, strict: bool, limits: SizeLimits | None = None) -> CheckedObject:
    """``check_object``, the exchange's own AI extensions (always enforced) and every STIX 2.1 MUST (enforced when
    ``strict``, else kept as warnings, like custom content always is); raises ObjectRejected."""
    item = check_object(obj, limits)
    extension_errors = check_ai(obj)
    if extension_errors:
        raise ObjectRejected(describe(extension_errors))
    findings = validate(obj)
    if findings and strict:
        raise ObjectRejected(describe(findings))
    warnings = findings + custom_findings(obj)
    return replace(item, warnings=tuple(warnings)) if warnings else item
