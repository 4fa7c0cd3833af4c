"""``aisx`` processes forked from one that has already imported the application: ``python -m
tests.support.launcher``, one per test process, started on first use.

Every ``aisx serve`` and ``aisx`` command a test starts used to be a new Python that imported the application
before doing anything: about 0.9 s of CPU for ``serve`` (FastAPI, SQLAlchemy, pydantic, uvicorn, the store's
models) and 0.6 s for a command, measured with ``/usr/bin/time python -c 'import app.cli, app.main'``. The suite
starts about 80 servers and 200 commands per database pass on a 2-core machine, so imports were a third of its
CPU. Forked from this launcher, each is still a process of its own, with its own pid, environment, working
directory, standard streams, exit status and signals, running the ``aisx`` application as ``python -m
app.cli`` does (the same usage line too); only the imports are done once (copy-on-write), as a pre-forking
server (gunicorn's ``--preload``) does. A ``--workers N`` server's supervisor is forked like any other; uvicorn
spawns its worker processes as new interpreters, as in production (see ``_preload``). Forking the supervisors of the
suite's five two-worker servers took their five modules from 27-28 to 21-22 s of CPU (PostgreSQL, 2 alternating
rounds).

What makes that safe: importing the application reads no setting and opens nothing (``get_settings()``, the
engines and the metrics are built on first use, see ``app.config``, ``app.store.engine`` and
``app.observability.metrics``), and this process only imports; the child replaces its whole environment before
any of that runs.

Protocol: one JSON request per line on stdin (``argv``, ``env``, ``cwd``, ``stdin``, ``stdout``, ``stderr``: file
paths, ``new_session``, ``status``: the file to write the exit status to); one line back with the child's pid.
The status file is written (atomically) when the child has been reaped: see ``Launched`` in
``tests.support.server``. ``AISX_TEST_NO_LAUNCHER=1`` makes the tests start plain subprocesses instead."""

import atexit
import gc
import importlib
import io
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import orjson
import rich.console
import typer.main

import app.cli
import app.main

# What ``aisx serve`` imports besides app.main, on first use: uvicorn, its event loop (uvloop), protocols and
# lifespan, anyio's thread pool, the PostgreSQL driver (17% of a PostgreSQL server's start before they were here:
# py-spy) and the background jobs
PRELOADED = ("uvicorn.config", "uvicorn.main", "uvicorn.server", "uvicorn.lifespan.on", "uvicorn.loops.auto",
             "uvicorn.protocols.http.auto", "uvicorn.protocols.websockets.auto", "uvloop", "anyio._backends._asyncio",
             "psycopg", "sqlalchemy.dialects.postgresql.psycopg", "app.jobs")


def _preload() -> None:
    """What every child would do first, done once here. Not at import: the worker processes of a ``--workers 2``
    server are spawned (new interpreters, as uvicorn starts them) and import this module as their ``__mp_main__``,
    as they import ``app.cli`` in production; they should do no more than that."""
    for module in PRELOADED:
        importlib.import_module(module)
    # Typer builds the click command tree from the ``aisx`` commands' signatures each time the application is
    # called. The first build in a process costs 76 ms of CPU (typing's caches, typer's and click's lazy parts), each
    # later one 6 ms: built once here, the first build in every forked child is a later one. (py-spy over 15 server
    # starts: a third of each child's CPU before this line.) The children still build and run their own command tree.
    typer.main.get_command(app.cli.app)
    # A process's first rich print imports rich's emoji table: 4.8 ms of CPU, then 0.3 ms a print. Servers print
    # their banner and most commands their answer with rich, so that import is done here once.
    rich.console.Console(file=io.StringIO()).print("[bold]ready[/bold]")


_status_files: dict[int, str] = {}


def _write_status(path: str, code: int) -> None:
    temporary = f"{path}.partial"
    Path(temporary).write_text(str(code))
    os.replace(temporary, path)


def _reap(*_: Any) -> None:
    """SIGCHLD: record the exit status of every child that ended (a negative number: the signal that ended it,
    as ``subprocess.Popen.returncode`` says it)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        path = _status_files.pop(pid, None)
        if path is not None:
            _write_status(path, os.waitstatus_to_exitcode(status))


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _stream(fd: int, mode: str) -> io.TextIOWrapper:
    raw = io.FileIO(fd, mode, closefd=False)
    if mode == "r":
        return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8")
    return io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", line_buffering=True, write_through=True)


def _run_child(request: dict[str, Any], protocol_fds: tuple[int, ...]) -> None:
    """In the forked child: become the requested process, run ``aisx ARGV...``, exit. Never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if request["new_session"]:
            os.setsid()
        for fd in protocol_fds:
            os.close(fd)
        for target, (path, flags) in enumerate(((request["stdin"], os.O_RDONLY),
                                                 (request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_APPEND),
                                                 (request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND))):
            fd = os.open(path, flags, 0o600)
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin, sys.stdout, sys.stderr = _stream(0, "r"), _stream(1, "w"), _stream(2, "w")
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # found again from TMPDIR on first use, as in a new process
        sys.path[0] = request["cwd"]  # as for ``python -m app.cli`` started there
        sys.argv = [app.cli.__file__, *request["argv"]]
        try:
            app.cli.app(prog_name="python -m app.cli")
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc)
    except BaseException:  # whatever it was, the child reports it and exits as Python would
        traceback.print_exc()
        code = 1
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code & 0xFF if code >= 0 else 1)


def main() -> None:
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    signal.signal(signal.SIGCHLD, _reap)
    _preload()
    # Everything imported so far is moved out of the collector's sight, as Python's gc docs advise before forking
    # without exec: a child's collections no longer walk (and so copy, page by page) the objects it shares with
    # this process. 12 servers, each started with a participant, 60 reads and a post of 30 objects, then stopped:
    # 4.22-4.49 s of CPU (user) without, 3.67-4.07 s with, in 2 alternating rounds.
    gc.freeze()
    for line in requests:
        request = orjson.loads(line)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # the status file is known before any reaping
        try:
            pid = os.fork()
            if pid == 0:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                _run_child(request, (requests.fileno(), replies.fileno()))
            _status_files[pid] = request["status"]
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        replies.write(f"{pid}\n")
        replies.flush()
    # stdin closed: the test process is done; children still running are its to end, their statuses unwritten


if __name__ == "__main__":
    main()
