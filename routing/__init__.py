"""Where a request goes: routes, strategies, health, retries and failover."""

__all__: list[str] = []
