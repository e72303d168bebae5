"""What the executor works with and hands out: upstreams, attempts, results.

``routing.executor`` re-exports these names; observers (metrics, the scoreboard)
read ``Attempt``s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from providers.base import ProviderAdapter, Target
from providers.errors import GatewayError
from providers.stream_chunk import Batch
from providers.types import ChatResponse

__all__ = ["Attempt", "AttemptObserver", "Completion", "StreamResult", "Upstream"]


@dataclass(frozen=True, slots=True)
class Upstream:
    """A provider at run time: its adapter and its one shared client."""

    adapter: ProviderAdapter
    client: httpx.AsyncClient


@dataclass(slots=True)
class Attempt:
    """One upstream attempt, as observers see it."""

    model: str
    target: Target
    stream: bool
    latency_s: float = 0.0
    ttft_s: float | None = None
    error: GatewayError | None = None
    usage: dict[str, int] | None = None
    requested: str = ""  # the model the client asked for
    retry: bool = False  # repeats the previous attempt on the same deployment
    fallback: bool = False  # the model is one of the requested model's fallbacks
    probe: bool = False  # tries a deployment whose cooldown ended


class AttemptObserver(Protocol):
    def on_attempt(self, attempt: Attempt) -> None: ...


@dataclass(slots=True)
class Completion:
    response: ChatResponse
    model: str
    target: Target
    attempts: int


@dataclass(slots=True)
class StreamResult:
    """A stream that has produced its first chunks: failover is over, bytes may flow.
    ``first`` is the first upstream read's batch; ``rest`` the batches after it."""

    first: Batch
    rest: AsyncIterator[Batch]
    model: str
    target: Target
    attempts: int
    attempt: Attempt = field(repr=False)
