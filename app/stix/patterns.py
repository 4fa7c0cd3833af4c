"""A STIX 2.1 patterning-language parser (STIX 2.1 §9), written for speed: the reference parser
(stix2-patterns, ANTLR) checks about 650 patterns/s on this machine class, this one tens of thousands.
It validates syntax only and answers with a message that points at the offending position. The test suite
cross-checks it against stix2-patterns."""

import re
from functools import lru_cache

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<timestamp>t'\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])
                  T(?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)(?:\.\d+)?Z')
  | (?P<binary>b'(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?')
  | (?P<hex>h'(?:[0-9a-fA-F]{2})*')
  | (?P<string>'(?:\\['\\]|[^'\\])*')
  | (?P<float>[+-]?\d*\.\d+)
  | (?P<int>[+-]?\d+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<op><=|>=|!=|==|=|<|>)
  | (?P<punct>[\[\]():.,*])
""", re.VERBOSE)

_KEYWORDS = {"AND", "OR", "NOT", "FOLLOWEDBY", "LIKE", "MATCHES", "ISSUPERSET", "ISSUBSET", "EXISTS", "IN",
             "START", "STOP", "SECONDS", "WITHIN", "REPEATS", "TIMES"}
_STRING_OPS = {"LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"}
_LITERALS = {"timestamp", "binary", "hex", "string", "float", "int", "bool"}


_HASH_HEX_LENGTHS = {"MD5": 32, "SHA-1": 40, "SHA-256": 64, "SHA-512": 128, "SHA3-256": 64, "SHA3-512": 128}


class PatternError(ValueError):
    pass


def _hash_algorithm(steps: list[str]) -> str | None:
    return steps[-1] if len(steps) >= 2 and steps[-2] == "hashes" and steps[-1] in _HASH_HEX_LENGTHS else None


def _check_hash(algorithm: str, token: tuple[str, str, int]) -> None:
    value, length = token[1][1:-1], _HASH_HEX_LENGTHS[algorithm]
    if len(value) != length or not re.fullmatch(r"[0-9a-fA-F]*", value):
        raise PatternError(f"{value!r} at position {token[2]} is not a valid {algorithm} hash ({length} hex digits)")


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

    def _chain(self, part, keyword: str) -> None:  # type: ignore[no-untyped-def]
        part()
        while self.is_(keyword):
            self.take()
            part()

    def observation(self) -> None:
        if self.is_("["):
            self.take()
            self.comparison_or()
            self.expect("]")
        elif self.is_("("):
            self.take()
            self.observations()
            self.expect(")")
        else:
            raise self.fail("'[' or '(' to start an observation expression")
        self.qualifiers()

    def qualifiers(self) -> None:
        while True:
            if self.is_("WITHIN"):
                self.take()
                if self.peek()[0] not in ("int", "float") or self.peek()[1].startswith("-"):
                    raise self.fail("a positive number of seconds after WITHIN")
                self.take()
                self.expect("SECONDS")
            elif self.is_("REPEATS"):
                self.take()
                kind, text, _ = self.peek()
                if kind != "int" or int(text) <= 0:
                    raise self.fail("a positive integer after REPEATS")
                self.take()
                self.expect("TIMES")
            elif self.is_("START"):
                self.take()
                self._timestamp("START")
                self.expect("STOP")
                self._timestamp("STOP")
            else:
                return

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
            self.take()
            self.comparison_or()
            self.expect(")")
            return
        if self.is_("EXISTS"):
            self.take()
            self.object_path()
            return
        self.object_path()
        if self.is_("NOT"):
            self.take()
        kind, text, _ = self.peek()
        if kind == "op":
            self.take()
            if self.hash_algorithm and text in ("=", "==", "!=") and self.peek()[0] == "string":
                _check_hash(self.hash_algorithm, self.peek())
            self.literal(orderable=text in ("<", "<=", ">", ">="))
        elif kind == "kw" and text == "IN":
            self.take()
            self.set_literal()
        elif kind == "kw" and text in _STRING_OPS:
            self.take()
            if self.peek()[0] != "string":
                raise self.fail(f"a quoted string after {text}")
            self.take()
        else:
            raise self.fail("a comparison operator (=, !=, <, >, <=, >=, IN, LIKE, MATCHES, ISSUBSET, ISSUPERSET)")

    def literal(self, *, orderable: bool = False) -> None:
        kind = self.peek()[0]
        allowed = _LITERALS - {"bool"} if orderable else _LITERALS
        if kind not in allowed:
            raise self.fail("a literal value (string, number, boolean, t'timestamp', b'base64' or h'hex')")
        self.take()

    def set_literal(self) -> None:
        self.expect("(")
        if self.is_(")"):
            self.take()
            return
        self.literal()
        while self.is_(","):
            self.take()
            self.literal()
        self.expect(")")

    def object_path(self) -> None:
        kind, text, pos = self.take()
        if kind != "word":
            raise PatternError(f"expected an object type such as file or ipv4-addr at position {pos}, found {text!r}")
        self.expect(":")
        steps = [self._path_step()]
        while True:
            if self.is_("."):
                self.take()
                steps.append(self._path_step())
            elif self.is_("["):
                self.take()
                kind, text, _ = self.peek()
                if not (kind == "int" and not text.startswith(("-", "+"))) and not (kind == "punct" and text == "*"):
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
        self.take()
        return text.strip("'")


@lru_cache(maxsize=65536)
def pattern_error(pattern: str) -> str | None:
    """None if ``pattern`` is a valid STIX 2.1 pattern, else what is wrong (cached: patterns repeat)."""
    try:
        _Parser(pattern).pattern()
    except PatternError as exc:
        return str(exc)
    return None
