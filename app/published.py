"""Files the product publishes (JSON Schemas): found in an installed wheel or in a source checkout."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def schemas_dir() -> Path:
    installed = _PACKAGE / "published_schemas"
    return installed if installed.is_dir() else _PACKAGE.parent / "schemas"


def schema_path(name: str) -> Path:
    return schemas_dir() / name
