"""The domain core: canonical types, the error taxonomy and one adapter per wire format."""

__all__: list[str] = []
