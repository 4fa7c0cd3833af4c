"""Schema migrations with Alembic, usable from an installed wheel or a source checkout."""

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from alembic import command
from app.config import get_settings
from app.store.engine import read_connection, write_transaction

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




def schema_revisions() -> tuple[str | None, str]:
    """(the database's schema revision, None if it has no AISX schema; the revision this code needs). Reads the
    migration scripts' headers and one row: no migration runs and nothing is written."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    url = make_url(get_settings().database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not url.database.startswith("file:") and not Path(url.database).exists():
        return None, head  # (connecting would create the file)
    with read_connection() as conn:
        return MigrationContext.configure(conn).get_current_revision(), head
