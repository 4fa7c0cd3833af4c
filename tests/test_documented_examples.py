"""The AI-extension examples in README.md and feeds/README.md are complete, valid objects: each is posted as
documented and accepted, and lands in the feed whose selector the documentation says it matches."""

import json
import re
from pathlib import Path

import pytest

from tests.support.server import Participant, Server

ROOT = Path(__file__).resolve().parent.parent
AI_THREAT = "extension-definition--58ec9352-2bc3-4b8f-902a-30818e066d96"
PROMPT_INJECTION_FEED = "prompt-injection"


def _examples(doc: str) -> list[dict]:
    blocks = re.findall(r"```json\n(.*?)\n```", (ROOT / doc).read_text(encoding="utf-8"), flags=re.S)
    return [json.loads(b) for b in blocks if AI_THREAT in b]


@pytest.mark.parametrize("doc", ["README.md", "feeds/README.md"])
def test_the_ai_example_is_accepted(server: Server, lab: Participant, shared_collection: str, doc: str) -> None:
    [example] = _examples(doc)
    response = lab.client.post(f"collections/{shared_collection}/objects/", json={"objects": [example]},
                               headers={"Content-Type": "application/taxii+json;version=2.1"})
    assert response.status_code == 202, response.text
    status = response.json()
    assert (status["success_count"], status["failure_count"]) == (1, 0), status
    # the one warning a fresh exchange gives: it holds no ATLAS yet (README says so)
    message = status["successes"][0].get("message", "")
    assert not message or message.endswith("or post the ATLAS attack-pattern first"), message
    assert "custom" not in message


def test_the_examples_are_the_same_object() -> None:
    assert _examples("README.md") == _examples("feeds/README.md")
