"""Pairwise preferences per task: how often each model's answer beat another's.

Votes are kept as counts per ordered pair (winner, loser), so the
Bradley-Terry fit built on them cannot depend on the order votes arrived in.
A tie counts half a win each way.
"""

from __future__ import annotations

from routing.ranking.counters import TaskCounters
from routing.state import SharedState

__all__ = ["VoteStore"]

_SEP = "\t"


class VoteStore:
    def __init__(self, *, max_tasks: int = 256) -> None:
        self.counters = TaskCounters("pw", max_tasks=max_tasks)

    def attach(self, shared: SharedState | None) -> None:
        self.counters.attach(shared)

    @property
    def version(self) -> int:
        return self.counters.version

    def tasks(self) -> list[str]:
        return self.counters.tasks()

    async def refresh(self) -> None:
        await self.counters.refresh()

    async def add(self, task: str, winner: str, loser: str, weight: float = 1.0) -> None:
        """One vote for ``winner`` over ``loser``; a negative weight takes one back."""
        if winner != loser:
            await self.counters.incr(task, {f"{winner}{_SEP}{loser}": weight})

    async def add_tie(self, task: str, a: str, b: str, weight: float = 1.0) -> None:
        if a != b:
            await self.counters.incr(
                task, {f"{a}{_SEP}{b}": weight / 2, f"{b}{_SEP}{a}": weight / 2}
            )

    def wins(self, task: str) -> dict[tuple[str, str], float]:
        """(winner, loser) -> votes, for the task."""
        out: dict[tuple[str, str], float] = {}
        for name, count in self.counters.get(task).items():
            winner, _, loser = name.partition(_SEP)
            if loser and count > 0:
                out[(winner, loser)] = count
        return out
