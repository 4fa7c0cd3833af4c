"""Where a server process spends its time: load AISX to a size, then sample it with py-spy while a client
syncs pages, GETs single objects or ingests, and print the hottest frames.

    .venv/bin/pip install py-spy
    .venv/bin/python -m bench.profile --size 1000000 --workload sync              # a 1M page, SQLite
    .venv/bin/python -m bench.profile --size 1000000 --workload get --database postgres

Percentages are of the samples taken while the server was on the CPU ("inclusive": the frame or anything it
called; "self": the frame itself)."""

import argparse
import collections
import itertools
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench import measure
from bench.generator import objects
from bench.run import DEFAULT_PG, TLPS, _load
from bench.targets import AisxTarget, Reader

_FRAME = re.compile(r"\s*\(/.*?([^/]+/[^/]+\.py):\d+\)")
# Frames every sample shares (process, start-up, event loop, thread pool): they say nothing about the request.
_PLUMBING = re.compile(r"^process |runpy|typer/|_click/|app/cli\.py|uvicorn/(main|server|_compat)|asyncio/"
                       r"|threading\.py|anyio/|queue\.py")


def summarise(raw: str, top: int = 40) -> list[str]:
    """The hottest frames of py-spy's raw (collapsed-stack) output."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # a process title that spans lines
            continue
        frames = [_FRAME.sub(r" (\1)", f) for f in stack.split(";")]
        total += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
        own[frames[-1]] += int(count)
    lines = [f"{total} samples", "inclusive:"]
    hot = [(frame, n) for frame, n in inclusive.most_common() if not _PLUMBING.search(frame)][:top]
    lines += [f"  {100 * n / total:5.1f}% {frame}" for frame, n in hot]
    lines += ["self:"] + [f"  {100 * n / total:5.1f}% {frame}" for frame, n in own.most_common(top // 2)]
    return lines


def _workload(name: str, reader: Reader, ids: list[str], stop: threading.Event) -> None:
    for seed in itertools.count(1000):
        if stop.is_set():
            return
        if name == "sync":
            measure.full_sync(reader)
        elif name == "get":
            measure.get_latency(reader, ids, 200)
        else:  # fresh objects each round, so that nothing is an exact re-post
            measure.ingest(reader, list(objects(5000, seed=seed)), 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workload", choices=("sync", "get", "ingest"), default="sync")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    args = parser.parse_args()
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    with tempfile.TemporaryDirectory(prefix="aisx-profile-") as tmp:
        bench = AisxTarget(Path(tmp), args.postgres_url if args.database == "postgres" else None)
        target = bench.start()
        try:
            batch = list(objects(args.size, seed=11, tlps=TLPS, audience=bench.audience))
            print(f"loading {args.size:,} object versions …", flush=True)
            _load(target, batch, None)
            stop = threading.Event()
            worker = threading.Thread(target=_workload, args=(args.workload, target.readers["lab"],
                                                              [o["id"] for o in batch], stop))
            worker.start()
            out = Path(tmp) / "profile.txt"
            subprocess.run([spy, "record", "-p", str(target.pid), "-d", str(int(args.seconds)), "-r", "250", "-f",
                            "raw", "-o", str(out), "--nonblocking", "--subprocesses"], check=True, capture_output=True)
            stop.set()
            worker.join()
            print("\n".join(summarise(out.read_text())))
        finally:
            bench.stop()
            bench.drop()


if __name__ == "__main__":
    main()
