"""Settings → what runs: provider upstreams, model routes, and what is disabled and why.

``plan_runtime`` is pure (it builds adapters and routes, opens nothing), so
``arbiter check`` can print the same plan the server uses. ``open_upstreams``
creates the one shared httpx client per provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
from pydantic import SecretStr

from gateway.config import DeploymentSettings, ProviderSettings, Settings
from providers.base import ProviderAdapter, Target
from providers.errors import GatewayError
from providers.prices import resolve_prices
from providers.registry import PROVIDER_TYPES, create_adapter, default_transport
from providers.transport import build_client
from routing.executor import Upstream
from routing.routes import ModelRoute, RoutedModel

__all__ = ["RuntimePlan", "open_upstreams", "plan_runtime"]


@dataclass(slots=True)
class RuntimePlan:
    adapters: dict[str, ProviderAdapter] = field(default_factory=dict)
    providers: dict[str, ProviderSettings] = field(default_factory=dict)
    disabled: dict[str, str] = field(default_factory=dict)  # provider name -> reason
    routes: dict[str, ModelRoute] = field(default_factory=dict)
    routed: dict[str, RoutedModel] = field(default_factory=dict)

    def servable(self, model: str) -> bool:
        """True when the model (or one of its fallbacks or candidates) has a live deployment."""
        return self._servable(model, set())

    def _servable(self, model: str, seen: set[str]) -> bool:
        if model in seen:
            return False
        seen.add(model)
        if model in self.routed:
            return any(self._servable(c, seen) for c in self.routed[model].candidates)
        route = self.routes.get(model)
        if route is None:
            return False
        return bool(route.targets) or any(self._servable(f, seen) for f in route.fallbacks)


def _disabled_reason(name: str, provider: ProviderSettings, variable: str | None) -> str | None:
    if PROVIDER_TYPES.get(provider.type) is None:
        return f"provider type {provider.type!r} is not available in this build"
    if PROVIDER_TYPES[provider.type].requires_key and provider.resolved_key() is None:
        if provider.api_key_file:
            return f"api_key_file {str(provider.api_key_file)!r} is missing or empty"
        if variable:
            return f"{variable} is empty"
        return "api_key is empty (set it in the config or its environment variable)"
    missing = [key for key in PROVIDER_TYPES[provider.type].requires if not _is_set(provider, key)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        return f"{' and '.join(missing)} {verb} empty (set in the config or the environment)"
    return None


def _is_set(provider: ProviderSettings, key: str) -> bool:
    value = getattr(provider, key, None)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return bool(value)


def _target(model: str, index: int, settings: Settings, dep: DeploymentSettings) -> Target:
    provider = settings.providers[dep.provider]
    options = provider.options()
    if dep.mock is not None:
        options["mock"] = dep.mock.model_dump()
    if dep.deployment:
        options["deployment"] = dep.deployment
    input_cost, output_cost, cached_cost = resolve_prices(
        dep.model, dep.input_cost_per_mtok, dep.output_cost_per_mtok, dep.cached_input_cost_per_mtok
    )
    return Target(
        id=f"{model}/{dep.provider}/{dep.model}#{index}",
        model_name=model,
        provider=dep.provider,
        provider_type=provider.type,
        model=dep.model,
        base_url=provider.base_url,
        api_key=provider.resolved_key(),
        timeout_s=provider.timeout_s,
        input_cost_per_mtok=input_cost,
        output_cost_per_mtok=output_cost,
        cached_input_cost_per_mtok=cached_cost,
        weight=dep.weight,
        quality=dep.quality,
        headers={**provider.headers, **dep.headers},
        options=options,
    )


def plan_runtime(settings: Settings) -> RuntimePlan:
    plan = RuntimePlan()
    for name, provider in settings.providers.items():
        reason = _disabled_reason(name, provider, settings.key_variable(name))
        if reason is None:
            try:
                plan.adapters[name] = create_adapter(provider.type, provider.options())
            except GatewayError as exc:
                reason = exc.message
        if reason is not None:
            plan.disabled[name] = reason
        else:
            plan.providers[name] = provider
    for name, model in settings.models.items():
        if model.routed:
            plan.routed[name] = RoutedModel(
                name=name,
                candidates=tuple(model.candidates),
                prefer=model.prefer,
                min_quality=model.min_quality,
                max_p95_latency_ms=model.max_p95_latency_ms,
                max_cost_per_mtok=model.max_cost_per_mtok,
                explore=model.explore,
                max_quality_gap=model.max_quality_gap,
            )
            continue
        targets = tuple(
            _target(name, i, settings, dep)
            for i, dep in enumerate(model.deployments)
            if dep.provider in plan.adapters
        )
        plan.routes[name] = ModelRoute(
            name=name,
            targets=targets,
            strategy=model.strategy,
            fallbacks=tuple(model.fallbacks),
            context_window_fallbacks=tuple(model.context_window_fallbacks),
            cache=model.cache,
        )
    return plan


def open_upstreams(
    plan: RuntimePlan, transport: httpx.AsyncBaseTransport | None = None
) -> Mapping[str, Upstream]:
    """One shared client per enabled provider. ``transport`` (tests) replaces the
    network for every provider that has no in-process transport of its own."""
    upstreams: dict[str, Upstream] = {}
    for name, adapter in plan.adapters.items():
        provider = plan.providers[name]
        own = default_transport(provider.type)
        client = build_client(
            timeout_s=provider.timeout_s,
            max_connections=provider.max_connections,
            transport=own or transport,
        )
        upstreams[name] = Upstream(adapter=adapter, client=client)
    return upstreams
