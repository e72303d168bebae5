"""Ranking: measure every model, rank them, and route routed models by rank.

Pure logic over plain data; shared across replicas through ``routing.state``.
The Bradley-Terry fit needs numpy (~14 MB resident), so ``fit_strengths`` and
``rank_pairwise`` load it on first use: a gateway that never ranks votes never
imports it.
"""

from typing import Any

from routing.ranking.answers import Answer, AnswerLog
from routing.ranking.arena import ArenaRanking
from routing.ranking.constraints import (
    Constraints,
    Decision,
    RoutingRequest,
    current_request,
    parse_constraints,
    request_task,
)
from routing.ranking.leaderboard import LeaderboardRow, build_leaderboard, pareto_front
from routing.ranking.quality import (
    MeasuredQuality,
    QualityEstimate,
    QualityStore,
    wilson_interval,
)
from routing.ranking.scoreboard import Scoreboard
from routing.ranking.selector import CandidateSelector
from routing.ranking.service import RankingService
from routing.ranking.tally import Stats
from routing.ranking.votes import VoteStore

__all__ = [
    "Answer",
    "AnswerLog",
    "ArenaRanking",
    "CandidateSelector",
    "Constraints",
    "Decision",
    "LeaderboardRow",
    "MeasuredQuality",
    "QualityEstimate",
    "QualityStore",
    "RankingService",
    "RoutingRequest",
    "Scoreboard",
    "Stats",
    "VoteStore",
    "build_leaderboard",
    "current_request",
    "fit_strengths",
    "pareto_front",
    "parse_constraints",
    "rank_pairwise",
    "request_task",
    "wilson_interval",
]


def __getattr__(name: str) -> Any:
    if name in ("fit_strengths", "rank_pairwise"):
        from routing.ranking import bradley_terry

        return getattr(bradley_terry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
