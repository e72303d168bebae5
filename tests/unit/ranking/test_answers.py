"""Recent answers are remembered for feedback: bounded, expiring, shared through Redis."""

from __future__ import annotations

from routing.ranking.answers import Answer, AnswerLog
from routing.state import SharedState
from tests.fakes.redis_space import REDIS_URL, redis_space


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def answer(request_id: str, model: str = "m") -> Answer:
    return Answer(request_id=request_id, model=model, task="general", caller="team-a")


async def test_answers_expire_and_the_oldest_go_first_when_full():
    clock = Clock()
    log = AnswerLog(ttl_s=60, max_entries=3, clock=clock)
    for i in range(4):
        log.remember(answer(f"r{i}"))
    assert len(log) == 3
    assert await log.lookup("r0") is None  # evicted: the log is bounded
    assert (await log.lookup("r3")).model == "m"
    clock.now += 61
    assert await log.lookup("r3") is None  # expired


async def test_marks_return_what_they_replace():
    log = AnswerLog()
    assert await log.swap_mark("score:r1", "1.0") is None
    assert await log.swap_mark("score:r1", "0.0") == "1.0"


async def test_an_answer_given_by_one_replica_is_found_by_another():
    async with redis_space("answers") as prefix:
        states = [SharedState.from_url(REDIS_URL, prefix=prefix) for _ in range(2)]
        here, there = AnswerLog(ttl_s=60), AnswerLog(ttl_s=60)
        here.attach(states[0])
        there.attach(states[1])
        here.remember(answer("req-1", model="math-ok"))
        assert await there.lookup("req-1") is None  # not flushed yet
        await here.flush()
        found = await there.lookup("req-1")
        assert found == answer("req-1", model="math-ok")
        assert await there.swap_mark("score:req-1", "1.0") is None
        assert await here.swap_mark("score:req-1", "0.5") == "1.0"  # the mark is shared too
        for state in states:
            await state.aclose()
