"""Input checks shared by the package's public entry points (one place for each rule)."""

from __future__ import annotations

__all__ = ["check_int"]


def check_int(name: str, value: object, low: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value
