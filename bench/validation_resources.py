"""What one hostile object costs the exchange (docs/threat-model/validation-dos.md): the time to validate and to
POST a 1 MiB AI-extension object, the server's resident memory after 100 rejected 1 MiB patterns, and the worst
seconds per MiB of the hostile inputs we could craft for each validator.

    python -m bench.validation_resources [--budget SECONDS] [--skip-http]

Run it from another checkout to measure that code (e.g. the original, quadratic one:
``git worktree add /tmp/orig c550000 && cp bench/validation_resources.py /tmp/orig/bench/ &&
cd /tmp/orig && PYTHONPATH=/tmp/orig python -m bench.validation_resources``). Code whose cost grows faster than
the budget allows is measured on doubling sizes until one step exceeds ``--budget`` seconds, and the 1 MiB figure
is extrapolated with the growth exponent of the last two steps (marked "extrapolated")."""

import argparse
import json
import math
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from app.stix.ai import AI_OBSERVABLES_EXTENSION_ID, AI_THREAT_EXTENSION_ID, check_ai, index_terms
from app.stix.checks import ObjectRejected, check_object
from app.stix.validate import validate
from bench.targets import AisxTarget

MIB = 2**20
OBJECT_BYTES = MIB - 4096  # under max_object_bytes (1 MiB) with room for the envelope
_TS = "2026-01-01T00:00:00.000Z"
_TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"

Shape = Callable[[int], dict[str, Any]]  # the object of about n bytes


# ------------------------------------------------------------------ shapes


def _indicator(**extra: Any) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}", "created": _TS,
            "modified": _TS, "pattern": "[url:value = 'https://evil.example/']", "pattern_type": "stix",
            "valid_from": _TS, "object_marking_refs": [_TLP_GREEN], **extra}


def _threat(**context: Any) -> dict[str, Any]:
    return _indicator(extensions={AI_THREAT_EXTENSION_ID: {
        "extension_type": "property-extension", "threat_category": "jailbreak", "ai_system_kinds": ["llm"],
        **context}})


def _fill(n: int, item: Callable[[int], Any], build: Callable[[list[Any]], dict[str, Any]]) -> dict[str, Any]:
    """``build`` over a list of items, as many as make the object about ``n`` bytes."""
    count = 100
    for _ in range(3):  # items grow with their index: rescale twice
        size = len(orjson.dumps(build([item(i) for i in range(count)])))
        count = max(1, int(count * n / size))
    return build([item(i) for i in range(count)])


def mixed_list(n: int) -> dict[str, Any]:
    """The issue's case: a long list of mixed types under uniqueItems (jsonschema compares every pair)."""
    return _fill(n, lambda i: i if i % 2 else f"m{i}", lambda items: _threat(affected_model_families=items))


def unknown_properties(n: int) -> dict[str, Any]:
    """The extension dictionary with thousands of unknown properties (one finding, with a suggestion, each)."""
    return _fill(n, lambda i: f"threat_categori_{i}", lambda names: _threat(**dict.fromkeys(names, 1)))


def prompt_unknown_properties(n: int) -> dict[str, Any]:
    def build(names: list[str]) -> dict[str, Any]:
        return {"type": "ai-prompt", "spec_version": "2.1", "id": f"ai-prompt--{uuid.uuid4()}", "hashes": {},
                "value_disclosure": "withheld", **dict.fromkeys(names, 1),
                "extensions": {AI_OBSERVABLES_EXTENSION_ID: {"extension_type": "new-sco"}}}
    return _fill(n, lambda i: f"valu_{i}", build)


def prompt_hashes(n: int) -> dict[str, Any]:
    obj = prompt_unknown_properties(0)
    obj["hashes"] = _fill(n, lambda i: i, lambda items: {f"H{i}": i for i in items})
    return obj


def long_uri(n: int) -> dict[str, Any]:
    """A megabyte string under a regex-checked property (hub_uri), failing only at its end."""
    return {"type": "file", "spec_version": "2.1", "id": f"file--{uuid.uuid4()}", "hashes": {"SHA-256": "a" * 64},
            "extensions": {AI_OBSERVABLES_EXTENSION_ID: {"extension_type": "property-extension",
                                                          "model_format": "gguf",
                                                          "hub_uri": "a" * (n - 300) + ": x"}}}


def nested_items(n: int) -> dict[str, Any]:
    """Few, large, deeply nested list items (within maxItems): uniqueItems hashes each one whole."""
    def deep(i: int) -> Any:
        value: Any = [f"x{i}-{j}" for j in range(max(1, n // 100 // 12))]
        for _ in range(26):
            value = [value]
        return value
    return _threat(affected_model_families=[deep(i) for i in range(100)])


def labels(n: int) -> dict[str, Any]:
    """STIX validation (app.stix.validate): a long list of invalid labels, one finding each."""
    return _fill(n, lambda i: i, lambda items: _indicator(labels=items))


# Patterns are sized to PATTERN_CHARS (inside the 64 KiB bound): an envelope is then full of such objects, and the
# seconds per MiB of object is the figure for a whole envelope of them. Each carries a fresh id, so no cache helps.
PATTERN_CHARS = 60_000


def _pattern_object(pattern: str) -> dict[str, Any]:
    return _indicator(pattern=pattern)


def _chain(first: str, part: str, joint: str, n: int, last: str = "") -> str:
    chars = min(n - 400, PATTERN_CHARS) - len(first) - len(last)
    return first + joint.join([part] * max(1, chars // (len(part) + len(joint)))) + last


def pattern_or_chain(n: int) -> dict[str, Any]:
    """SHA-256 comparisons (the parser refuses more than 500)."""
    return _pattern_object(_chain(f"[file:name = '{uuid.uuid4()}' OR ", "file:hashes.'SHA-256' = '" + "a" * 64 + "'",
                                  " OR ", n, "]"))


def pattern_set_literal(n: int) -> dict[str, Any]:
    """One IN comparison with a set of thousands of members (not bounded by the comparison count)."""
    return _pattern_object(_chain(f"[file:name = '{uuid.uuid4()}' AND file:size IN (", "1", ",", n, ")]"))


def pattern_qualifiers(n: int) -> dict[str, Any]:
    """Observations with two qualifiers each (the parser refuses more than 250 of either)."""
    return _pattern_object(_chain(f"[file:name = '{uuid.uuid4()}'] FOLLOWEDBY ",
                                  "[ipv4-addr:value = '1.2.3.4'] REPEATS 5 TIMES WITHIN 5 SECONDS", " FOLLOWEDBY ", n))


def pattern_nesting(n: int) -> dict[str, Any]:
    """Deep parentheses: a RecursionError (and an HTTP 500) in the original parser."""
    depth = max(1, (n - 400) // 2)
    return _pattern_object("(" * depth + "[a:b = 1]" + ")" * depth)


def pattern_matches(n: int) -> dict[str, Any]:
    """A catastrophic-backtracking regex as a MATCHES operand: the exchange never compiles it."""
    return _pattern_object(_chain(f"[file:name MATCHES '^(a+)+$' AND file:name MATCHES '{uuid.uuid4()}",
                                  "(a|aa)*", "", n, "b']"))


def pattern_long(n: int) -> dict[str, Any]:
    """A megabyte pattern, invalid only at its very end: the memory case (tokens, cache keys)."""
    return _pattern_object(_long_pattern(n, 0))


def _long_pattern(n: int, serial: int) -> str:
    comparison = "ipv4-addr:value = '10.0.0.1'"
    count = max(1, (n - 500) // (len(comparison) + 4))
    return f"[ipv4-addr:value = '{serial}' OR " + " OR ".join([comparison] * count) + " OR ]"


SHAPES: dict[str, Shape] = {
    "ai: mixed-type list (uniqueItems)": mixed_list,
    "ai: unknown extension properties": unknown_properties,
    "ai: unknown ai-prompt properties": prompt_unknown_properties,
    "ai: ai-prompt hashes entries": prompt_hashes,
    "ai: 1 MiB hub_uri (regex)": long_uri,
    "ai: nested list items (uniqueItems)": nested_items,
    "stix: invalid labels list": labels,
    "pattern: OR chain of SHA-256": pattern_or_chain,
    "pattern: IN set literal": pattern_set_literal,
    "pattern: FOLLOWEDBY with qualifiers": pattern_qualifiers,
    "pattern: nested parentheses": pattern_nesting,
    "pattern: MATCHES with (a|aa)* regex": pattern_matches,
    "pattern: 1 MiB pattern": pattern_long,
}


# ------------------------------------------------------------------ in-process


def check_all(obj: dict[str, Any]) -> str:
    """The checks the ingest pipeline runs on one object, and the outcome in a few words."""
    try:
        check_object(obj)
        findings = check_ai(obj) + validate(obj)
        index_terms(obj)
    except ObjectRejected as exc:
        return f"rejected: {str(exc)[:60]}"
    except RecursionError:
        return "RecursionError"
    return f"{len(findings)} findings: {str(findings[0])[:60]}" if findings else "valid"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def cost_at_size(shape: Shape, size: int, budget: float, run: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Seconds ``run`` takes on ``shape`` at ``size`` bytes: measured, or extrapolated from doubling sizes when
    a step exceeds ``budget``."""
    n, points = 2048, []
    while True:
        n = min(n, size)
        obj = shape(n)
        actual = len(orjson.dumps(obj))
        seconds, outcome = _timed(lambda obj=obj: run(obj))  # type: ignore[misc]
        points.append((actual, seconds))
        if n == size:
            return {"bytes": actual, "seconds": round(seconds, 4), "outcome": outcome, "extrapolated": False}
        if seconds > budget:
            (b1, t1), (b2, t2) = points[-2], points[-1]
            exponent = math.log(max(t2, 1e-6) / max(t1, 1e-6)) / math.log(b2 / b1)
            return {"bytes": size, "seconds": round(t2 * (size / b2) ** exponent, 1), "outcome": outcome,
                    "extrapolated": True, "measured_up_to": (b2, round(t2, 2)), "exponent": round(exponent, 2)}
        n *= 2


# ------------------------------------------------------------------ over HTTP


def _post(target: AisxTarget, objects: list[dict[str, Any]]) -> dict[str, Any]:
    reader = target.reader("writer")
    with reader.client as client:
        response = client.post(reader.collection_url + "objects/", content=orjson.dumps({"objects": objects}))
    return {"http": response.status_code, "failures": response.json().get("failure_count")
            if response.status_code == 202 else response.text[:80]}


def http_figures(budget: float) -> dict[str, Any]:
    """POST time of the 1 MiB AI-extension object, and RSS after 100 rejected 1 MiB patterns."""
    with tempfile.TemporaryDirectory(prefix="aisx-valres-") as tmp:
        target = AisxTarget(Path(tmp), None)
        running = target.start()
        try:
            post = cost_at_size(mixed_list, OBJECT_BYTES, budget, lambda obj: _post(target, [obj]))
            before = running.rss_mb()
            posts = [_timed(lambda i=i: _post(target, [_pattern_object(_long_pattern(OBJECT_BYTES, i))]))
                     for i in range(100)]
            after = running.rss_mb()
        finally:
            target.stop()
            target.drop()
    return {"post_1mib_ai_object": post,
            "rss_mb_before_patterns": round(before, 1), "rss_mb_after_100_rejected_1mib_patterns": round(after, 1),
            "rss_growth_mb": round(after - before, 1),
            "rejected_pattern_post_seconds_median": round(sorted(t for t, _ in posts)[50], 3),
            "rejected_pattern_outcome": posts[-1][1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=20.0, help="seconds one measurement step may take")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {"validate_per_mib": {}}
    for name, shape in SHAPES.items():
        cost = cost_at_size(shape, OBJECT_BYTES, args.budget, check_all)
        cost["seconds_per_mib"] = round(cost["seconds"] * MIB / cost["bytes"], 3)
        report["validate_per_mib"][name] = cost
        print(f"{name:40} {cost['seconds_per_mib']:>10} s/MiB  {cost['outcome']}"
              + ("  (extrapolated)" if cost["extrapolated"] else ""), flush=True)
    if not args.skip_http:
        report["http"] = http_figures(args.budget)
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
