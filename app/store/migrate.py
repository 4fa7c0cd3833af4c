"""Schema migrations with Alembic, usable from an installed wheel or a source checkout."""

from pathlib import Path

from alembic.config import Config

from alembic import command
from app.store.engine import write_transaction

_PACKAGE = Path(__file__).resolve().parent.parent


def _script_location() -> Path:
    for candidate in (_PACKAGE / "migrations", _PACKAGE.parent / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError("AISX migrations not found: reinstall the package")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    return config


def upgrade_to_head() -> None:
    """Apply every pending migration (a no-op on an up-to-date database), in one transaction that holds the
    exchange-wide write lock: processes starting together (several hosts, ``aisx serve`` beside another
    ``aisx`` command) migrate one after the other instead of racing to create the same tables."""
    config = alembic_config()
    with write_transaction() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


