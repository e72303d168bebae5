"""What one chat request carries through the gateway, and the hook contract.

A ``RequestContext`` is created when a request arrives and finished exactly
once, when its response is complete (JSON sent, stream ended, or error). A
JSON answer is sent first and its hooks run right after, in the same step of
the event loop: what the client waits for does not include them.
Features that act on every request (limits, budgets, metrics, access log,
scoreboard) are ``RequestHook``s: ``on_request`` may refuse the request by
raising a GatewayError (a hook whose ``on_request`` never does anything may set
``acts_on_request = False``: it is then not called); ``on_response`` records
what happened and must be cheap and never raise.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.auth import Caller
from gateway.errors import resolve_error
from providers.base import Target
from providers.errors import GatewayError
from providers.types import ChatChunk, ChatRequest, ChatResponse

__all__ = ["RequestContext", "RequestHook", "acting_on_request"]


@dataclass(slots=True)
class RequestContext:
    request_id: str
    caller: Caller
    chat: ChatRequest
    task: str = "general"
    headers: Mapping[str, str] = field(default_factory=dict)  # the client's request headers
    started: float = field(default_factory=time.perf_counter)
    # Filled in as the request is served:
    model: str | None = None  # the model that answered (after fallbacks)
    provider: str | None = None
    upstream_model: str | None = None
    attempts: int = 0
    cache: str = "miss"  # hit | miss | bypass
    status: str = "ok"  # ok | error | cancelled
    http_status: int = 200
    error: GatewayError | None = None
    ttft_s: float | None = None
    latency_s: float | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    priced: bool = False  # cost_usd is final (``gateway.costs.CostHook.price``)
    response: ChatResponse | None = None  # the JSON answer (not for streams)
    chunks: list[ChatChunk] | None = None  # a hook sets [] in on_request to keep a stream's chunks
    response_headers: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)  # per-feature scratch space

    def served_by(self, model: str, target: Target, attempts: int) -> None:
        """The model and deployment that answered, after ``attempts`` attempts."""
        self.model, self.provider, self.attempts = model, target.provider, attempts
        self.upstream_model = target.model

    def finish(self, hooks: Sequence[RequestHook]) -> None:
        """The response is complete: every hook hears of it, once."""
        self.latency_s = time.perf_counter() - self.started
        for hook in hooks:
            hook.on_response(self)

    def fail(self, error: GatewayError, hooks: Sequence[RequestHook]) -> None:
        """The request ends in ``error`` (with the status the caller sees)."""
        self.status, self.error = "error", error
        self.http_status = resolve_error(error).http_status
        self.finish(hooks)

    @property
    def prompt_tokens(self) -> int:
        return int((self.usage or {}).get("prompt_tokens") or 0)

    @property
    def completion_tokens(self) -> int:
        return int((self.usage or {}).get("completion_tokens") or 0)


def acting_on_request(hooks: Sequence[RequestHook]) -> list[RequestHook]:
    """The hooks whose ``on_request`` may do something: a hook whose ``on_request``
    never does says so with ``acts_on_request = False``, and is not awaited (each
    await of a coroutine that returns at once is paid on every request)."""
    return [hook for hook in hooks if getattr(hook, "acts_on_request", True)]


class RequestHook(Protocol):
    async def on_request(self, ctx: RequestContext) -> None:
        """Before routing; raise a GatewayError to refuse the request."""
        ...

    def on_response(self, ctx: RequestContext) -> None:
        """Once, when the response is complete; never raises."""
        ...
