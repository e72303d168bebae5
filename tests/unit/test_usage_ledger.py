"""Usage and spend land on the UTC day a request ended, and in the total, whatever the
order of keys, models and days the requests came in."""

from __future__ import annotations

from gateway.usage import UsageLedger, UsageRow
from tests.fakes.clock import NOON, FakeClock


def ledger_at(clock: FakeClock) -> UsageLedger:
    return UsageLedger(lambda: None, clock=clock)


async def test_usage_on_either_side_of_midnight_counts_on_its_own_day_and_in_total():
    clock = FakeClock(NOON + 12 * 3600 - 1)  # 2025-06-15 23:59:59 UTC
    ledger = ledger_at(clock)
    ledger.record("team", "gpt", {"prompt_tokens": 10, "completion_tokens": 5}, 0.25)
    ledger.record("team", "gpt", {"prompt_tokens": 1, "completion_tokens": 2}, 0.5)
    clock.advance(2)  # 2025-06-16
    ledger.record("team", "gpt", {"prompt_tokens": 100, "completion_tokens": 50}, 1.0)
    ledger.record("other", "gpt", None, 0.0)
    assert await ledger.rows(["2025-06-15"]) == [UsageRow("team", "gpt", 2, 11, 7, 0.75)]
    assert await ledger.rows(["2025-06-16"]) == [
        UsageRow("other", "gpt", 1, 0, 0, 0.0),
        UsageRow("team", "gpt", 1, 100, 50, 1.0),
    ]
    assert await ledger.rows(["total"]) == [
        UsageRow("other", "gpt", 1, 0, 0, 0.0),
        UsageRow("team", "gpt", 3, 111, 57, 1.75),
    ]
    assert await ledger.daily_spend("team", ["2025-06-15", "2025-06-16"]) == [0.75, 1.0]
    assert await ledger.daily_spend("team", ["total"]) == [1.75]
    assert await ledger.daily_spend("nobody", ["2025-06-16", "total"]) == [0.0, 0.0]


async def test_a_clock_set_back_to_an_earlier_day_counts_there_again():
    clock = FakeClock()
    ledger = ledger_at(clock)
    ledger.record("team", "gpt", None, 1.0)
    clock.advance(86400)
    ledger.record("team", "gpt", None, 2.0)
    clock.advance(-86400)  # e.g. a corrected system clock
    ledger.record("team", "gpt", None, 4.0)
    assert await ledger.daily_spend("team", ["2025-06-15", "2025-06-16", "total"]) == [
        5.0,
        2.0,
        7.0,
    ]
    assert [row.requests for row in await ledger.rows(["2025-06-15"])] == [2]
