"""UUIDv7 identifiers: valid, time-ordered, and monotonic within a process."""

import threading
import time
import uuid
from unittest import mock

import pytest

from services.common import ids
from services.common.ids import uuid7


@pytest.fixture(autouse=True)
def fresh_generator():
    """Each test starts from a generator that has made no id, and leaves the
    process's own generator as it found it (the mocked clocks here are fake)."""
    with mock.patch.object(ids, "_last_ms", -1), mock.patch.object(ids, "_last_rand", 0):
        yield


def test_version_variant_and_timestamp():
    before = time.time_ns() // 1_000_000
    made = uuid7()
    after = time.time_ns() // 1_000_000
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_ids_in_one_millisecond_increase_in_the_order_they_were_made():
    with mock.patch.object(ids.time, "time_ns", return_value=1_765_000_000_000 * 10**6):
        made = [uuid7() for _ in range(5_000)]
    assert made == sorted(made) and len(set(made)) == len(made)
    assert {u.int >> 80 for u in made} == {1_765_000_000_000}


def test_a_clock_stepping_back_does_not_reorder_ids():
    with mock.patch.object(ids.time, "time_ns", return_value=1_765_000_000_500 * 10**6):
        first = uuid7()
    with mock.patch.object(ids.time, "time_ns", return_value=1_765_000_000_000 * 10**6):
        second = uuid7()
    assert second > first and second.int >> 80 == first.int >> 80


def test_spent_randomness_borrows_the_next_millisecond():
    with mock.patch.object(ids.time, "time_ns", return_value=1_765_000_000_900 * 10**6):
        first = uuid7()
        with mock.patch.object(ids, "_last_rand", ids._RAND_LIMIT - 1):
            second = uuid7()
    assert second > first and second.int >> 80 == (first.int >> 80) + 1
    assert second.version == 7 and second.variant == uuid.RFC_4122


def test_threads_get_distinct_increasing_ids():
    made: list[list[uuid.UUID]] = [[] for _ in range(8)]

    def make(out: list[uuid.UUID]) -> None:
        out.extend(uuid7() for _ in range(2_000))

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(out == sorted(out) for out in made)
    assert len({u for out in made for u in out}) == 16_000
