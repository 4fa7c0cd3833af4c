"""``aisx`` commands for test fixtures, many in one process: ``python -m tests.support.cli_worker``.

Reads one JSON array of arguments per line on stdin, runs ``aisx ARGS...`` in this process (the same Typer
application, the same environment a subprocess would get) and writes one JSON line back: ``returncode``,
``stdout``, ``stderr``. Each ``aisx`` subprocess pays a Python start and the application's imports, about
1.2 s of CPU, before it does anything; a fixture making a collection and a grant paid that twice. The CLI's own
tests still run it as a subprocess (``Server.cli``)."""

import sys
import traceback

import orjson
from typer.testing import CliRunner

from app.cli import app


def main() -> None:
    runner = CliRunner()
    out = sys.stdout
    for line in sys.stdin:
        args = orjson.loads(line)
        result = runner.invoke(app, args, catch_exceptions=True)
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            stderr += "".join(traceback.format_exception(result.exception))
        out.write(orjson.dumps({"returncode": result.exit_code, "stdout": result.stdout, "stderr": stderr}).decode()
                  + "\n")
        out.flush()


if __name__ == "__main__":
    main()
