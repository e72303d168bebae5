"""A busy gateway remembers its recent answers for feedback in little, fixed memory:
24 bytes an answer, whatever the traffic, and still finds the one feedback names."""

from __future__ import annotations

import gc
import tracemalloc

from routing.ranking.answer_ring import AnswerRing
from routing.ranking.answers import Answer, AnswerLog


class Clock:
    now = 5000.0

    def __call__(self) -> float:
        return self.now


def labels(n: int) -> tuple[str, str, str, str | None]:
    return (f"model-{n % 3}", "general", f"team-{n % 5}", f"model-{n % 3}/openai#0")


# Where a ring's memory is allocated: the ring, and the labels made here. Threads other
# tests left running (servers, log writers) allocate elsewhere and are not counted.
WHERE_THE_RING_ALLOCATES = [
    tracemalloc.Filter(True, "*/routing/ranking/answer_ring.py"),
    tracemalloc.Filter(True, __file__),
]


def traced_bytes() -> int:
    snapshot = tracemalloc.take_snapshot().filter_traces(WHERE_THE_RING_ALLOCATES)
    return sum(stat.size for stat in snapshot.statistics("filename"))


def test_remembering_many_answers_takes_a_fixed_24_bytes_each():
    request_ids = [f"req-{n:032x}" for n in range(20_000)]  # made before measuring
    gc.collect()
    tracemalloc.start()
    try:
        before = traced_bytes()
        ring = AnswerRing(ttl_s=86400, max_entries=10_000, clock=Clock())
        for n, request_id in enumerate(request_ids):
            ring.put(request_id, labels(n))
        gc.collect()
        taken = traced_bytes() - before
    finally:
        tracemalloc.stop()
    assert len(ring) == 10_000  # full, then the oldest were overwritten
    assert taken < 10_000 * 24 + 50_000  # the records, plus the few distinct labels


async def test_feedback_finds_a_recent_answer_and_not_one_the_ring_overwrote():
    log = AnswerLog(ttl_s=600, max_entries=1_000, clock=Clock())
    for n in range(2_500):
        log.remember(Answer(f"req-{n}", *labels(n)))
    assert len(log) == 1_000
    assert await log.lookup("req-2499") == Answer("req-2499", *labels(2499))
    assert await log.lookup("req-1500") == Answer("req-1500", *labels(1500))
    assert await log.lookup("req-1499") is None  # overwritten
    assert await log.lookup("never-seen") is None


async def test_an_answer_is_forgotten_after_its_ttl_not_before():
    clock = Clock()
    log = AnswerLog(ttl_s=60, max_entries=10, clock=clock)
    log.remember(Answer("req-1", *labels(1)))
    clock.now += 59.5
    assert await log.lookup("req-1") is not None
    clock.now += 2
    assert await log.lookup("req-1") is None


def test_a_request_id_reused_later_names_the_later_answer():
    clock = Clock()
    ring = AnswerRing(ttl_s=600, max_entries=10, clock=clock)
    for n in (1, 2):
        ring.put("same-id", labels(n))
        clock.now += 5
    assert ring.get("same-id") == labels(2)


def test_distinct_labels_are_kept_once_each_and_bounded():
    ring = AnswerRing(ttl_s=600, max_entries=100, clock=Clock(), max_labels=2)
    ring.put("a", ("m", "task-a", "k", None))
    ring.put("b", ("m", "task-b", "k", None))
    ring.put("a2", ("m", "task-a", "k", None))  # task-a is used again: b's labels are oldest
    ring.put("c", ("m", "task-c", "k", None))  # a third label set pushes b's out
    assert ring.get("a") == ring.get("a2") == ("m", "task-a", "k", None)
    assert ring.get("c") == ("m", "task-c", "k", None)
    assert ring.get("b") is None  # its labels left the table: forgotten, like an evicted one


def test_a_ttl_longer_than_the_record_can_hold_keeps_the_answer():
    ring = AnswerRing(ttl_s=1e12, max_entries=10, clock=Clock())
    ring.put("req-1", labels(1))
    assert ring.get("req-1") == labels(1)


def test_request_ids_that_differ_only_in_case_or_spacing_name_different_answers():
    ring = AnswerRing(ttl_s=600, max_entries=10, clock=Clock())
    arbiter_id = "4b88267ce13fee1a00000000000051fd"  # what Arbiter gives a request
    lookalikes = [arbiter_id.upper(), "4b 88267ce13fee1a00000000000051f", "4b88267ce13fee1a0"]
    ring.put(arbiter_id, labels(1))
    for n, request_id in enumerate(lookalikes, start=2):
        ring.put(request_id, labels(n))
    assert ring.get(arbiter_id) == labels(1)
    assert [ring.get(request_id) for request_id in lookalikes] == [labels(2), labels(3), labels(4)]
