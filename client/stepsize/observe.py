"""Observing the lr each optimizer update really applied (being written)."""

from __future__ import annotations

__all__: list[str] = []
