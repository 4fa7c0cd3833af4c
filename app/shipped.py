"""Files the product ships (JSON Schemas, default feed definitions): found in an installed wheel, which carries
them inside the package, or in a source checkout (an editable install), which keeps them beside it."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _shipped(in_wheel: str, in_checkout: str) -> Path:
    installed = _PACKAGE / in_wheel
    return installed if installed.is_dir() else _PACKAGE.parent / in_checkout


def schemas_dir() -> Path:
    return _shipped("published_schemas", "schemas")


def default_feeds_dir() -> Path:
    return _shipped("default_feeds", "feeds")


def schema_path(name: str) -> Path:
    return schemas_dir() / name
