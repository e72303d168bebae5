"""The YAML config (INTERFACE.md): pydantic models, ``${VAR}`` interpolation, validation.

Loaded and validated once, in the CLI or ``create_app``; errors name the key path
and its line in the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from providers.registry import PROVIDER_TYPES

__all__ = [
    "CacheSettings",
    "ConfigError",
    "DeploymentSettings",
    "KeySettings",
    "ModelSettings",
    "ProviderSettings",
    "RankingSettings",
    "Settings",
    "TracingSettings",
    "interpolate",
    "load_settings",
    "parse_settings",
]

Strategy = Literal["cost", "latency", "weighted", "least-busy", "quality", "priority"]


class ConfigError(Exception):
    """An invalid config file; the message is meant for the person who wrote it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    master_key: SecretStr | None = None
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    shutdown_grace_s: float = Field(default=30.0, ge=0)


class StateSettings(_Strict):
    redis_url: str | None = None  # empty or unset: state lives in this process
    key_prefix: str = "arbiter:"


class ProviderSettings(_Strict):
    type: str  # a key of providers.registry.PROVIDER_TYPES
    base_url: str = ""
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)
    headers: dict[str, str] = Field(default_factory=dict)
    # Provider-specific options; each adapter reads the ones it needs.
    preset: str | None = None
    api_version: str | None = None
    region: str | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    default_max_tokens: int | None = Field(default=None, ge=1)
    drop_unsupported: bool = False  # drop request fields the provider cannot honour (else 400)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in PROVIDER_TYPES:
            raise ValueError(
                f"unknown provider type {value!r}; known: {', '.join(sorted(PROVIDER_TYPES))}"
            )
        return value

    def resolved_key(self) -> SecretStr | None:
        if self.api_key and self.api_key.get_secret_value():
            return self.api_key
        if self.api_key_file:
            try:
                text = self.api_key_file.read_text().strip()
            except OSError:
                return None
            return SecretStr(text) if text else None
        return None

    def options(self) -> dict[str, Any]:
        """The provider-specific options, for adapters (secrets stay SecretStr)."""
        return self.model_dump(
            exclude={
                "type",
                "base_url",
                "api_key",
                "api_key_file",
                "timeout_s",
                "max_connections",
                "headers",
            },
            exclude_none=True,
        )


class MockSettings(_Strict):
    reply: Literal["echo", "arithmetic"] = "echo"
    accuracy: float = Field(default=1.0, ge=0, le=1)
    latency_ms: float = Field(default=0.0, ge=0)
    tokens_per_s: float = Field(default=0.0, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    seed: int = 0


class DeploymentSettings(_Strict):
    provider: str
    model: str
    input_cost_per_mtok: float | None = Field(default=None, ge=0)
    output_cost_per_mtok: float | None = Field(default=None, ge=0)
    cached_input_cost_per_mtok: float | None = Field(default=None, ge=0)
    weight: float = Field(default=1.0, gt=0)
    quality: float | None = Field(default=None, ge=0, le=1)
    deployment: str | None = None  # Azure deployment name
    headers: dict[str, str] = Field(default_factory=dict)
    mock: MockSettings | None = None


class ModelSettings(_Strict):
    # A served model: deployments, tried by strategy, then fallbacks.
    deployments: list[DeploymentSettings] = Field(default_factory=list)
    strategy: Strategy = "priority"
    fallbacks: list[str] = Field(default_factory=list)
    context_window_fallbacks: list[str] = Field(default_factory=list)
    cache: bool = True
    # A routed model: picks one of ``candidates`` per request by measured rank.
    candidates: list[str] = Field(default_factory=list)
    prefer: Literal["quality", "cost", "latency"] = "quality"
    min_quality: float | None = Field(default=None, ge=0, le=1)
    max_p95_latency_ms: float | None = Field(default=None, gt=0)
    max_cost_per_mtok: float | None = Field(default=None, ge=0)
    explore: float = Field(default=0.05, ge=0, le=1)
    max_quality_gap: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _one_kind(self) -> ModelSettings:
        if bool(self.deployments) == bool(self.candidates):
            raise ValueError("a model needs either 'deployments' or 'candidates' (not both)")
        return self

    @property
    def routed(self) -> bool:
        return bool(self.candidates)


class RoutingSettings(_Strict):
    retries: int = Field(default=2, ge=0, le=10)
    cooldown_s: float = Field(default=30.0, ge=0)
    allowed_fails: int = Field(default=3, ge=1)
    timeout_s: float = Field(default=120.0, gt=0)
    backoff_base_s: float = Field(default=0.25, ge=0)
    backoff_max_s: float = Field(default=8.0, ge=0)
    error_rate_window_s: float = Field(default=10.0, gt=0)
    max_error_rate: float = Field(default=0.5, gt=0, le=1)
    min_attempts_for_error_rate: int = Field(default=10, ge=1)
    latency_decay_s: float = Field(default=10.0, gt=0)
    state_sync_s: float = Field(default=0.5, gt=0)


class CacheSettings(_Strict):
    enabled: bool = True
    ttl_s: float = Field(default=600.0, gt=0)
    scope: Literal["key", "global"] = "key"
    # In-process cache only (no state.redis_url): the memory its entries may take, per
    # process, counted as Python holds them. 8 MiB holds ~6,900 short answers and keeps
    # one worker near 85 MB RSS under load (bench/README.md, Memory).
    max_bytes: int = Field(default=8 * 1024 * 1024, ge=0)
    coalesce: bool = True  # identical requests in flight wait for the first one's answer
    coalesce_wait_s: float = Field(default=60.0, gt=0)


class KeySettings(_Strict):
    name: str = Field(min_length=1)
    key: SecretStr | None = None
    key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    models: list[str] | None = None
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    budget_usd: float | None = Field(default=None, ge=0)
    budget_period: Literal["1d", "30d", "total"] = "total"

    @model_validator(mode="after")
    def _has_secret(self) -> KeySettings:
        if not (self.key and self.key.get_secret_value()) and not self.key_sha256:
            raise ValueError("a key needs 'key' or 'key_sha256'")
        return self


class RankingSettings(_Strict):
    window_s: float = Field(default=900.0, gt=0)  # the scoreboard's sliding window
    slice_s: float = Field(default=60.0, gt=0)  # ... kept as slices of this length
    sync_interval_s: float = Field(default=1.0, gt=0)  # share with / read from other replicas
    min_samples: float = Field(default=20.0, ge=0)  # fewer quality samples: keep exploring
    answers_ttl_s: float = Field(default=86400.0, gt=0)  # feedback may name answers this old
    answers_max: int = Field(default=100_000, ge=1)  # answers remembered per process
    bootstrap_rounds: int = Field(default=200, ge=10, le=5000)
    seed: int | None = None  # fixes exploration draws and bootstrap resamples


class LoggingSettings(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "text"] = "json"
    access_log: bool = True
    log_bodies: bool = False


class TracingSettings(_Strict):
    """OpenTelemetry traces (the ``arbiter[otel]`` extra); off by default."""

    enabled: bool = False
    exporter: Literal["otlp", "console", "none"] = "otlp"
    endpoint: str | None = None  # OTLP/HTTP traces URL; unset: OTEL_EXPORTER_OTLP_* variables
    service_name: str = "arbiter"
    sample_ratio: float = Field(default=1.0, ge=0, le=1)


class Settings(_Strict):
    _key_variables: dict[str, str] = PrivateAttr(default_factory=dict)
    server: ServerSettings = Field(default_factory=ServerSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    models: Annotated[dict[str, ModelSettings], Field(min_length=1)]
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    keys: list[KeySettings] = Field(default_factory=list)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    ranking: RankingSettings = Field(default_factory=RankingSettings)

    def key_variable(self, provider: str) -> str | None:
        """The environment variable a provider's api_key is read from, if the file says."""
        return self._key_variables.get(provider)

    @model_validator(mode="after")
    def _cross_check(self) -> Settings:
        problems: list[str] = []
        for name, model in self.models.items():
            for i, dep in enumerate(model.deployments):
                if dep.provider not in self.providers:
                    problems.append(
                        f"models.{name}.deployments[{i}].provider: "
                        f"unknown provider {dep.provider!r}"
                    )
                elif dep.mock and self.providers[dep.provider].type != "mock":
                    problems.append(
                        f"models.{name}.deployments[{i}].mock: only for providers of type mock"
                    )
            for field in ("fallbacks", "context_window_fallbacks", "candidates"):
                for i, other in enumerate(getattr(model, field)):
                    if other not in self.models:
                        problems.append(f"models.{name}.{field}[{i}]: unknown model {other!r}")
                    elif other == name:
                        problems.append(f"models.{name}.{field}[{i}]: a model cannot name itself")
        seen: set[str] = set()
        for i, key in enumerate(self.keys):
            if key.name in seen:
                problems.append(f"keys[{i}].name: duplicate key name {key.name!r}")
            seen.add(key.name)
            for j, model_name in enumerate(key.models or ()):
                if model_name not in self.models:
                    problems.append(f"keys[{i}].models[{j}]: unknown model {model_name!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(text: str, environ: dict[str, str] | None = None) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` from the environment."""
    env = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        value = env.get(match.group(1))
        if value:
            return value
        return match.group(2) if match.group(2) is not None else ""

    return _VAR.sub(replace, text)


def _key_lines(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            lines[child] = key.start_mark.line + 1
            _key_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _key_lines(item, (*path, i), lines)


def _format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(exc: ValidationError, lines: dict[tuple[Any, ...], int]) -> str:
    messages = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if p not in ("function-after",))
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        where = f" (line {line})" if line else ""
        if error["type"] == "extra_forbidden":
            text = f"unknown key {loc[-1]!r}"
        else:
            text = error["msg"].removeprefix("Value error, ")
        messages.append(f"{_format_path(loc)}: {text}{where}")
    return "\n".join(messages)


def _key_variables(raw: str) -> dict[str, str]:
    """provider name -> the environment variable its api_key comes from, if any.

    Read from the text before interpolation, so that a disabled provider can say
    which variable to set ("openai: OPENAI_API_KEY is empty")."""
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError:
        return {}
    providers = data.get("providers") if isinstance(data, dict) else None
    found: dict[str, str] = {}
    for name, provider in (providers or {}).items() if isinstance(providers, dict) else ():
        key = provider.get("api_key") if isinstance(provider, dict) else None
        match = _VAR.fullmatch(key.strip()) if isinstance(key, str) else None
        if match:
            found[str(name)] = match.group(1)
    return found


def parse_settings(text: str, *, environ: dict[str, str] | None = None) -> Settings:
    """Interpolate, parse and validate config text; raises ConfigError."""
    key_variables = _key_variables(text)
    text = interpolate(text, environ)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping with at least a 'models' section")
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _key_lines(node, (), lines)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, lines)) from None
    settings._key_variables = key_variables
    return settings


def load_settings(path: str | os.PathLike[str]) -> Settings:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {os.fspath(path)!r}: {exc.strerror}") from None
    return parse_settings(text)
