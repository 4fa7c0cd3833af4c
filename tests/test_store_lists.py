"""``app.store.lists.in_list``: a list of values as one parameter, on the database the suite runs on (a throwaway
SQLite file, or a PostgreSQL database of its own when AISX_TEST_DATABASE_URL is set)."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert, select

from app.store.engine import make_engine
from app.store.lists import in_list
from app.store.models import shared_id_table
from tests.support.server import ThrowawayDatabase

_COLUMN = shared_id_table.c.stix_id  # VARCHAR(150)
STORED = "x-" + "a" * 110 + "--" + "0" * 36  # 150 characters: as long as the column holds


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    database = ThrowawayDatabase(tmp_path_factory.mktemp("lists"), migrated=True)
    engine = make_engine(database.url, pool_size=1)
    with engine.begin() as conn:
        conn.execute(insert(shared_id_table), [{"stix_id": STORED}, {"stix_id": "short--1"}])
    try:
        yield engine
    finally:
        engine.dispose()
        database.drop()


def _matches(engine: Engine, values: list[str]) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(_COLUMN).where(in_list(_COLUMN, "values")), {"values": values}).scalars())


@pytest.mark.parametrize("values,expected", [
    ([STORED], [STORED]),
    ([STORED, "short--1", "absent"], ["short--1", STORED]),
    ([], []),
    # A value longer than the column is compared whole: cast to the column's VARCHAR(150)[] on PostgreSQL, it was
    # cut to its first 150 characters and so equalled the stored id it starts with.
    ([STORED + "b"], []),
    ([STORED + "b" * 200, "short--1"], ["short--1"]),
])
def test_a_value_matches_only_an_equal_stored_value(engine: Engine, values: list[str], expected: list[str]) -> None:
    assert _matches(engine, values) == expected


def test_on_postgresql_the_list_is_one_array_parameter(engine: Engine) -> None:
    """One statement text for any number of values (psycopg prepares each new text, and PostgreSQL plans it), of
    unbounded strings; SQLite has no arrays and expands the list when the statement runs."""
    with engine.connect() as conn:
        text = str(select(_COLUMN).where(in_list(_COLUMN, "values")).compile(conn))
        if conn.dialect.name == "postgresql":
            assert text.endswith("WHERE shared_id.stix_id = ANY (%(values)s::VARCHAR[])"), text
        else:
            assert text.endswith("WHERE shared_id.stix_id IN (__[POSTCOMPILE_values])"), text
