"""Per-key rate limits: ``rpm`` (requests) and ``tpm`` (tokens) per minute.

Before the upstream call a request is charged one request and its prompt tokens
(counted with tiktoken for the model it asks for); when it ends, the token
charge is corrected to the real usage (prompt + completion; nothing for a
request that got no answer). A refusal is a 429 ``rate_limit_exceeded`` with
``Retry-After`` (and ``retry-after-ms``) saying when the request would be
admitted. Every admitted response carries OpenAI's headers for the key's
limits: ``x-ratelimit-limit-requests``, ``x-ratelimit-remaining-requests``,
``x-ratelimit-reset-requests`` and the same for ``-tokens``.

The arithmetic (GCRA, shared through Redis when configured) is ``gateway.gcra``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from gateway.context import RequestContext
from gateway.gcra import Decision, Gcra, Limit
from gateway.runtime import RuntimePlan
from providers.encodings import encoding_name_for_model, load_encoding
from providers.errors import RateLimitedError
from providers.tokens import count_prompt_tokens
from providers.types import ChatRequest, message_text
from routing.state import SharedState

__all__ = ["RateLimitHook", "format_duration", "token_models"]

PERIOD_S = 60.0  # rpm and tpm are per minute
_THREAD_CHARS = 50_000  # about 12k tokens, a millisecond or two of counting
_NOTE = "rate_limit_tokens"


def format_duration(seconds: float) -> str:
    """A duration the way OpenAI writes ``x-ratelimit-reset-*``: ``20ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


def token_models(plan: RuntimePlan) -> dict[str, str]:
    """Arbiter model name → the upstream model id whose tokenizer counts its prompts
    (its first deployment's; a routed model's first candidate's)."""
    models = {name: route.targets[0].model for name, route in plan.routes.items() if route.targets}
    for name, routed in plan.routed.items():
        first = next((models[c] for c in routed.candidates if c in models), None)
        if first is not None:
            models[name] = first
    return models


def _key(name: str, kind: str) -> str:
    """``rl:{<key name>}:<kind>``: the braces keep one key's limits in one Redis Cluster
    slot, as the script that decides them together needs."""
    return f"rl:{{{name}}}:{kind}"


def _text_size(chat: ChatRequest) -> int:
    """Characters of message text: how long counting its tokens will take."""
    return sum(len(message_text(m)) for m in chat.messages)


def _headers(decision: Decision) -> dict[str, str]:
    headers: dict[str, str] = {}
    for state in decision.states:
        headers[f"x-ratelimit-limit-{state.name}"] = str(state.limit)
        headers[f"x-ratelimit-remaining-{state.name}"] = str(state.remaining)
        headers[f"x-ratelimit-reset-{state.name}"] = format_duration(state.reset_s)
    return headers


class RateLimitHook:
    """Refuses requests over the caller's rpm/tpm; corrects the token charge afterwards."""

    def __init__(
        self, store: Callable[[], SharedState | None], plan: RuntimePlan, *, warm: bool = True
    ) -> None:
        self.gcra = Gcra(store)
        self.models = token_models(plan)
        self._corrections: dict[str, set[asyncio.Task[None]]] = {}  # key name → in flight
        if warm:  # load every encoding a prompt may need now, not on a request
            for model in {*self.models.values(), ""}:
                load_encoding(encoding_name_for_model(model))

    async def _limits(self, ctx: RequestContext) -> list[Limit]:
        caller = ctx.caller
        limits = []
        if caller.rpm:
            limits.append(Limit("requests", _key(caller.name, "requests"), caller.rpm, PERIOD_S, 1))
        if caller.tpm:
            model = self.models.get(ctx.chat.model)
            if _text_size(ctx.chat) < _THREAD_CHARS:
                tokens = count_prompt_tokens(ctx.chat, model)
            else:  # tiktoken releases the GIL: a huge prompt is counted off the event loop
                tokens = await asyncio.to_thread(count_prompt_tokens, ctx.chat, model)
            if tokens > caller.tpm:
                raise RateLimitedError(
                    f"Request too large for key '{caller.name}': {tokens} prompt tokens, "
                    f"over its limit of {caller.tpm} tokens per minute.",
                )
            tokens_key = _key(caller.name, "tokens")
            limits.append(Limit("tokens", tokens_key, caller.tpm, PERIOD_S, tokens))
        return limits

    async def on_request(self, ctx: RequestContext) -> None:
        if not (ctx.caller.rpm or ctx.caller.tpm):
            return
        limits = await self._limits(ctx)
        pending = self._corrections.get(ctx.caller.name)
        if pending:  # this key's last corrections land before its next charge
            await asyncio.gather(*list(pending), return_exceptions=True)
        decision = await self.gcra.acquire(limits)
        if not decision.allowed:
            over = [s for s in decision.states if s.wait_s > 0] or list(decision.states)
            what = " and ".join(f"{s.name} per minute (limit {s.limit})" for s in over)
            raise RateLimitedError(
                f"Rate limit reached for key '{ctx.caller.name}' on {what}. "
                f"Please try again in {format_duration(decision.retry_after_s)}.",
                retry_after=decision.retry_after_s,
            )
        if ctx.caller.tpm:
            ctx.notes[_NOTE] = limits[-1].cost
        ctx.response_headers.update(_headers(decision))

    def on_response(self, ctx: RequestContext) -> None:
        charged = ctx.notes.get(_NOTE)
        if charged is None or not ctx.caller.tpm:
            return
        used = 0 if ctx.cache == "hit" else ctx.prompt_tokens + ctx.completion_tokens
        if used != charged:
            name = ctx.caller.name
            limit = Limit("tokens", _key(name, "tokens"), ctx.caller.tpm, PERIOD_S, used - charged)
            if self.gcra.shared:
                self._spawn(name, self.gcra.adjust(limit))
            else:
                self.gcra.adjust_local(limit)

    def _spawn(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        tasks = self._corrections.setdefault(key, set())
        tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            tasks.discard(finished)
            if not tasks:
                self._corrections.pop(key, None)

        task.add_done_callback(done)

    async def aclose(self) -> None:
        """Waits for pending corrections (at shutdown)."""
        while self._corrections:
            tasks = [t for pending in self._corrections.values() for t in pending]
            await asyncio.gather(*tasks, return_exceptions=True)
