"""OpenAI-compatible upstreams as data rows, served by ``openai_compat.py``.

A provider of type ``openai-compatible`` may name a ``preset`` whose row fills in
the base URL and quirks; its own ``base_url`` always wins. The quirks come from
each provider's OpenAI-compatibility page:

- ``reject_params``: fields the upstream answers with an error (or ignores, which
  is worse): Arbiter refuses them with a 400 naming the field, or drops them when
  the provider sets ``drop_unsupported: true``;
- ``single_choice``: the upstream returns one choice, so ``n > 1`` is a 400;
- ``message_names``: False when ``messages[].name`` is rejected (it is removed);
- ``stream_usage``: whether ``stream_options.include_usage`` is accepted;
- ``auth_header``: ``""`` for local servers that need no key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.base import Capabilities
from providers.errors import InvalidRequestError
from providers.openai_compat import Flavor, OpenAICompatAdapter

__all__ = ["PRESETS", "compatible_adapter", "openai_adapter"]

OPENAI = Flavor(name="openai", base_url="https://api.openai.com/v1")

_LOGPROBS = frozenset({"logprobs", "top_logprobs", "logit_bias"})

# The presets: name -> flavor. Each is listed in the README.
PRESETS: dict[str, Flavor] = {
    "generic": Flavor(name="openai-compatible"),
    "groq": Flavor(
        name="groq",
        base_url="https://api.groq.com/openai/v1",
        reject_params=_LOGPROBS,
        single_choice=True,
        message_names=False,
    ),
    "together": Flavor(name="together", base_url="https://api.together.xyz/v1"),
    "fireworks": Flavor(name="fireworks", base_url="https://api.fireworks.ai/inference/v1"),
    "deepseek": Flavor(
        name="deepseek",
        base_url="https://api.deepseek.com/v1",
        reject_params=frozenset({"logit_bias"}),
        single_choice=True,
    ),
    "openrouter": Flavor(name="openrouter", base_url="https://openrouter.ai/api/v1"),
    "xai": Flavor(name="xai", base_url="https://api.x.ai/v1"),
    "perplexity": Flavor(
        name="perplexity",
        base_url="https://api.perplexity.ai",
        reject_params=_LOGPROBS | {"tools", "tool_choice", "parallel_tool_calls"},
        single_choice=True,
        stream_usage=False,  # usage comes in the stream's chunks unasked
        capabilities=Capabilities(tools=False),
    ),
    "vllm": Flavor(name="vllm", base_url="http://127.0.0.1:8000/v1"),
    "ollama": Flavor(
        name="ollama",
        base_url="http://127.0.0.1:11434/v1",
        auth_header="",
        reject_params=frozenset({"logit_bias", "tool_choice"}),
        single_choice=True,
    ),
    "llamacpp": Flavor(
        name="llamacpp",
        base_url="http://127.0.0.1:8080/v1",
        single_choice=True,
        stream_usage=False,
    ),
    "tgi": Flavor(
        name="tgi",
        base_url="http://127.0.0.1:8080/v1",
        single_choice=True,
        stream_usage=False,
        reject_params=frozenset({"parallel_tool_calls"}),
    ),
}


def openai_adapter(options: Mapping[str, Any]) -> OpenAICompatAdapter:
    return OpenAICompatAdapter(OPENAI, options)


def compatible_adapter(options: Mapping[str, Any]) -> OpenAICompatAdapter:
    preset = options.get("preset") or "generic"
    if preset not in PRESETS:
        raise InvalidRequestError(f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    return OpenAICompatAdapter(PRESETS[preset], options)
