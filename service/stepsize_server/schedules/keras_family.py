"""The Keras family (SPEC 3.1). STUB."""

from __future__ import annotations

from .base import Node

TYPES: tuple[type[Node], ...] = ()
