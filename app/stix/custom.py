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
from app.stix.model import DEFINED  # the one object model: what each STIX 2.1 type defines

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
