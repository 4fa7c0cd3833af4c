"""Embargoed objects sharing one embargo end (issue 12, class 9): how long one POST of an envelope of N such
objects takes, envelope after envelope into the same collection, and how long after the end of the embargo the
last of them becomes visible.

```sh
.venv/bin/python -m bench.embargo                                  # SQLite, 2 envelopes of 1,000
.venv/bin/python -m bench.embargo --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test
.venv/bin/python -m bench.embargo --app-path /tmp/aisx-old         # the server from another checkout
```

``--app-path`` runs the server from another checkout of AISX (e.g. ``git worktree add /tmp/aisx-old c550000``)
so the figures before and after a change come from the same harness."""

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

from bench.targets import AisxTarget
from tests.sharing_helpers import sdo
from tests.support.stix import TLP_GREEN


def _stamp(seconds_from_now: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _visible(client: httpx.Client, url: str, ids: set[str]) -> int:
    """How many of ``ids`` the client sees in the collection's manifest (following ``next``)."""
    seen, query = 0, {"limit": "10000"}
    while True:
        body = client.get(f"{url}manifest/", params=query).json()
        seen += sum(1 for r in body.get("objects", []) if r["id"] in ids)
        if not body.get("more"):
            return seen
        query = {"limit": "10000", "next": body["next"]}


def run(postgres_url: str | None, objects: int, envelopes: int, lead: float,
        timeout: float = 600) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as workdir:
        target = AisxTarget(Path(workdir), postgres_url)
        target.start()
        try:
            writer = target.reader("writer")
            audience = writer.client.post(f"{target.server.base_url}/admin/audiences",
                                          json={"embargo_until": _stamp(lead)})
            audience.raise_for_status()
            until = audience.json()["extensions"]
            until = next(iter(until.values()))["embargo_until"]
            marking = [TLP_GREEN, audience.json()["id"]]
            posts: list[float | str] = []
            ids: set[str] = set()
            for _ in range(envelopes):
                batch = [sdo(marking=marking) for _ in range(objects)]
                ids |= {o["id"] for o in batch}
                start = time.perf_counter()
                try:
                    response = writer.client.post(f"{writer.collection_url}objects/",
                                                  content=orjson.dumps({"objects": batch}), timeout=timeout)
                except httpx.TimeoutException:
                    posts.append(f"> {timeout:.0f} (gave up)")
                    return {"database": target.kind, "objects_per_envelope": objects, "post_seconds": posts}
                posts.append(round(time.perf_counter() - start, 3))
                assert response.status_code == 202 and response.json()["success_count"] == objects, response.text
            end = datetime.fromisoformat(until.replace("Z", "+00:00"))
            posted_before_end = datetime.now(UTC) < end
            while _visible(writer.client, writer.collection_url, ids) < len(ids):
                time.sleep(0.02)
            visible_after = (datetime.now(UTC) - end).total_seconds()
        finally:
            target.stop()
            target.drop()
    return {"database": target.kind, "objects_per_envelope": objects, "post_seconds": posts,
            "all_posted_before_the_end": posted_before_end, "all_visible_seconds_after_the_end": round(
                visible_after, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--objects", type=int, default=1000, help="objects per envelope")
    parser.add_argument("--envelopes", type=int, default=2, help="envelopes posted under the same embargo end")
    parser.add_argument("--lead", type=float, default=30.0,
                        help="seconds from minting the embargo to its end (the posts should finish before)")
    parser.add_argument("--app-path", default=None, help="run the server from this AISX checkout")
    args = parser.parse_args()
    if args.app_path:
        os.environ["PYTHONPATH"] = args.app_path
    print(orjson.dumps(run(args.postgres_url, args.objects, args.envelopes, args.lead)).decode())


if __name__ == "__main__":
    main()
