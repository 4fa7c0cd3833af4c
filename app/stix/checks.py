"""The per-object checks every submission passes before it is stored: the STIX 2.1 common properties that
storage and TAXII depend on (type, id, spec_version, created/modified where the type is versioned)."""

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from app.config import get_settings
from app.stix.findings import article
from app.stix.timestamps import TimestampError, parse_timestamp

# STIX 2.1 §6: cyber-observable objects carry no created/modified and are not versioned.
SCO_TYPES = frozenset({
    "artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message", "file",
    "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process", "software", "url",
    "user-account", "windows-registry-key", "x509-certificate", "ai-prompt",
})
# Marking definitions have a created but cannot be versioned (STIX 2.1 §7.2.1).
CREATED_ONLY_TYPES = frozenset({"marking-definition"})

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")  # RFC 4122
_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]\Z")


class ObjectRejected(ValueError):
    """The object cannot be stored; the message says what to fix."""


@dataclass(frozen=True)
class CheckedObject:
    """An object that passed the checks, with the columns the store indexes."""

    obj: dict[str, Any]
    stix_id: str
    type: str
    spec_version: str
    version: int | None  # None for objects with neither modified nor created (most SCOs)
    content_hash: str
    raw: str

    @property
    def is_sco(self) -> bool:
        return self.type in SCO_TYPES


def _timestamp(obj: dict[str, Any], prop: str) -> int:
    value = obj.get(prop)
    if value is None:
        raise ObjectRejected(f"'{prop}' is required on {article(obj['type'])} object")
    try:
        return parse_timestamp(value, require_utc=True)
    except TimestampError as exc:
        raise ObjectRejected(f"'{prop}': {exc}") from None


def _check_id(obj: dict[str, Any]) -> None:
    prefix, sep, suffix = obj["id"].partition("--")
    if not sep or prefix != obj["type"]:
        raise ObjectRejected(f"'id' must be '{obj['type']}--<UUID>', not {obj['id']!r}")
    if not _UUID.match(suffix):
        raise ObjectRejected(f"'id' must end in a lower-case, hyphenated RFC 4122 UUID, not {suffix!r}")


def check_common(obj: dict[str, Any]) -> int | None:
    """Check what storage relies on; returns the version (modified, else created, else None)."""
    stix_type = obj.get("type")
    if not isinstance(stix_type, str) or not _TYPE.match(stix_type):
        raise ObjectRejected(
            "'type' must be 3-250 characters of lower-case a-z, 0-9 and '-', starting and ending alphanumeric"
        )
    if not isinstance(obj.get("id"), str):
        raise ObjectRejected("'id' is required and must be a string")
    _check_id(obj)
    spec_version = obj.get("spec_version")
    if spec_version is None:
        raise ObjectRejected("'spec_version' is required; this exchange accepts STIX 2.1 ('2.1')")
    if spec_version != "2.1":
        raise ObjectRejected(f"'spec_version' is {spec_version!r}; this exchange accepts STIX 2.1 only")
    if stix_type in SCO_TYPES:
        return None
    created = _timestamp(obj, "created")
    if stix_type in CREATED_ONLY_TYPES:
        if "modified" in obj:
            raise ObjectRejected("a marking-definition cannot be versioned and must not carry 'modified'")
        return created
    return _timestamp(obj, "modified")


def _nesting_depth(value: Any) -> int:
    """How deeply containers nest in ``value`` (iterative: a hostile object cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_object(obj: dict[str, Any]) -> CheckedObject:
    """Check ``obj`` and derive the columns stored with it; raises ObjectRejected."""
    settings = get_settings()
    try:
        raw = orjson.dumps(obj)
    except (TypeError, orjson.JSONEncodeError) as exc:  # e.g. an integer beyond 64 bits
        raise ObjectRejected(f"the object cannot be stored as JSON: {exc}") from None
    if len(raw) > settings.max_object_bytes:
        raise ObjectRejected(f"the object is {len(raw)} bytes; at most {settings.max_object_bytes} are accepted")
    depth = _nesting_depth(obj)
    if depth > settings.max_nesting_depth:
        raise ObjectRejected(f"the object nests {depth} levels deep; at most {settings.max_nesting_depth} are accepted")
    version = check_common(obj)
    return CheckedObject(
        obj=obj,
        stix_id=obj["id"],
        type=obj["type"],
        spec_version=obj["spec_version"],
        version=version,
        content_hash=hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest(),
        raw=raw.decode(),
    )
