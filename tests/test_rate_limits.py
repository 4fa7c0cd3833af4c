"""Rate limits: per key (429 with Retry-After, shared by the workers) and failed authentication per address."""

import time

import pytest

from tests.support.server import running_server


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    limits = {"AISX_RATE_LIMIT_PER_MINUTE": "20", "AISX_AUTH_FAILURES_PER_MINUTE": "5"}
    with running_server(tmp_path_factory.mktemp("limited"), workers=2, settings=limits) as srv:
        yield srv


def _within_one_window() -> None:
    """Limits count per clock minute: start early in one, so the whole test falls in the same window."""
    second = time.time() % 60
    if second > 40:
        time.sleep(61 - second)


def test_a_key_over_its_limit_gets_429_with_retry_after(limited):
    _within_one_window()
    lab = limited.add_participant("busy-lab", "lab")
    statuses = [lab.client.get("collections/").status_code for _ in range(60)]
    assert statuses[0] == 200
    assert 429 in statuses  # both workers count; the total is merged through the database within a second
    refused = next(r for r in (lab.client.get("collections/") for _ in range(3)) if r.status_code == 429)
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["http_status"] == "429"
    other = limited.add_participant("quiet-lab", "lab")
    assert other.client.get("collections/").status_code == 200  # the limit is per key


def test_repeated_failed_authentication_is_throttled_per_address(limited):
    good = limited.add_participant("locked-out-lab", "lab")
    _within_one_window()
    with limited.client("aisx_s_wrong") as client:
        statuses = [client.get("collections/").status_code for _ in range(12)]
    assert statuses[:5] == [401] * 5
    assert statuses[-1] == 429
    time.sleep(2.5)  # the other worker learns the count at the next merge through the database (every second)
    assert good.client.get("collections/").status_code == 429  # the address is throttled, whatever the key
