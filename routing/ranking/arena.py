"""What a Bradley-Terry fit of pairwise votes says: scores, win rates and their
intervals per model. Plain data, so that reading a ranking never loads numpy;
the fit itself is ``routing.ranking.bradley_terry``."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ArenaRanking"]


@dataclass(frozen=True, slots=True)
class ArenaRanking:
    models: tuple[str, ...] = ()
    score: dict[str, float] = field(default_factory=dict)  # Elo scale
    score_low: dict[str, float] = field(default_factory=dict)
    score_high: dict[str, float] = field(default_factory=dict)
    win_rate: dict[str, float] = field(default_factory=dict)  # vs a random other model
    win_low: dict[str, float] = field(default_factory=dict)
    win_high: dict[str, float] = field(default_factory=dict)
    votes: dict[str, float] = field(default_factory=dict)  # votes the model took part in

    def order(self) -> list[str]:
        """Models from strongest to weakest (name breaks exact ties)."""
        return sorted(self.models, key=lambda m: (-self.score[m], m))
