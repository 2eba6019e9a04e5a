"""The Hugging Face family (SPEC 3.3). STUB."""

from __future__ import annotations

from .base import Node

TYPES: tuple[type[Node], ...] = ()
