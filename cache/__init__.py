"""Exact response cache: key derivation and backends (in-process, Redis)."""

__all__: list[str] = []
