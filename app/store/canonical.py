"""RFC 8785 JSON Canonicalization Scheme (JCS): one byte string per JSON value, so a hash over it does not depend
on how the value was stored or parsed. Object members are sorted by their names' UTF-16 code units, strings are
escaped as ECMAScript's JSON.stringify does, numbers are written as ECMAScript writes them."""

import math
from typing import Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def canonical(value: Any) -> bytes:
    """The canonical UTF-8 form of a JSON value (dict, list, str, int, float, bool, None)."""
    return _write(value).encode("utf-8", "surrogatepass")


def _write(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        if abs(value) > 2**53 - 1:
            raise ValueError(f"{value} is outside the I-JSON integer range")
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        members = sorted(value.items(), key=lambda item: _utf16(item[0]))
        return "{" + ",".join(f"{_string(k)}:{_write(v)}" for k, v in members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_write(v) for v in value) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _utf16(name: Any) -> bytes:
    if not isinstance(name, str):
        raise TypeError("JSON object member names are strings")
    return name.encode("utf-16-be", "surrogatepass")


def _string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _number(value: float) -> str:
    """ECMAScript's Number::toString (RFC 8785 §3.2.2.3): shortest round-trip digits, exponent from 1e21."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError("NaN and Infinity are not JSON")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    digits, exponent = _shortest(abs(value))
    n = exponent + len(digits)  # the decimal point sits after n digits
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def _shortest(value: float) -> tuple[str, int]:
    """(digits, exponent) with value == int(digits) * 10**exponent, digits the shortest that round-trip."""
    mantissa, _, exp = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    fraction = fraction.rstrip("0") if fraction != "0" else ""
    digits = (whole + fraction).lstrip("0") or "0"
    exponent = int(exp or 0) - len(fraction)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    return stripped or "0", exponent
