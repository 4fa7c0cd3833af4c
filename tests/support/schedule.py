"""Longest modules first: the order in which pytest-xdist hands out test modules.

With ``--dist loadfile`` each module runs whole on one worker, and xdist hands modules out in the order it is
given. Its own order (``--loadscope-reorder``, the default) is by number of tests, so modules of a few long
tests (the CLI secret scan, the kill -9 crash test, mirroring) came last and ran alone at the end: on a 2-core
machine, the SQLite pass was 93 % done at 140 s and finished at 240 s. Sorted by measured duration instead
(longest processing time first), the last modules to start are short ones.

The durations are each module's seconds in a full run (``tests/module_durations.json``), written by
``pytest --record-module-durations``; a module not listed yet counts as the median. Only the order changes:
every test runs, whatever the file says."""

import json
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

DURATIONS = Path(__file__).resolve().parent.parent / "module_durations.json"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--record-module-durations", action="store_true",
                     help=f"write each test module's total duration to {DURATIONS.name} at the end of the run")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--record-module-durations") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Recorder(), "aisx-module-durations")


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    known: dict[str, float] = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    default = statistics.median(known.values()) if known else 0.0
    items.sort(key=lambda item: -known.get(_module(item.nodeid), default))  # stable: each module stays whole


class _Recorder:
    """Sums setup, call and teardown per module, in the process that sees every report (xdist's controller)."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[_module(report.nodeid)] += report.duration

    def pytest_sessionfinish(self) -> None:
        if self.seconds:
            DURATIONS.write_text(json.dumps({m: round(s, 1) for m, s in sorted(self.seconds.items())}, indent=1)
                                 + "\n")
