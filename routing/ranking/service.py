"""The ranking service: the scoreboard, quality scores, votes, recent answers and
the selector, built once at startup and kept in sync with the other replicas.

``start`` attaches the shared state and runs ``sync`` every ``sync_interval_s``
in the background (flush this process's tallies and answers, read back every
replica's); ``aclose`` stops it and flushes one last time. Everything on the
request path (``scoreboard.on_attempt``, ``selector.pick``,
``answers.remember``) is in-memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterable, Mapping

from routing.ranking.answers import Answer, AnswerLog
from routing.ranking.arena import ArenaRanking
from routing.ranking.leaderboard import LeaderboardRow, build_leaderboard
from routing.ranking.quality import MeasuredQuality, QualityStore
from routing.ranking.scoreboard import Scoreboard
from routing.ranking.selector import CandidateSelector
from routing.ranking.votes import VoteStore
from routing.routes import ModelRoute, RoutedModel
from routing.state import SharedState

__all__ = ["RankingService"]

log = logging.getLogger("arbiter.ranking")


class RankingService:
    def __init__(
        self,
        routes: Mapping[str, ModelRoute],
        routed: Mapping[str, RoutedModel],
        *,
        window_s: float = 900.0,
        slice_s: float = 60.0,
        sync_interval_s: float = 1.0,
        min_samples: float = 20.0,
        answers_ttl_s: float = 86400.0,
        answers_max: int = 100_000,
        bootstrap_rounds: int = 200,
        seed: int | None = None,
    ) -> None:
        self.routes = routes
        self.routed = routed
        self.sync_interval_s = sync_interval_s
        self.bootstrap_rounds = bootstrap_rounds
        self.seed = seed if seed is not None else 0
        self.scoreboard = Scoreboard(window_s=window_s, slice_s=min(slice_s, window_s))
        self.quality = QualityStore()
        self.deployment_quality = MeasuredQuality(self.quality)  # for the `quality` strategy
        self.votes = VoteStore()
        self.answers = AnswerLog(ttl_s=answers_ttl_s, max_entries=answers_max)
        self.selector = CandidateSelector(
            self.scoreboard,
            self.quality,
            routes,
            rng=random.Random(seed),
            min_samples=min_samples,
        )
        self._arena: dict[str, tuple[int, ArenaRanking]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._sync_lock = asyncio.Lock()

    async def start(self, shared: SharedState | None) -> None:
        for part in (self.scoreboard, self.quality, self.votes, self.answers):
            part.attach(shared)
        await self.sync()
        self._loop_task = asyncio.create_task(self._run(), name="arbiter-ranking-sync")

    async def aclose(self) -> None:
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.sync()

    async def sync(self) -> None:
        """Share what this process measured and read back what every process did."""
        async with self._sync_lock:
            await self.scoreboard.sync()
            await self.answers.flush()
            await self.quality.refresh()
            await self.votes.refresh()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.sync_interval_s)
            try:
                await self.sync()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad sync
                log.exception("ranking sync failed")

    # -- feedback -------------------------------------------------------------

    async def record_score(self, answer: Answer, score: float) -> None:
        """A 0..1 score for an answer; a second score for it replaces the first."""
        subjects = (answer.model, answer.deployment) if answer.deployment else (answer.model,)
        previous = await self.answers.swap_mark("score:" + answer.request_id, repr(score))
        if previous is None:
            await self.quality.add_feedback(answer.task, subjects, score, 1.0)
        else:
            await self.quality.add_feedback(answer.task, subjects, score - float(previous), 0.0)

    async def record_preference(self, preferred: Answer, other: Answer) -> None:
        """``preferred`` beat ``other`` (one vote per pair of answers; a new one replaces it)."""
        pair = "|".join(sorted((preferred.request_id, other.request_id)))
        previous = await self.answers.swap_mark("pair:" + pair, preferred.request_id)
        if previous == preferred.request_id:
            return
        if previous is not None:
            await self.votes.add(preferred.task, other.model, preferred.model, -1.0)
        await self.votes.add(preferred.task, preferred.model, other.model, 1.0)

    # -- reading --------------------------------------------------------------

    async def arena(self, task: str) -> ArenaRanking:
        """The Bradley-Terry ranking of the task's votes (refitted when votes change)."""
        version = self.votes.version
        cached = self._arena.get(task)
        if cached is not None and cached[0] == version:
            return cached[1]
        wins = self.votes.wins(task)
        ranking = ArenaRanking()
        if wins:
            from routing.ranking.bradley_terry import rank_pairwise  # numpy: loaded on first use

            ranking = await asyncio.to_thread(
                rank_pairwise, wins, rounds=self.bootstrap_rounds, seed=self.seed
            )
        self._arena[task] = (version, ranking)
        return ranking

    def tasks(self) -> list[str]:
        return sorted({"general", *self.quality.tasks(), *self.votes.tasks()})

    def ranked_models(self, allowed: Iterable[str] | None = None) -> list[str]:
        """Served models worth a row: those with a live deployment or any measurement."""
        measured = set(self.scoreboard.models())
        names = [n for n, r in self.routes.items() if r.targets or n in measured]
        if allowed is not None:
            keep = set(allowed)
            names = [n for n in names if n in keep]
        return names

    async def leaderboard(
        self, task: str, models: Iterable[str] | None = None
    ) -> list[LeaderboardRow]:
        names = list(models) if models is not None else self.ranked_models()
        return build_leaderboard(
            names,
            quality=lambda m: self.quality.quality(m, task),
            sources=lambda m: self.quality.sources(m, task),
            stats=self.scoreboard.models(),
            arena=await self.arena(task),
            list_cost=self.selector.list_price,
        )
