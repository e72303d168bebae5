"""Arbiter's HTTP gateway: app, config, auth, metrics and the CLI."""

__all__: list[str] = []
