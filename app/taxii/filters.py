"""URL parameters of the collection endpoints (TAXII 2.1 §3.4): parsed and checked once, so the store
receives only well-formed values. Anything malformed is a 400 naming the parameter. The limits come from the
route (``QueryLimits``), which takes them from the settings."""

from dataclasses import dataclass

from starlette.datastructures import QueryParams

from app.stix.timestamps import TimestampError, parse_timestamp
from app.store.queries import ALL_VERSIONS, ObjectFilter, VersionFilter
from app.taxii.cursor import FILTER_FIELDS, redeem, resume
from app.taxii.errors import TaxiiError

_VERSION_WORDS = {"first", "last", "all"}
_VERSIONS_ENDPOINT_FILTERS = {"added_after", "match[spec_version]"}
_MATCHES = ("match[id]", "match[type]", "match[version]", "match[spec_version]")


@dataclass(frozen=True)
class QueryLimits:
    """Page sizes (without ``limit``, and at most) and the most values one match[] filter may list."""

    page_default: int
    page_max: int
    filter_values: int


def _refuse_unknown_matches(params: QueryParams) -> None:
    """400 for a match[...] this server does not implement (TAXII 2.1 §3.4.1 lets a server ignore it, but then
    a typo such as match[types] silently returns the whole collection, which a subscriber takes as the answer)."""
    unknown = sorted({name for name in params if name.startswith("match[") and name not in _MATCHES})
    if unknown:
        raise TaxiiError(400, f"Unsupported filter {', '.join(unknown)}: this server supports "
                              f"{', '.join(_MATCHES[:-1])} and {_MATCHES[-1]}.",
                         details={"unsupported": unknown[:10], "supported": list(_MATCHES)})


def _single(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise TaxiiError(400, f"'{name}' may occur only once in a request.")
    return values[0] if values else None


def _values(params: QueryParams, name: str, limit: int) -> tuple[str, ...]:
    raw = _single(params, name)
    if raw is None:
        return ()
    values = tuple(v for v in raw.split(","))
    if any(not v for v in values):
        raise TaxiiError(400, f"'{name}' has an empty value; separate values with single commas.")
    if any(not v.isprintable() for v in values):  # no id, type or version has them; PostgreSQL refuses NUL
        raise TaxiiError(400, f"'{name}' contains a control character.")
    if len(values) > limit:
        raise TaxiiError(400, f"'{name}' has {len(values)} values; at most {limit} are allowed.")
    return values


def _limit(params: QueryParams, limits: QueryLimits) -> int:
    raw = _single(params, "limit")
    if raw is None:
        return limits.page_default
    if not (raw.isascii() and raw.isdigit()) or not raw.strip("0"):  # isdigit alone admits '²', which int() refuses
        raise TaxiiError(400, f"'limit' must be a positive integer, not {raw[:40]!r}.")
    return min(bounded_int(raw, limits.page_max), limits.page_max)


def bounded_int(digits: str, ceiling: int) -> int:
    """The value of an ASCII digit string, or ``ceiling + 1`` when it is larger than ``ceiling``: without
    converting thousands of digits (int() refuses more than 4,300, and no database column holds more than 19)."""
    significant = digits.lstrip("0")
    if len(significant) > len(str(ceiling)):
        return ceiling + 1
    return int(significant or "0")


def _versions(params: QueryParams, most_values: int) -> VersionFilter:
    values = _values(params, "match[version]", most_values)
    if not values:
        return VersionFilter()
    words = {v for v in values if v in _VERSION_WORDS}
    exact = []
    for value in values:
        if value in _VERSION_WORDS:
            continue
        try:
            exact.append(parse_timestamp(value))
        except TimestampError:
            raise TaxiiError(
                400, f"'match[version]' takes first, last, all or a timestamp, not {value!r}."
            ) from None
    if "all" in words:
        return VersionFilter(all=True, last=False)
    return VersionFilter(first="first" in words, last="last" in words, exact=tuple(exact))


def _added_after(params: QueryParams) -> int | None:
    raw = _single(params, "added_after")
    if raw is None:
        return None
    try:
        return parse_timestamp(raw)
    except TimestampError as exc:
        raise TaxiiError(400, f"'added_after': {exc}.") from None


def parse_object_filter(params: QueryParams, scope: bytes, limits: QueryLimits, *,
                        with_matches: bool = True) -> ObjectFilter:
    """The filters of Get Objects / Manifest / Get an Object / Versions. ``with_matches`` is False for the
    versions endpoint, which takes only added_after, limit, next and match[spec_version]. With ``next``, the
    query it carries (see ``app.taxii.cursor``), which must have been issued for ``scope``."""
    _refuse_unknown_matches(params)
    sent = ObjectFilter(
        added_after=_added_after(params),
        ids=_values(params, "match[id]", limits.filter_values) if with_matches else (),
        types=_values(params, "match[type]", limits.filter_values) if with_matches else (),
        spec_versions=_values(params, "match[spec_version]", limits.filter_values),
        versions=_versions(params, limits.filter_values) if with_matches else ALL_VERSIONS,
        limit=_limit(params, limits),
    )
    token = _single(params, "next")
    if not token:  # MISP asks for its first page with an empty next=
        return sent
    names = [n for n in FILTER_FIELDS if n in params and (with_matches or n in _VERSIONS_ENDPOINT_FILTERS)]
    return resume(redeem(token, scope), sent, names, limit_sent="limit" in params)


def parse_version_only(params: QueryParams, most_values: int) -> VersionFilter:
    """match[version] for DELETE, where no other filter applies."""
    _refuse_unknown_matches(params)
    return _versions(params, most_values)
