"""HTTP routes: thin handlers over routing, auth and errors."""

__all__: list[str] = []
