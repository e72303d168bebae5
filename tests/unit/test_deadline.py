"""Request deadlines on one shared timer: a waiting attempt is cancelled at its
deadline and told apart from a client that went away; finished requests leave
nothing behind."""

from __future__ import annotations

import asyncio

import pytest

from routing.deadline import DeadlineTimer


async def _wait_armed(timer: DeadlineTimer, wait_s: float) -> str:
    """An attempt as the executor runs it: armed while it waits on the upstream."""
    deadline = timer.start()
    deadline.arm()
    try:
        await asyncio.sleep(wait_s)
    except asyncio.CancelledError:
        deadline.disarm()
        if deadline.caused():
            return "timed out"
        raise
    finally:
        deadline.close()
    deadline.disarm()
    return "answered"


async def test_an_upstream_that_answers_in_time_is_not_disturbed():
    timer = DeadlineTimer(0.2)
    assert await _wait_armed(timer, 0.01) == "answered"


async def test_an_upstream_still_waited_on_at_the_deadline_is_a_timeout():
    timer = DeadlineTimer(0.05)
    assert await _wait_armed(timer, 5.0) == "timed out"


async def test_each_request_keeps_its_own_deadline_on_the_shared_timer():
    timer = DeadlineTimer(0.1)
    slow = asyncio.create_task(_wait_armed(timer, 5.0))
    await asyncio.sleep(0.05)
    later = asyncio.create_task(_wait_armed(timer, 5.0))
    quick = asyncio.create_task(_wait_armed(timer, 0.01))
    assert await slow == "timed out"
    assert not later.done()  # its deadline is 50 ms after the first one's
    assert await quick == "answered"
    assert await later == "timed out"


async def test_a_client_that_goes_away_is_not_mistaken_for_the_deadline():
    timer = DeadlineTimer(5.0)
    task = asyncio.create_task(_wait_armed(timer, 5.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_between_attempts_nothing_is_cancelled_and_passed_tells_the_time():
    timer = DeadlineTimer(0.02)
    deadline = timer.start()
    assert not deadline.passed()
    await asyncio.sleep(0.05)  # not armed: the deadline passes without cancelling us
    assert deadline.passed()
    deadline.close()


async def test_finished_requests_do_not_pile_up_while_one_runs_long():
    timer = DeadlineTimer(60.0)
    long_running = timer.start()
    for _ in range(10_000):
        timer.start().close()
    assert len(timer._queue) < 200  # the long request's later, finished ones are dropped
    assert not long_running.closed and long_running in timer._queue
    long_running.close()
