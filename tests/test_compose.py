"""The production-shaped deployment (issue 16, item 15): docker-compose.yml, deploy/Caddyfile,
deploy/postgres-init.sh and the Dockerfile agree with each other and with the CLI.

No container engine runs here or in CI, so the images are not built. What can be checked is: the compose file
parses and wires its services as docs/deployment.md says; the AISX container's command is made of real
``aisx`` commands and options (parsed by the CLI's own parser, without running them); the proxy, the port and the
trusted proxy address match; and, on PostgreSQL, the init script's SQL run against the local server makes a
non-superuser role with which that very command (``aisx db upgrade && exec aisx serve --workers 2``) migrates
and serves."""

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import typer.main
import yaml

from app.cli import app as cli_app
from tests.support.server import TLS, aisx_environment, free_port

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def aisx_commands() -> list[list[str]]:
    """The ``aisx ...`` commands of the AISX container's ``sh -c`` entrypoint, split at ``&&``."""
    entrypoint = SERVICES["aisx"]["entrypoint"]
    assert entrypoint[:2] == ["sh", "-c"], entrypoint
    commands = [shlex.split(part) for part in entrypoint[2].split("&&")]
    return [words[1:] if words[0] == "exec" else words for words in commands]


def parse_with_cli(argv: list[str]) -> Any:
    """Resolve ``argv`` (after ``aisx``) to a command of the real CLI and parse its options, running nothing (the
    click context). Raises the CLI's usage error for a command or option it does not have."""
    command = typer.main.get_command(cli_app)
    words, name = list(argv), "aisx"
    while hasattr(command, "get_command"):  # a group (typer's own click: no isinstance on click.Group)
        name, words = words[0], words[1:]
        found = command.get_command(command.make_context(name, [], resilient_parsing=True), name)
        if found is None:
            raise LookupError(f"no command {name!r}")
        command = found
    return command.make_context(name, words)


def test_the_services_are_wired_as_documented() -> None:
    assert set(SERVICES) == {"db", "aisx", "caddy"}
    db, aisx, caddy = SERVICES["db"], SERVICES["aisx"], SERVICES["caddy"]
    assert any(v.startswith("pgdata:/var/lib/postgresql/data") for v in db["volumes"]), "PostgreSQL data in a volume"
    assert "pgdata" in COMPOSE["volumes"]
    init = next(v for v in db["volumes"] if "docker-entrypoint-initdb.d" in v)
    assert (REPO / init.split(":")[0]).is_file()
    assert aisx["depends_on"]["db"]["condition"] == "service_healthy"
    assert aisx["build"] == "." and (REPO / "Dockerfile").is_file()
    assert "ports" not in aisx and "ports" not in db, "only the proxy is published"
    assert sorted(caddy["ports"]) == ["443:443", "80:80"]
    # The proxy is the one address AISX trusts for X-Forwarded-For.
    assert aisx["environment"]["AISX_FORWARDED_ALLOW_IPS"] == caddy["networks"]["backend"]["ipv4_address"]
    url = aisx["environment"]["AISX_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://aisx:") and url.endswith("@db:5432/aisx"), url


def test_the_aisx_container_migrates_then_serves_with_two_workers_with_real_commands() -> None:
    commands = aisx_commands()
    assert [c[:2] for c in commands] == [["aisx", "db"], ["aisx", "serve"]]
    upgrade, serve = (parse_with_cli(c[1:]) for c in commands)
    assert upgrade.command.callback is not None and upgrade.command.callback.__name__ == "db_upgrade"
    assert serve.command.callback is not None and serve.command.callback.__name__ == "serve"
    assert serve.params["workers"] == 2
    with pytest.raises(Exception, match="wrokers"):  # the parser does refuse what the CLI does not have
        parse_with_cli(["serve", "--wrokers", "2"])
    with pytest.raises(LookupError):
        parse_with_cli(["db", "upgrad"])


def test_the_proxy_the_port_and_the_image_agree() -> None:
    port = SERVICES["aisx"]["environment"]["AISX_PORT"]
    assert SERVICES["aisx"]["expose"] == [port]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"EXPOSE {port}" in dockerfile and 'ENTRYPOINT ["aisx", "serve"]' in dockerfile
    caddyfile = (REPO / "deploy" / "Caddyfile").read_text()
    assert re.search(rf"reverse_proxy aisx:{port}\b", caddyfile)
    assert "{$AISX_DOMAIN}" in caddyfile and "AISX_DOMAIN" in SERVICES["caddy"]["environment"]
    mounted = next(v for v in SERVICES["caddy"]["volumes"] if v.endswith(":/etc/caddy/Caddyfile:ro"))
    assert (REPO / mounted.split(":")[0]).resolve() == (REPO / "deploy" / "Caddyfile").resolve()
    docs = (REPO / "docs" / "deployment.md").read_text()
    for named in ("docker-compose.yml", "deploy/Caddyfile", "deploy/postgres-init.sh", "aisx db upgrade",
                  "aisx serve --workers 2", "## Monitoring"):
        assert named in docs, named


@pytest.mark.skipif(not os.environ.get("AISX_TEST_DATABASE_URL"),
                    reason="runs the init script's SQL and the container command on PostgreSQL")
def test_the_init_script_role_runs_the_container_command(tmp_path: Path) -> None:
    """deploy/postgres-init.sh (with a unique role and database name for the shared test server) makes a role
    that is no superuser, with which the container's command migrates, serves and leads the jobs."""
    from sqlalchemy.engine import make_url

    base = make_url(os.environ["AISX_TEST_DATABASE_URL"])
    name = f"aisx_r_{uuid.uuid4().hex[:10]}"
    script = (REPO / "deploy" / "postgres-init.sh").read_text()
    script = re.sub(r"\baisx\b", name, script)
    admin_url = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    env = {**os.environ, "POSTGRES_USER": base.username or "postgres", "AISX_DB_PASSWORD": uuid.uuid4().hex,
           "PGHOST": base.host or "127.0.0.1", "PGPORT": str(base.port or 5432)}
    (tmp_path / "init.sh").write_text(script)
    process: subprocess.Popen[Any] | None = None
    try:
        done = subprocess.run(["sh", str(tmp_path / "init.sh")], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        with psycopg.connect(admin_url, autocommit=True) as conn:
            superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        assert superuser == (False,)
        port = free_port()
        url = base.set(username=name, password=env["AISX_DB_PASSWORD"], database=name)
        serve_env = aisx_environment(AISX_DATABASE_URL=url.render_as_string(hide_password=False),
                                     AISX_HOST="127.0.0.1", AISX_PORT=str(port), AISX_FEEDS_DIR=str(tmp_path))
        entrypoint = SERVICES["aisx"]["entrypoint"]
        log = (tmp_path / "serve.log").open("wb")
        # `aisx` is the console script installed beside the interpreter running the tests.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        process = subprocess.Popen(entrypoint, env={**serve_env, "PATH": path}, cwd=tmp_path, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, verify=TLS).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        text = (tmp_path / "serve.log").read_text()
        assert "database at head" in text and "became leader" in text, text
        secret = re.search(r"secret: (\S+)", text)
        assert secret
        jobs = httpx.get(f"http://127.0.0.1:{port}/admin/jobs", headers={"Authorization": f"Bearer {secret[1]}"},
                         verify=TLS)
        assert jobs.status_code == 200 and jobs.json()["leader"].endswith(f":{process.pid}"), jobs.text
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')
