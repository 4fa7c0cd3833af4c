"""Object paths of STIX patterns (STIX 2.1 §9.4), unit tests of ``app.stix.patterns.pattern_path_findings``: the
object type must be a STIX type name and the first property a property name, of that type when it is a STIX
cyber-observable type (or custom, ``x_``). Grammatically valid patterns only: the grammar is ``pattern_error``'s."""

import pytest

from app.stix.patterns import pattern_error, pattern_path_findings

SHA256 = "0e461b6458cf90aec94ad432af9a96aad8d0e54e7f6f131d414776a112e31766"


@pytest.mark.parametrize("pattern", [
    "[file:name = 'a']",
    f"[file:hashes.'SHA-256' = '{SHA256}']",
    "[file:parent_directory_ref.path = '/tmp']",
    "[network-traffic:extensions.'http-request-ext'.request_method = 'get']",
    "[email-message:body_multipart[*].body_raw_ref.name = 'a.exe']",
    "[process:id = 'process--4b9b7a8e-6d7f-4c3a-9b1e-2f5d8c7a6e10']",
    "[file:x_acme_score > 3]",  # custom property
    "[x-acme-widget:serial = 'a']",  # custom object type: its properties are its own
    "[ai-prompt:value = 'ignore previous instructions']",  # an extension-defined type
    "[url:value = 'a'] AND ([ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [mac-addr:value = '00:00:5e:00:53:01'])",
    "[windows-registry-key:values[*].name = 'Run'] WITHIN 5 SECONDS",
])
def test_valid_paths(pattern: str) -> None:
    assert pattern_error(pattern) is None
    assert pattern_path_findings(pattern) == []


@pytest.mark.parametrize(("pattern", "words"), [
    ("[File:Name = 'a']", "'File' is not an object type"),
    ("[file_object:name = 'a']", "'file_object' is not an object type"),
    ("[ip:value = 'a']", "'ip' is not an object type"),  # too short
    ("[file:Name = 'a']", "'Name' is not a property name"),
    ("[file:nm = 'a']", "'nm' is not a property name"),
    ("[file:nmae = 'a']", "file has no property 'nmae'"),
    ("[ipv4-addr:address = '1.2.3.4']", "ipv4-addr has no property 'address'"),
    ("[url:value = 'a'] AND [url:href = 'b']", "url has no property 'href'"),
    ("[url:value = 'a' OR EXISTS domain-name:resolves_to]", "domain-name has no property 'resolves_to'"),
])
def test_invalid_paths(pattern: str, words: str) -> None:
    assert pattern_error(pattern) is None  # the grammar admits them all
    findings = pattern_path_findings(pattern)
    assert len(findings) == 1 and findings[0].path == "pattern" and findings[0].rule == "pattern-path"
    assert words in findings[0].message


def test_every_bad_path_is_reported() -> None:
    assert len(pattern_path_findings("[File:name = 'a' AND file:Nope = 'b'] OR [url:x = 1]")) == 3


def test_ungrammatical_patterns_are_left_to_pattern_error() -> None:
    assert pattern_error("[File:Name = ]") is not None
    assert pattern_path_findings("[File:Name = ]") == []
