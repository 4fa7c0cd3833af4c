"""The launcher the tests fork ``aisx`` from (tests/support/launcher.py) gives what a new Python would: the same
output, exit status, environment and working directory as ``subprocess.run([sys.executable, "-m", "app.cli",
...])``, and a server that dies of a signal reports that signal."""

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.server import AISX, Launched, aisx_environment, run_aisx, running_server


def _environment(tmp_path: Path, name: str) -> dict[str, str]:
    return aisx_environment(AISX_DATABASE_URL=f"sqlite:///{tmp_path / name}")


@pytest.mark.parametrize("args", [["--help"], ["participant", "list"], ["openapi"], ["no-such-command"],
                                  ["audit", "verify", "--file", "missing.jsonl"]])
def test_a_forked_command_answers_as_a_new_python_does(tmp_path: Path, args: list[str]) -> None:
    env = _environment(tmp_path, "aisx.db")
    forked = run_aisx(args, cwd=tmp_path, env=env, check=False)
    plain = subprocess.run([*AISX, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert (forked.returncode, forked.stdout, forked.stderr) == (plain.returncode, plain.stdout, plain.stderr)


def test_each_forked_process_has_its_own_environment_and_directory(tmp_path: Path) -> None:
    """Two commands in a row with different databases: each names its own (nothing carried over from the first
    or from the launcher)."""
    for name in ("first.db", "second.db"):
        result = run_aisx(["participant", "list"], cwd=tmp_path, env=_environment(tmp_path, name), check=False)
        assert result.returncode == 2 and name in result.stderr, result.stderr
        assert ("first.db" in result.stderr) == (name == "first.db")


def test_a_killed_server_reports_the_signal(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        if not isinstance(server.process, Launched):
            pytest.skip("AISX_TEST_NO_LAUNCHER is set")
        assert server.process.poll() is None
        os.kill(server.process.pid, signal.SIGKILL)
        assert server.process.wait(30) == -signal.SIGKILL
