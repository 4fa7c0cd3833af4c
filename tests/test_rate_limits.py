"""Rate limits: per key (429 with Retry-After, shared by the workers) and failed authentication per address."""

import time

import pytest

from tests.support.server import running_server

WINDOW = 3600  # seconds (AISX_RATE_LIMIT_WINDOW): no window ends during a test


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    limits = {"AISX_RATE_LIMIT_PER_MINUTE": "20", "AISX_AUTH_FAILURES_PER_MINUTE": "5",
              "AISX_RATE_LIMIT_WINDOW": str(WINDOW)}
    with running_server(tmp_path_factory.mktemp("limited"), workers=2, settings=limits) as srv:
        yield srv


def _left_in_window() -> float:
    return WINDOW - time.time() % WINDOW


def _within_one_window() -> None:
    """Limits count per window (an hour here): start early enough in one that the whole test falls in it (the
    test waits only in its last 30 seconds, one run in 120)."""
    if _left_in_window() < 30:
        time.sleep(_left_in_window() + 0.5)


def test_a_key_over_its_limit_gets_429_with_retry_after(limited):
    _within_one_window()
    lab = limited.add_participant("busy-lab", "lab")
    statuses = [lab.client.get("collections/").status_code for _ in range(60)]
    assert statuses[0] == 200
    assert 429 in statuses  # both workers count; the total is merged through the database within a second
    refused = next(r for r in (lab.client.get("collections/") for _ in range(3)) if r.status_code == 429)
    assert 0 < int(refused.headers["Retry-After"]) <= WINDOW
    assert abs(int(refused.headers["Retry-After"]) - _left_in_window()) <= 2  # the end of the window
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
    # The other worker learns the count at its next merge through the database (every second): ask until it has,
    # for at most 3 s, with 12 requests (the key's own limit of 20 is not what answers 429).
    for _ in range(12):
        answer = good.client.get("collections/").status_code
        if answer == 429:
            break
        time.sleep(0.25)
    assert answer == 429  # the address is throttled, whatever the key
