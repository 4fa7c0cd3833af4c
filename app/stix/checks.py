"""The per-object checks every submission passes before it is stored: the STIX 2.1 common properties that
storage and TAXII depend on (type, id, spec_version, created/modified where the type is versioned). Every problem
is reported at once, not only the first."""

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from app.stix.findings import article
from app.stix.model import SCO_TYPES, is_sco
from app.stix.timestamps import TimestampError, parse_timestamp
from app.stix.values import UUID

__all__ = ["SCO_TYPES", "CheckedObject", "ObjectRejected", "SizeLimits", "check_common", "check_object"]
# Marking definitions have a created but cannot be versioned (STIX 2.1 §7.2.1).
CREATED_ONLY_TYPES = frozenset({"marking-definition"})

_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]\Z")


class ObjectRejected(ValueError):
    """The object cannot be stored; the message says what to fix."""


@dataclass(frozen=True)
class SizeLimits:
    """How large one submitted object may be: serialised, in bytes, and in levels of nesting (the pipeline
    passes the exchange's settings)."""

    object_bytes: int
    nesting_depth: int


@dataclass(frozen=True)
class CheckedObject:
    """An object that passed the checks, with the columns the store indexes."""

    obj: dict[str, Any]
    stix_id: str
    type: str
    spec_version: str
    version: int | None  # None for SCOs (§6: not versioned)
    content_hash: str
    raw: str
    is_sco: bool  # STIX's SCO types and types announced as "new-sco" (app.stix.model.is_sco)


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
    return CheckedObject(
        obj=obj,
        stix_id=obj["id"],
        type=obj["type"],
        spec_version=obj.get("spec_version", "2.1"),
        version=version,
        content_hash=hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest(),
        raw=raw.decode(),
        is_sco=is_sco(obj),
    )
