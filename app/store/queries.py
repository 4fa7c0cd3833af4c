"""What a read asks the store for: the filters of a TAXII query and where a page resumes.

The protocol layer parses URL parameters into these and encodes them into ``next`` tokens; the store only
evaluates them. They live here, below both, so that the store imports nothing from the protocol."""

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class VersionFilter:
    """match[version]: ``all``, or any of ``first``/``last`` and exact version timestamps."""

    all: bool = False
    first: bool = False
    last: bool = True
    exact: tuple[int, ...] = ()


ALL_VERSIONS = VersionFilter(all=True, last=False)


@dataclass(frozen=True)
class Position:
    """Where a page ended: the ``date_added`` of its last row, and how many rows with that ``date_added`` the
    reader has been served so far.

    Both are things the reader has seen. A row's global sequence number is deliberately not part of it: that
    number counts every row stored before it, in every collection and for every audience, so a position (and
    the ``next`` token built from it) would change with activity the reader cannot see. ``date_added`` is
    allocated distinct within a collection, so ``served`` is nearly always 1; it only breaks the rare tie."""

    date_added: int
    served: int


def following(dates: Sequence[int], start: Position | None) -> Position:
    """Where a page with these (non-empty, ordered) ``date_added`` values ends, having started at ``start``.
    If the page ends on the date ``start`` ended on, every row of the page has that date (rows come in date
    order from ``start`` on), so the rows served at that date add up."""
    last = dates[-1]
    tied = sum(1 for date in dates if date == last)
    if start is not None and start.date_added == last:
        tied += start.served
    return Position(last, tied)


@dataclass(frozen=True)
class ObjectFilter:
    """The filters of Get Objects / Manifest / Get an Object / Versions, the page size, and where to resume."""

    added_after: int | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    spec_versions: tuple[str, ...] = ()
    versions: VersionFilter = field(default_factory=VersionFilter)
    limit: int = 1000
    after: Position | None = None
