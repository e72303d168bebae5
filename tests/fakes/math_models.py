"""Mock models of known arithmetic quality, latency and price, and questions to ask them.

``math-good``, ``math-ok`` and ``math-cheap`` answer right 95 %, 80 % and 60 % of
the time (decided per question by a hash, so the same question always gets the
same answer), as in config.example.yaml.
"""

from __future__ import annotations

import random
import re
from typing import Any

TRUE_QUALITY = {"math-good": 0.95, "math-ok": 0.8, "math-cheap": 0.6}
PRICES = {"math-good": (3.0, 12.0), "math-ok": (0.5, 2.0), "math-cheap": (0.1, 0.4)}
LATENCY_MS = {"math-good": 40.0, "math-ok": 15.0, "math-cheap": 5.0}
SEEDS = {"math-good": 1, "math-ok": 2, "math-cheap": 3}


def math_model(
    name: str, accuracy: float, price: tuple[float, float], latency_ms: float, seed: int
) -> dict[str, Any]:
    return {
        "deployments": [
            {
                "provider": "local",
                "model": f"mock-{name}",
                "input_cost_per_mtok": price[0],
                "output_cost_per_mtok": price[1],
                "mock": {
                    "reply": "arithmetic",
                    "accuracy": accuracy,
                    "latency_ms": latency_ms,
                    "seed": seed,
                },
            }
        ]
    }


def math_config(
    *,
    latency_ms: dict[str, float] | None = None,
    redis_url: str | None = None,
    key_prefix: str | None = None,
    auto: dict[str, Any] | None = None,
    **ranking: Any,
) -> dict[str, Any]:
    """The three math mocks, a routed ``auto`` over them, no response cache."""
    latency = {**LATENCY_MS, **(latency_ms or {})}
    models = {
        name: math_model(name, TRUE_QUALITY[name], PRICES[name], latency[name], SEEDS[name])
        for name in TRUE_QUALITY
    }
    models["auto"] = {
        "candidates": list(TRUE_QUALITY),
        "prefer": "cost",
        "min_quality": 0.75,
        **(auto or {}),
    }
    state: dict[str, Any] = {}
    if redis_url:
        state["redis_url"] = redis_url
    if key_prefix:
        state["key_prefix"] = key_prefix
    return {
        "providers": {"local": {"type": "mock"}},
        "models": models,
        "state": state,
        "cache": {"enabled": False},
        "ranking": {"seed": 7, "sync_interval_s": 0.2, **ranking},
    }


def questions(n: int, seed: int = 0) -> list[tuple[str, int]]:
    """``n`` distinct questions "What is A + B?" with their answers."""
    rng = random.Random(seed)
    seen: set[tuple[int, int]] = set()
    out = []
    while len(out) < n:
        a, b = rng.randint(10, 999), rng.randint(10, 999)
        if (a, b) not in seen:
            seen.add((a, b))
            out.append((f"What is {a} + {b}?", a + b))
    return out


def is_right(answer: str, truth: int) -> bool:
    numbers = re.findall(r"-?\d+", answer)
    return bool(numbers) and int(numbers[-1]) == truth


def mock_upstream_calls(server: Any, provider: str = "local") -> int:
    """How many requests the in-process mock upstream of a running Arbiter has answered."""
    client = server.config.app.state.upstreams[provider].client
    return int(client._transport.requests)  # the MockUpstream transport counts its requests
