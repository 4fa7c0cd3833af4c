"""Denial of service through validation (issue 12; docs/threat-model/validation-dos.md): quadratic AI-extension
checks, deep pattern nesting, unbounded caches, unbounded pattern cost. Pure-function tests count work instead of
timing it; one HTTP test per class goes through a real server."""

import dataclasses
import sys
import tracemalloc
import uuid
from typing import Any

import pytest

from app.stix import ai
from app.stix.ai import AI_THREAT_EXTENSION_ID as THREAT
from app.stix.ai import check_ai
from app.stix.findings import Finding
from app.stix.patterns import _ResultCache, pattern_error
from app.stix.schemacache import Validator, canonical, unique
from app.stix.timestamps import parse_timestamp
from tests.support.server import TAXII, Participant
from tests.support.stix import envelope, indicator


def _threat(**context: Any) -> dict[str, Any]:
    return indicator(extensions={THREAT: {"extension_type": "property-extension", "threat_category": "jailbreak",
                                          "ai_system_kinds": ["llm"], **context}})


def _post(lab: Participant, collection: str, *objects: dict[str, Any]) -> dict[str, Any]:
    response = lab.client.post(f"collections/{collection}/objects/", json=envelope(*objects),
                               headers={"Content-Type": TAXII})
    assert response.status_code == 202, response.text[:300]
    return response.json()


def _failure(status: dict[str, Any], stix_id: str) -> str:
    return next(f["message"] for f in status["failures"] if f["id"] == stix_id)


# ------------------------------------------------------------------ 10: quadratic AI-extension validation


class _CountingStr(str):
    """A string that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        _CountingStr.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_unique_items_on_a_mixed_type_list_compares_linearly() -> None:
    items: list[Any] = [_CountingStr(f"m{i}") if i % 2 else i for i in range(2000)]
    _CountingStr.comparisons = 0
    errors = list(Validator({"uniqueItems": True}).iter_errors(items))
    assert errors == []
    assert _CountingStr.comparisons < 2 * len(items)  # jsonschema's pairwise fallback made ~1,000,000


def test_unique_follows_json_schema_equality() -> None:
    assert not unique([1, 1.0])
    assert unique([True, 1]) and unique([False, 0, None, ""])
    assert not unique([{"a": 1, "b": [2]}, {"b": [2], "a": 1}])
    assert unique([[1, 2], [2, 1], "x", {"x": 1}])
    assert canonical({"a": [1]}) == canonical({"a": [1.0]})


@dataclasses.dataclass(frozen=True)
class _CountingFinding(Finding):
    compared = 0

    def __eq__(self, other: object) -> bool:
        _CountingFinding.compared += 1
        return super().__eq__(other)

    __hash__ = Finding.__hash__


def test_findings_are_deduplicated_in_linear_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ai, "Finding", _CountingFinding)
    obj = _threat(affected_model_families=[f"Bad Family {i}" for i in range(100)],
                  atlas_technique_ids=[f"T{i}" for i in range(100)], atlas_version="5.6.0")
    _CountingFinding.compared = 0
    findings = check_ai(obj)
    assert len(findings) == 200
    assert _CountingFinding.compared < 2 * len(findings)  # list membership made ~20,000


def test_long_lists_are_refused_by_their_schema_bound_without_one_finding_per_item() -> None:
    findings = check_ai(_threat(affected_model_families=[i if i % 2 else f"m{i}" for i in range(20_000)]))
    assert [(f.rule, f.message) for f in findings] == [("length", "must list at most 100 values")]


def test_unknown_properties_are_named_up_to_a_bound_then_counted() -> None:
    findings = check_ai(_threat(**{f"x_unknown_{i}": 1 for i in range(5000)}))
    assert len(findings) == 21
    assert findings[-1].message.startswith("has 4980 more properties that are not properties of")


def test_a_long_mixed_type_list_fails_alone_over_http(lab: Participant, shared_collection: str) -> None:
    long_list = _threat(affected_model_families=[i if i % 2 else f"m{i}" for i in range(20_000)])
    good = _threat(affected_model_families=["llama-3"])
    status = _post(lab, shared_collection, long_list, good)
    assert status["success_count"] == 1
    assert "affected_model_families: must list at most 100 values" in _failure(status, long_list["id"])


# ------------------------------------------------------------------ 12: recursion in pattern nesting


@pytest.mark.parametrize("depth", [33, 300, 5000])
def test_deeply_nested_patterns_fail_with_a_message(depth: int) -> None:
    error = pattern_error("(" * depth + "[ipv4-addr:value = '1.2.3.4']" + ")" * depth)
    assert error is not None and "nests deeper than 32 levels" in error


def test_nesting_at_the_bound_is_accepted() -> None:
    assert pattern_error("(" * 31 + "[ipv4-addr:value = '1.2.3.4']" + ")" * 31) is None


def test_a_deeply_nested_pattern_fails_alone_over_http(lab: Participant, shared_collection: str) -> None:
    deep = indicator(pattern="(" * 2000 + "[ipv4-addr:value = '1.2.3.4']" + ")" * 2000)
    good = indicator()
    status = _post(lab, shared_collection, deep, good)  # the original parser raised RecursionError: HTTP 500
    assert status["success_count"] == 1
    assert "nests deeper than 32 levels" in _failure(status, deep["id"])


# ------------------------------------------------------------------ 13: caches bounded by bytes


def _retained_bytes(call: Any, make: Any, count: int) -> int:
    """Bytes still allocated after ``call`` ran on ``count`` values made (and dropped) while memory is traced."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(count):
        call(make(i))
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before


_BODY = " OR ".join(["ipv4-addr:value = '10.0.0.1'"] * 1500)  # ~48 KB: valid, under the length bound


def test_long_patterns_are_not_kept_in_the_cache() -> None:
    retained = _retained_bytes(pattern_error, lambda i: f"[ipv4-addr:value = '{uuid.uuid4()}' OR {_BODY}]", 20)
    assert retained < 300_000  # the original kept 20 x 48 KB


def test_the_pattern_cache_is_bounded_in_bytes() -> None:
    cache = _ResultCache(longest=1000, budget=20_000)
    for i in range(200):
        cache.put(f"[a:b = '{i:0900d}']", (None, ()))
    held = sum(sys.getsizeof(key) for key in cache.entries)
    assert held <= 20_000 and cache.size == held
    assert cache.get(f"[a:b = '{199:0900d}']") == (None, ()) and cache.get(f"[a:b = '{0:0900d}']") is None


def test_long_timestamps_are_not_kept_in_the_cache() -> None:
    retained = _retained_bytes(parse_timestamp, lambda i: f"2026-01-01T00:00:00.{i:06d}{'0' * 100_000}Z", 40)
    assert retained < 500_000  # the original kept 40 x 100 KB


def test_a_megabyte_pattern_fails_alone_before_any_parsing_over_http(lab: Participant,
                                                                    shared_collection: str) -> None:
    """Refused on its length, it is neither tokenized (~100 bytes per character) nor cached; the server's
    memory after 100 of them is in bench/validation_resources.py (RSS is too noisy for a test)."""
    body = " OR ".join(["ipv4-addr:value = '10.0.0.1'"] * 30_000)  # ~940 KB
    huge, good = indicator(pattern=f"[a:b = 'x' OR {body} OR ]"), indicator()
    status = _post(lab, shared_collection, huge, good)
    assert status["success_count"] == 1
    assert "this exchange accepts at most 65536" in _failure(status, huge["id"])


# ------------------------------------------------------------------ 15: per-pattern cost


def test_patterns_above_the_length_bound_are_refused_before_parsing() -> None:
    error = pattern_error("[ipv4-addr:value = '" + "1" * 70_000 + "']")
    assert error is not None and "accepts at most 65536" in error


@pytest.mark.parametrize(("pattern", "message"), [
    ("[" + " OR ".join(["ipv4-addr:value = '1.2.3.4'"] * 501) + "]", "more than 500 comparison expressions"),
    (" OR ".join(["[ipv4-addr:value = '1.2.3.4']"] * 251), "more than 250 observation expressions"),
    (" OR ".join(["([a:b = 1] WITHIN 5 SECONDS) REPEATS 2 TIMES"] * 126), "more than 250 qualifier expressions"),
])
def test_patterns_above_the_count_bounds_are_refused(pattern: str, message: str) -> None:
    error = pattern_error(pattern)
    assert error is not None and message in error


def test_patterns_at_the_count_bounds_are_accepted() -> None:
    assert pattern_error("[" + " OR ".join(["ipv4-addr:value = '1.2.3.4'"] * 250) + "] AND " + " OR ".join(
        ["[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS"] * 249)) is None


def test_a_costly_pattern_fails_alone_over_http(lab: Participant, shared_collection: str) -> None:
    costly = indicator(pattern="[" + " OR ".join(["ipv4-addr:value = '1.2.3.4'"] * 600) + "]")
    good = indicator()
    status = _post(lab, shared_collection, costly, good)
    assert status["success_count"] == 1
    assert "more than 500 comparison expressions" in _failure(status, costly["id"])
