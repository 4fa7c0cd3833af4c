"""RFC 3339 timestamps as integer microseconds since the epoch, and back to TAXII's microsecond form."""

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z",
    re.ASCII,  # \d would admit any Unicode digit (fullwidth, Arabic-Indic, ...), which int() reads
)


class TimestampError(ValueError):
    pass


# A timestamp with nanoseconds and an offset is 35 characters. RFC 3339 allows any number of fraction digits, so
# a valid timestamp can be a megabyte long: only short ones are cached, which bounds the cache at 65,536 entries
# of at most ~100 bytes of key each.
_CACHEABLE_LENGTH = 64


def parse_timestamp(value: str, *, require_utc: bool = False) -> int:
    """Microseconds since the epoch for an RFC 3339 timestamp; digits past the microsecond are dropped."""
    if not isinstance(value, str):
        raise TimestampError(f"{value!r} is not an RFC 3339 timestamp such as 2025-01-31T12:00:00.000Z")
    if len(value) > _CACHEABLE_LENGTH:
        return _parse_uncached(value, require_utc)
    return _parse(value, require_utc)


@lru_cache(maxsize=65536)
def _parse(value: str, require_utc: bool) -> int:
    """Cached: in STIX content created, modified and valid_from are often one and the same string."""
    return _parse_uncached(value, require_utc)


def _parse_uncached(value: str, require_utc: bool) -> int:
    match = _RFC3339.match(value)
    if match is None:
        raise TimestampError(f"{value!r} is not an RFC 3339 timestamp such as 2025-01-31T12:00:00.000Z")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if require_utc and not zulu:
        raise TimestampError(f"{value!r} must be in UTC and end in 'Z'")
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except ValueError as exc:
        raise TimestampError(f"{value!r} is not a valid date and time: {exc}") from None
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        try:  # 9999-12-31T23:59:59-01:00 is after year 9999 in UTC, 0001-01-01T00:00:00+01:00 before year 1
            moment = moment - offset if sign == "+" else moment + offset
        except OverflowError:
            raise TimestampError(f"{value!r} is outside years 0001-9999 once converted to UTC") from None
    return (moment - _EPOCH) // timedelta(microseconds=1) + micros


def format_timestamp(micros: int) -> str:
    """TAXII form: UTC, 'Z', exactly six fractional digits."""
    return (_EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
