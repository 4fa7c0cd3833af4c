"""Granular-marking selectors resolved against the object they mark (STIX 2.1 §7.2.3.1): "Selectors MUST refer to
properties or list items that are actually present on the marked object".

A selector is a dot-separated path of property names and list indexes, the index written as its own step in
brackets: ``description``, ``labels.[1]``, ``external_references.[0].source_name``. Each selector is walked from the
object root, one dictionary or list lookup per step, so the cost is linear in the total length of the selectors:
stix2's own resolver (stix2.markings.utils) walks every path of the object for every selector instead, and rejects
list-index selectors that the specification's own examples use (cti-python-stix2 issue 585)."""

import re
from typing import Any

from app.stix.findings import Finding

# At most 18 digits: a longer index cannot exist, and int() of thousands of digits would raise.
_INDEX = re.compile(r"\[(0|[1-9][0-9]{0,17})\]\Z")


def _resolves(obj: dict[str, Any], selector: str) -> bool:
    """Whether every step of ``selector`` names a dictionary key or an existing list index, from ``obj`` down."""
    node: Any = obj
    for step in selector.split("."):
        index = _INDEX.match(step)
        if index is not None:
            if not isinstance(node, list) or int(index.group(1)) >= len(node):
                return False
            node = node[int(index.group(1))]
        elif isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return False
    return True


def selector_findings(obj: dict[str, Any]) -> list[Finding]:
    """A finding for each selector of each ``granular_markings`` entry that does not resolve on ``obj``.

    Entries and selectors of the wrong JSON type are left to the type checks of ``validate``."""
    markings = obj.get("granular_markings")
    if not isinstance(markings, list):
        return []
    findings: list[Finding] = []
    for i, marking in enumerate(markings):
        selectors = marking.get("selectors") if isinstance(marking, dict) else None
        if not isinstance(selectors, list):
            continue
        for j, selector in enumerate(selectors):
            if isinstance(selector, str) and not _resolves(obj, selector):
                findings.append(Finding(f"granular_markings[{i}].selectors[{j}]", "selector",
                                        f"{selector!r} selects nothing on this object: selectors must name "
                                        "properties or list items that are present (e.g. "
                                        "'external_references.[0].source_name')"))
    return findings
