"""JSON Schemas compiled once: a jsonschema validator for the findings, and a fast acceptance test for the
common case that an object is valid.

The fast test is jsonschema-rs (compiled Rust; issue 15 replaced a schema-to-Python compiler whose generated
source ran through ``exec``). ``True`` means jsonschema finds no error; ``False`` means "ask jsonschema", which
then gives the authoritative answer and the messages. On tests/data's 1,238 checks of AI-extension objects
(5,819 objects, one core, best of 5 in CPU time): jsonschema-rs 2.5 µs a check, the generated Python 7.7 µs,
fastjsonschema 11.6 µs, jsonschema itself 119 µs; all four agree on every verdict.

Patterns follow ECMA-262 as JSON Schema specifies: ``$`` ends the string (Python's ``$`` also matches before
a final newline) and ``\\d``/``\\w`` are ASCII. The jsonschema validator is extended to agree. ECMA's ``\\s`` also
matches Unicode spaces, Python's ASCII one does not: jsonschema-rs (ECMA) refuses ``[^\\s]`` on a no-break space
that jsonschema accepts, so such a value only takes the slow path (the shipped schemas use ``\\s`` only so).

``uniqueItems`` is checked in linear time by hashing a canonical form of each item, in the validator too:
jsonschema's own check falls back to comparing every pair when the items cannot be sorted (a list of
mixed types), which took 17 s for 8,000 items (docs/threat-model/validation-dos.md); jsonschema-rs hashes."""

import re
from collections.abc import Callable, Hashable
from functools import cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, ValidationError, validators

Test = Callable[[Any], bool]


@cache
def ecma_regex(pattern: str) -> re.Pattern[str]:
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern, re.ASCII)


def canonical(value: Any) -> Hashable:
    """A hashable form of a JSON value under JSON Schema equality: 1 equals 1.0, true does not equal 1, and
    objects compare by their members whatever their order. Recursive: callers bound the nesting depth first
    (app.stix.checks.check_object)."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list):
        return ("array", tuple(canonical(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, canonical(item)) for key, item in value.items()))
    return ("other", id(value))  # not JSON: equal only to itself


def unique(items: list[Any]) -> bool:
    """Whether no two items of ``items`` are equal (JSON Schema ``uniqueItems``), in linear time."""
    seen: set[Hashable] = set()
    for item in items:
        key = canonical(item)
        if key in seen:
            return False
        seen.add(key)
    return True


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    if isinstance(instance, str) and not ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _unique_items(validator: Any, wanted: bool, instance: Any, schema: Any) -> Any:
    if wanted and isinstance(instance, list) and not unique(instance):
        yield ValidationError(f"{instance!r} has non-unique elements")


def _within_bounds(keyword: Callable[..., Any]) -> Callable[..., Any]:
    """``keyword`` checked only on lists within their ``maxItems`` and dictionaries within their
    ``maxProperties``: beyond, the size is the error, and checking a megabyte of members one by one would cost
    seconds (3 s for 140,000 hash entries) for findings nobody reads."""
    def check(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        if isinstance(instance, list | dict):
            bound = schema.get("maxItems" if isinstance(instance, list) else "maxProperties", len(instance))
            if len(instance) > bound:
                return
        yield from keyword(validator, value, instance, schema)
    return check


_KEYWORDS = Draft202012Validator.VALIDATORS
Validator = validators.extend(Draft202012Validator, {
    "pattern": _pattern,
    "uniqueItems": _within_bounds(_unique_items),
    **{name: _within_bounds(_KEYWORDS[name])
       for name in ("items", "properties", "patternProperties", "additionalProperties")},
})


def compile_schema(root: dict[str, Any]) -> Test:
    """The fast acceptance test for ``root``: jsonschema-rs's ``is_valid``, or False for a value it cannot read
    (not JSON: a non-string key, bytes), which jsonschema then judges."""
    validator = jsonschema_rs.validator_for(root)

    def accepts(instance: Any) -> bool:
        try:
            return validator.is_valid(instance)
        except ValueError:
            return False

    return accepts
