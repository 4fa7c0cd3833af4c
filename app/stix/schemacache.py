"""JSON Schemas compiled once: a jsonschema validator for the findings, and a fast acceptance test built from
the same schema for the common case that an object is valid.

The fast test is conservative: ``True`` means jsonschema would find no error; ``False`` means "ask jsonschema",
which then gives the authoritative answer and the messages. It knows the keywords the exchange's schemas use;
a schema with any other asserting keyword compiles to a test that always answers ``False``.

Patterns follow ECMA-262 as JSON Schema specifies: ``$`` ends the string (Python's ``$`` also matches before
a final newline) and ``\\d``/``\\w`` are ASCII. The jsonschema validator is extended to agree.

``uniqueItems`` is checked in linear time by hashing a canonical form of each item, in both the fast test and the
validator: jsonschema's own check falls back to comparing every pair when the items cannot be sorted (a list of
mixed types), which took 17 s for 8,000 items (docs/threat-model/validation-dos.md)."""

import re
from collections.abc import Callable, Hashable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

Test = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples",
                          "format", "deprecated", "readOnly", "writeOnly"})
_TYPES = {"string": "str", "array": "list", "object": "dict", "boolean": "bool", "null": "None"}
_SIZES = {"minLength": "str", "maxLength": "str", "minItems": "list", "maxItems": "list", "minProperties": "dict",
          "maxProperties": "dict"}


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


class _Unsupported(Exception):
    pass


def _trivial(schema: Any) -> bool:
    return schema is True or (isinstance(schema, dict) and all(k in _ANNOTATIONS for k in schema))


class _Compiler:
    """Writes one Python function per schema (and per ``$ref``/``not``/``if`` target): straight-line checks
    that ``return False`` at the first doubt. ``exact`` code must also be right when it says False."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.source: list[str] = []
        self.names: dict[str, Any] = {"_MISSING": object(), "_unique": unique}
        self.functions: dict[tuple[int, bool], str | None] = {}
        self.count = 0

    def name(self, prefix: str, value: Any = None) -> str:
        self.count += 1
        name = f"{prefix}{self.count}"
        if value is not None:
            self.names[name] = value
        return name

    def function(self, schema: Any, exact: bool) -> str:
        key = (id(schema), exact)
        if key in self.functions:
            done = self.functions[key]
            if done is None:
                raise _Unsupported("recursive schema")
            return done
        self.functions[key] = None
        body: list[str] = []
        self.emit(schema, "v", "    ", exact, body)
        name = self.name("f")
        self.source += [f"def {name}(v):", *body, "    return True", ""]
        self.functions[key] = name
        return name

    def emit(self, schema: Any, v: str, pad: str, exact: bool, out: list[str]) -> None:
        if _trivial(schema):
            return
        if schema is False:
            out.append(f"{pad}return False")
            return
        if not isinstance(schema, dict):
            raise _Unsupported(repr(schema))
        inner = pad + "    "
        for keyword, arg in schema.items():
            if keyword in _ANNOTATIONS or keyword in ("then", "else"):
                continue
            if keyword == "type":
                kinds = [arg] if isinstance(arg, str) else arg
                if not all(k in _TYPES for k in kinds):
                    raise _Unsupported(f"type {arg}")
                test = " or ".join(f"{v} is None" if k == "null" else f"isinstance({v}, {_TYPES[k]})" for k in kinds)
                out += [f"{pad}if not ({test}):", f"{inner}return False"]
            elif keyword in ("enum", "const"):
                values = arg if keyword == "enum" else [arg]
                if not all(isinstance(a, str) for a in values):
                    raise _Unsupported(keyword)
                allowed = self.name("c", frozenset(values))
                out += [f"{pad}if not (isinstance({v}, str) and {v} in {allowed}):", f"{inner}return False"]
            elif keyword == "pattern":
                search = self.name("p", ecma_regex(arg).search)
                out += [f"{pad}if isinstance({v}, str) and {search}({v}) is None:", f"{inner}return False"]
            elif keyword in _SIZES:
                kind = _SIZES[keyword]
                op = "<" if keyword.startswith("min") else ">"
                out += [f"{pad}if isinstance({v}, {kind}) and len({v}) {op} {int(arg)}:", f"{inner}return False"]
            elif keyword == "uniqueItems":
                if arg:
                    out += [f"{pad}if isinstance({v}, list) and not _unique({v}):", f"{inner}return False"]
            elif keyword == "required":
                if arg:
                    missing = " or ".join(f"{k!r} not in {v}" for k in arg)
                    out += [f"{pad}if isinstance({v}, dict) and ({missing}):", f"{inner}return False"]
            elif keyword == "dependentRequired":
                for trigger, needed in arg.items():
                    if needed:
                        missing = " or ".join(f"{k!r} not in {v}" for k in needed)
                        out += [f"{pad}if isinstance({v}, dict) and {trigger!r} in {v} and ({missing}):",
                                f"{inner}return False"]
            elif keyword == "properties":
                out.append(f"{pad}if isinstance({v}, dict):")
                for prop, sub in arg.items():
                    if _trivial(sub):
                        continue
                    value = self.name("x")
                    out += [f"{inner}{value} = {v}.get({prop!r}, _MISSING)", f"{inner}if {value} is not _MISSING:"]
                    self.emit(sub, value, inner + "    ", exact, out)
                    out.append(f"{inner}    pass")
                out.append(f"{inner}pass")
            elif keyword == "patternProperties":
                if not all(_trivial(s) for s in arg.values()):
                    raise _Unsupported(keyword)
            elif keyword == "additionalProperties":
                if _trivial(arg):
                    continue
                known = self.name("k", frozenset(schema.get("properties", {})))
                key, value = self.name("x"), self.name("x")
                searches = [self.name("p", re.compile(p).search) for p in schema.get("patternProperties", {})]
                patterned = "".join(f" and {s}({key}) is None" for s in searches)
                out += [f"{pad}if isinstance({v}, dict):", f"{inner}for {key}, {value} in {v}.items():",
                        f"{inner}    if {key} not in {known}{patterned}:"]
                self.emit(arg, value, inner + "        ", exact, out)
                out.append(f"{inner}        pass")
            elif keyword == "items":
                item = self.name("x")
                out += [f"{pad}if isinstance({v}, list):", f"{inner}for {item} in {v}:"]
                self.emit(arg, item, inner + "    ", exact, out)
                out.append(f"{inner}    pass")
            elif keyword == "$ref":
                if not isinstance(arg, str) or not arg.startswith("#/"):
                    raise _Unsupported(f"$ref {arg}")
                target: Any = self.root
                for part in arg[2:].split("/"):
                    target = target[part]
                out += [f"{pad}if not {self.function(target, exact)}({v}):", f"{inner}return False"]
            elif keyword == "allOf":
                for sub in arg:
                    self.emit(sub, v, pad, exact, out)
            elif keyword == "not":
                out += [f"{pad}if {self.function(arg, True)}({v}):", f"{inner}return False"]
            elif keyword == "if":
                out.append(f"{pad}if {self.function(arg, True)}({v}):")
                self.emit(schema.get("then", True), v, inner, exact, out)
                out += [f"{inner}pass", f"{pad}else:"]
                self.emit(schema.get("else", True), v, inner, exact, out)
                out.append(f"{inner}pass")
            else:
                raise _Unsupported(keyword)


def compile_schema(root: dict[str, Any]) -> Test:
    """The fast acceptance test for ``root`` (local ``#/…`` references only)."""
    compiler = _Compiler(root)
    try:
        entry = compiler.function(root, False)
    except (_Unsupported, KeyError, TypeError):
        return lambda _: False
    namespace = dict(compiler.names)
    exec("\n".join(compiler.source), namespace)  # our own generated code over the shipped schema
    test: Test = namespace[entry]
    return test
