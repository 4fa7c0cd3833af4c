"""A STIX 2.1 patterning-language parser (STIX 2.1 §9), written for speed: the reference parser
(stix2-patterns, ANTLR) checks about 650 patterns/s on this machine class, this one tens of thousands.
It checks the grammar (comments included), the digest length of hashes compared with =, !=, <, >, <=, >= or IN,
and that no qualifier type is given twice to one observation expression, and answers with a message that points
at the offending position. tests/test_patterns_property.py cross-checks it against stix2-patterns and lists the
deliberate differences (REPEATS 0 TIMES is refused; IN on hashes checks each member; LIKE and MATCHES on hashes
are searches, not digests).

A pattern's cost is bounded before any work that grows with it (docs/threat-model/validation-dos.md): its length,
its nesting depth, and how many comparison expressions, observation expressions and qualifiers it holds. MATCHES
operands are regular expressions for the consumer; the exchange never compiles them."""

import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable

from app.stix.findings import Finding
from app.stix.model import DEFINED, SCO_TYPES

# Per-pattern bounds, rejected above with a per-object failure. Measured on this machine class (bench/
# validation_resources.py): this parser checks about 2-3 MiB/s of pattern, so a pattern at MAX_PATTERN_LENGTH costs
# at most ~30 ms; the longest pattern in the shared sample data is 238 characters. The reference parser
# (stix2-patterns, which consumers run) raises RecursionError from 977 comparison or observation expressions and
# from 242 nested parentheses on, so the exchange refuses well below that: it must not relay what readers cannot
# parse. Our own parser recurses about four frames per parenthesis.
MAX_PATTERN_LENGTH = 64 * 1024  # characters
MAX_PATTERN_DEPTH = 32  # nested '(' and '['
MAX_COMPARISONS = 500  # comparison expressions (EXISTS included)
MAX_OBSERVATIONS = 250  # observation expressions ('[…]')
MAX_QUALIFIERS = 250  # WITHIN, REPEATS and START/STOP, summed over the pattern

_TOKEN = re.compile(r"""
    (?P<ws>\s+|/\*.*?\*/|//[^\r\n]*)
  | (?P<timestamp>t'\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])
                  T(?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)(?:\.\d+)?Z')
  | (?P<binary>b'(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)')
  | (?P<hex>h'(?:[0-9a-fA-F]{2})*')
  | (?P<string>'(?:\\['\\]|[^'\\])*')
  | (?P<float>[+-]?\d*\.\d+)
  | (?P<int>[+-]?(?:0|[1-9]\d*))
  | (?P<word>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<op><=|>=|<>|!=|==|=|<|>)
  | (?P<punct>[\[\]():.,*])
""", re.VERBOSE | re.DOTALL)

_KEYWORDS = {"AND", "OR", "NOT", "FOLLOWEDBY", "LIKE", "MATCHES", "ISSUPERSET", "ISSUBSET", "EXISTS", "IN",
             "START", "STOP", "SECONDS", "WITHIN", "REPEATS", "TIMES", "LAST"}
_STRING_OPS = {"LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"}
_LITERALS = {"timestamp", "binary", "hex", "string", "float", "int", "bool"}


# Hex digest lengths of the hash-algorithm-ov algorithms (and common extras); the algorithm named in an object
# path is compared case-insensitively and without hyphens, as stix2-patterns does ("sha256" is SHA-256).
_HASH_HEX_LENGTHS = {"MD5": 32, "SHA1": 40, "SHA224": 56, "SHA256": 64, "SHA384": 96, "SHA512": 128,
                     "SHA3224": 56, "SHA3256": 64, "SHA3384": 96, "SHA3512": 128, "RIPEMD160": 40,
                     "WHIRLPOOL": 128}
_HEX = re.compile(r"[0-9a-fA-F]*")


class PatternError(ValueError):
    pass


def _hash_algorithm(steps: list[str]) -> str | None:
    """The algorithm, when the object path ends in ``hashes.<algorithm with a known digest length>``."""
    if len(steps) < 2 or steps[-2] != "hashes":
        return None
    return steps[-1] if steps[-1].upper().replace("-", "") in _HASH_HEX_LENGTHS else None


def _check_hash(algorithm: str, token: tuple[str, str, int]) -> None:
    length = _HASH_HEX_LENGTHS[algorithm.upper().replace("-", "")]
    kind, text, pos = token
    if kind != "string":
        raise PatternError(f"{text!r} at position {pos} is not a valid {algorithm} hash: compare hashes with a "
                           f"quoted string of {length} hex digits")
    value = text[1:-1]
    if len(value) != length or not _HEX.fullmatch(value):
        raise PatternError(f"{value!r} at position {pos} is not a valid {algorithm} hash ({length} hex digits)")


def _tokens(pattern: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(pattern):
        match = _TOKEN.match(pattern, pos)
        if match is None:
            raise PatternError(f"unexpected character {pattern[pos]!r} at position {pos}")
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "word" and text in ("true", "false"):
            kind = "bool"
        elif kind == "word" and text in _KEYWORDS:
            kind = "kw"
        if kind != "ws":
            tokens.append((kind, text, pos))
        pos = match.end()
    tokens.append(("end", "", len(pattern)))
    return tokens


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.tokens = _tokens(pattern)
        self.i = 0
        self.hash_algorithm: str | None = None  # set when the last object path ends in hashes.<algorithm>
        self.depth = 0
        self.counts = {"comparison": 0, "observation": 0, "qualifier": 0}
        self.paths: list[tuple[str, str, int]] = []  # (object type, first property, position) of each object path

    def count(self, what: str, limit: int) -> None:
        self.counts[what] += 1
        if self.counts[what] > limit:
            raise PatternError(f"more than {limit} {what} expressions at position {self.peek()[2]}: "
                               f"this exchange accepts at most {limit} per pattern")

    def open(self, text: str) -> None:
        """Take an opening '(' or '[' and go one level deeper: the parser recurses, so depth is bounded."""
        self.expect(text)
        self.depth += 1
        if self.depth > MAX_PATTERN_DEPTH:
            raise PatternError(f"{text!r} at position {self.tokens[self.i - 1][2]} nests deeper than "
                               f"{MAX_PATTERN_DEPTH} levels, the most this exchange accepts")

    def close(self, text: str) -> None:
        self.expect(text)
        self.depth -= 1

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self) -> tuple[str, str, int]:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def is_(self, text: str) -> bool:
        return self.tokens[self.i][1] == text and self.tokens[self.i][0] in ("kw", "punct", "op")

    def expect(self, text: str) -> None:
        kind, got, pos = self.take()
        if got != text or kind not in ("kw", "punct", "op"):
            raise PatternError(f"expected {text!r} at position {pos}, found {got or 'the end'!r}")

    def fail(self, what: str) -> PatternError:
        _, got, pos = self.peek()
        return PatternError(f"expected {what} at position {pos}, found {got or 'the end'!r}")

    # observation expressions
    def pattern(self) -> None:
        self.observations()
        if self.peek()[0] != "end":
            raise self.fail("AND, OR, FOLLOWEDBY or the end of the pattern")

    def observations(self) -> None:
        self._chain(self.observation_or, "FOLLOWEDBY")

    def observation_or(self) -> None:
        self._chain(self.observation_and, "OR")

    def observation_and(self) -> None:
        self._chain(self.observation, "AND")

    def _chain(self, part: Callable[[], None], keyword: str) -> None:
        part()
        while self.is_(keyword):
            self.take()
            part()

    def observation(self) -> None:
        if self.is_("["):
            self.count("observation", MAX_OBSERVATIONS)
            self.open("[")
            self.comparison_or()
            self.close("]")
        elif self.is_("("):
            self.open("(")
            self.observations()
            self.close(")")
        else:
            raise self.fail("'[' or '(' to start an observation expression")
        self.qualifiers()

    def qualifiers(self) -> None:
        seen: set[str] = set()
        while True:
            kind, text, pos = self.peek()
            if kind != "kw" or text not in ("WITHIN", "REPEATS", "START"):
                return
            if text in seen:  # e.g. "WITHIN 5 SECONDS WITHIN 10 SECONDS": one of them is meaningless
                raise PatternError(f"a second {text} qualifier at position {pos}: an observation expression takes "
                                   "each qualifier at most once")
            seen.add(text)
            self.count("qualifier", MAX_QUALIFIERS)
            self.take()
            if text == "WITHIN":
                if self.peek()[0] not in ("int", "float") or self.peek()[1].startswith("-"):
                    raise self.fail("a positive number of seconds after WITHIN")
                self.take()
                self.expect("SECONDS")
            elif text == "REPEATS":
                kind, number, _ = self.peek()
                if kind != "int" or int(number) <= 0:
                    raise self.fail("a positive integer after REPEATS")
                self.take()
                self.expect("TIMES")
            else:
                self._timestamp("START")
                self.expect("STOP")
                self._timestamp("STOP")

    def _timestamp(self, after: str) -> None:
        if self.peek()[0] != "timestamp":
            raise self.fail(f"a timestamp literal t'…Z' after {after}")
        self.take()

    # comparison expressions
    def comparison_or(self) -> None:
        self._chain(self.comparison_and, "OR")

    def comparison_and(self) -> None:
        self._chain(self.test, "AND")

    def test(self) -> None:
        if self.is_("("):
            self.open("(")
            self.comparison_or()
            self.close(")")
            return
        self.count("comparison", MAX_COMPARISONS)
        if self.is_("EXISTS"):
            self.take()
            self.object_path()
            return
        self.object_path()
        if self.is_("NOT"):
            self.take()
        kind, text, _ = self.peek()
        algorithm = self.hash_algorithm
        if kind == "op":
            self.take()
            orderable = text in ("<", "<=", ">", ">=")
            self.literal(orderable=orderable, hash_algorithm=algorithm)
        elif kind == "kw" and text == "IN":
            self.take()
            self.set_literal(hash_algorithm=algorithm)
        elif kind == "kw" and text in _STRING_OPS:
            self.take()
            if self.peek()[0] != "string":
                raise self.fail(f"a quoted string after {text}")
            self.take()
        else:
            raise self.fail("a comparison operator (=, !=, <, >, <=, >=, IN, LIKE, MATCHES, ISSUBSET, ISSUPERSET)")

    def literal(self, *, orderable: bool = False, hash_algorithm: str | None = None) -> None:
        kind = self.peek()[0]
        allowed = _LITERALS - {"bool"} if orderable else _LITERALS
        if kind not in allowed:
            raise self.fail("a literal value (string, number, boolean, t'timestamp', b'base64' or h'hex')")
        if hash_algorithm:
            _check_hash(hash_algorithm, self.peek())
        self.take()

    def set_literal(self, *, hash_algorithm: str | None = None) -> None:
        self.expect("(")
        if self.is_(")"):
            self.take()
            return
        self.literal(hash_algorithm=hash_algorithm)
        while self.is_(","):
            self.take()
            self.literal(hash_algorithm=hash_algorithm)
        self.expect(")")

    def object_path(self) -> None:
        kind, text, pos = self.take()
        if kind != "word":
            raise PatternError(f"expected an object type such as file or ipv4-addr at position {pos}, found {text!r}")
        self.expect(":")
        steps = [self._path_step()]
        self.paths.append((text, steps[0], pos))
        while True:
            if self.is_("."):
                self.take()
                steps.append(self._path_step())
            elif self.is_("["):
                self.take()
                kind, text, _ = self.peek()
                if not (kind == "int" and not text.startswith("-")) and not (kind == "punct" and text == "*"):
                    raise self.fail("a list index or '*'")
                self.take()
                self.expect("]")
            else:
                self.hash_algorithm = _hash_algorithm(steps)
                return

    def _path_step(self) -> str:
        kind, text, _ = self.peek()
        if kind not in ("word", "string"):
            raise self.fail("a property name")
        if kind == "word" and "-" in text:  # the grammar allows hyphens in object types only
            raise self.fail(f"a property name without '-' (quote it: '{text}')")
        self.take()
        return text[1:-1] if kind == "string" else text


# What one parse finds: the grammar error (None when the pattern is valid) and, for a valid pattern, the problem
# of each object path (app.stix.model's types and properties, §9.4). Cached together: one parse answers both.
_Analysis = tuple[str | None, tuple[str, ...]]


class _ResultCache:
    """A least-recently-used map of pattern → analysis, bounded by the bytes it holds, not by its entries:
    patterns longer than ``longest`` are never kept, and the oldest entries go when the keys and values
    together exceed ``budget`` bytes. (An entry-bounded cache of 65,536 patterns could hold 64 GiB of megabyte
    patterns.) Thread-safe: validation may run on worker threads."""

    def __init__(self, longest: int, budget: int) -> None:
        self.longest, self.budget, self.size = longest, budget, 0
        self.entries: OrderedDict[str, _Analysis] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, pattern: str) -> _Analysis | None:
        with self.lock:
            if pattern not in self.entries:
                return None
            self.entries.move_to_end(pattern)
            return self.entries[pattern]

    def put(self, pattern: str, analysis: _Analysis) -> None:
        if len(pattern) > self.longest:
            return
        with self.lock:
            if pattern in self.entries:
                return
            self.entries[pattern] = analysis
            self.size += _footprint(pattern, analysis)
            while self.size > self.budget:
                old, old_analysis = self.entries.popitem(last=False)
                self.size -= _footprint(old, old_analysis)


def _footprint(pattern: str, analysis: _Analysis) -> int:
    """The bytes a cache entry holds beyond the shared empty tuple and None."""
    error, problems = analysis
    return (sys.getsizeof(pattern) + (sys.getsizeof(error) if error is not None else 0)
            + sum(sys.getsizeof(problem) for problem in problems))


# 4 KiB holds every pattern of the shared sample data 17 times over; 8 MiB is at least 2,000 such patterns.
CACHE_LONGEST_PATTERN = 4096
CACHE_BUDGET_BYTES = 8 * 1024 * 1024
_cache = _ResultCache(CACHE_LONGEST_PATTERN, CACHE_BUDGET_BYTES)


def _analysis(pattern: str) -> _Analysis:
    """The cached analysis of ``pattern`` (patterns repeat: an indicator's versions, feeds of one producer)."""
    analysis = _cache.get(pattern)
    if analysis is None:
        analysis = _analyse(pattern)
        _cache.put(pattern, analysis)
    return analysis


def pattern_error(pattern: str) -> str | None:
    """None if ``pattern`` is a valid STIX 2.1 pattern, else what is wrong."""
    return _analysis(pattern)[0]


def _analyse(pattern: str) -> _Analysis:
    if len(pattern) > MAX_PATTERN_LENGTH:  # before tokenizing: the token list takes ~100 bytes per character
        return (f"the pattern is {len(pattern)} characters long; this exchange accepts at most "
                f"{MAX_PATTERN_LENGTH}", ())
    try:
        parser = _Parser(pattern)  # tokenizing raises on a character no token starts with
        parser.pattern()
    except PatternError as exc:
        return str(exc), ()
    return None, tuple(f"object path at position {pos}: {problem}" for stix_type, prop, pos in parser.paths
                       if (problem := _path_problem(stix_type, prop)))


# ------------------------------------------------------------------ object paths (STIX 2.1 §9.4)

_TYPE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,248}[a-z0-9]")  # §2.5 "type": 3-250 of a-z, 0-9, '-'
_PROPERTY_NAME = re.compile(r"[a-z0-9_]{3,250}")  # §3.1 property names
# The properties STIX 2.1 defines on each cyber-observable type (the one object model, app.stix.model).
_SCO_PROPERTIES = {name: props for name, props in DEFINED.items() if name in SCO_TYPES}


def _path_problem(stix_type: str, prop: str) -> str | None:
    if not _TYPE_NAME.fullmatch(stix_type):
        return f"{stix_type!r} is not an object type: 3-250 characters of lower-case a-z, 0-9 and '-'"
    if prop != "id" and not _PROPERTY_NAME.fullmatch(prop):
        return f"{prop!r} is not a property name: 3-250 characters of lower-case a-z, 0-9 and '_'"
    known = _SCO_PROPERTIES.get(stix_type)
    if known is not None and prop not in known and not prop.startswith("x_"):
        return f"{stix_type} has no property {prop!r} (custom properties start with 'x_')"
    return None


def pattern_path_findings(pattern: str) -> list[Finding]:
    """A finding for each object path of a grammatically valid ``pattern`` whose object type is not a STIX type
    name, whose first property is not a property name, or, on a STIX cyber-observable type, is neither one of its
    properties nor a custom ``x_`` one (``[File:Name = 'a']`` and ``[file:nmae = 'a']`` both match nothing).
    Later steps are dictionary keys (``hashes.'SHA-256'``, ``extensions.'…-ext'``) or properties of referenced
    objects and are not checked. Kept apart from ``pattern_error``, which answers for the grammar alone (and is
    cross-checked against stix2-patterns on exactly that); an ungrammatical pattern has no path findings."""
    return [Finding("pattern", "pattern-path", problem) for problem in _analysis(pattern)[1]]
