"""Granular-marking selectors resolved against the marked object (STIX 2.1 §7.2.3.1), unit tests of
``app.stix.selectors.selector_findings``: the specification's own selector examples resolve, and a selector naming an
absent property, an out-of-range index, an index into a non-list or a property of a non-dictionary does not."""

from typing import Any

import pytest

from app.stix.selectors import selector_findings

TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"


def _marked(*selectors: str, **props: Any) -> dict[str, Any]:
    return {"type": "vulnerability", "spec_version": "2.1", "id": "vulnerability--4b9b7a8e-6d7f-4c3a-9b1e-2f5d8c7a6e10",
            "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": "CVE-2023-29374",
            "description": "an injection", "labels": ["llm", "rce"],
            "external_references": [{"source_name": "cve", "external_id": "CVE-2023-29374"}],
            "extensions": {"x-acme-ext": {"extension_type": "property-extension", "score": [1, 2]}},
            "granular_markings": [{"marking_ref": TLP_GREEN, "selectors": list(selectors)}], **props}


@pytest.mark.parametrize("selector", [
    "description", "labels", "labels.[1]", "external_references", "external_references.[0]",
    "external_references.[0].source_name", "extensions.x-acme-ext.score.[0]", "name", "granular_markings",
])
def test_present_selectors_resolve(selector: str) -> None:
    assert selector_findings(_marked(selector)) == []


@pytest.mark.parametrize("selector", [
    "summary",  # absent property
    "labels.[2]",  # index out of range
    "labels.[01]", "labels.[-1]", "labels.[x]", "labels.1",  # not an index step
    "description.[0]",  # index into a string
    "name.value",  # property of a string
    "external_references.[0].url",  # absent nested property
    "external_references[0].source_name",  # index glued to its property: not the §7.2.3.1 syntax
    "",  # empty selector
    "description.",  # empty step
    "labels.[" + "9" * 5000 + "]",  # an index too long to be one
])
def test_unresolvable_selectors_are_findings(selector: str) -> None:
    findings = selector_findings(_marked(selector))
    assert [(f.path, f.rule) for f in findings] == [("granular_markings[0].selectors[0]", "selector")]
    assert repr(selector)[:40] in findings[0].message


def test_every_bad_selector_of_every_marking_is_reported() -> None:
    obj = _marked("description", "nope")
    obj["granular_markings"].append({"lang": "fr", "selectors": ["labels.[5]", "name"]})
    assert [f.path for f in selector_findings(obj)] == ["granular_markings[0].selectors[1]",
                                                        "granular_markings[1].selectors[0]"]


@pytest.mark.parametrize("markings", [None, "description", [None], [{"selectors": "description"}],
                                      [{"selectors": [3]}]])
def test_wrong_json_types_are_left_to_the_type_checks(markings: Any) -> None:
    assert selector_findings(_marked(granular_markings=markings)) == []

