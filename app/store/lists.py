"""``column IN (the values of a list given at execution)``, with one statement text for any length of list.

SQLAlchemy's expanding IN (``column.in_(bindparam(name, expanding=True))``) renders one placeholder per value when
the statement runs. On PostgreSQL that is a new statement text for each list length: psycopg parses its text again
and prepares it again (the engine prepares every statement at its first execution: ``app.store.engine``), and
PostgreSQL parses and plans it again, for a list of up to 1,000 ids in every envelope a lab posts. There the list is
one array parameter instead, ``column = ANY(:name)``: one text, prepared once per connection and planned once. On
SQLite, which has no arrays, it stays an expanding IN. Either way the caller passes a Python list under ``name``,
and an empty list matches nothing."""

from typing import Any

from sqlalchemy import Boolean, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.sql.visitors import InternalTraversal


class _InList(ColumnElement[bool]):
    """``column`` is one of the values of the list parameter ``name``."""

    type = Boolean()
    _is_implicitly_boolean = True  # a comparison, as IN is: no "= 1" after it where booleans are integers (SQLite)
    inherit_cache = True
    # what makes two of these the same statement for SQLAlchemy's compiled cache (a list, as SQLAlchemy declares it)
    _traverse_internals = [  # noqa: RUF012
        ("column", InternalTraversal.dp_clauseelement), ("name", InternalTraversal.dp_string)]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


def in_list(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column`` is one of the values passed as ``name`` (a list) when the statement runs."""
    return _InList(column, name)


@compiles(_InList)
def _expanding_in(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(_InList, "postgresql")
def _equals_any_of_array(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    array = bindparam(element.name, type_=_array_of(element.column.type))
    return compiler.process(element.column == any_(array), **kw)


def _array_of(column_type: TypeEngine[Any]) -> ARRAY[Any]:
    """The PostgreSQL array type for values of a column. Strings without the column's length: a cast to
    ``VARCHAR(150)[]`` cuts longer values to 150 characters, so that a longer id would equal a stored one with the
    same first 150 characters; unbounded, it compares (and, inserted, is refused by the column) as it is."""
    unbounded = isinstance(column_type, String) or isinstance(getattr(column_type, "impl", None), String)
    return ARRAY(String() if unbounded else column_type)  # impl: SQLModel's AutoString decorates a String
