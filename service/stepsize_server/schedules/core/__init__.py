"""The core family (SPEC 3.4): framework-neutral curves (`curves`) and the composites that
combine them (`composites`); the interpolation shapes are written once in `shapes`."""

from __future__ import annotations

from ..node import Node
from . import composites, curves

TYPES: tuple[type[Node], ...] = (*curves.TYPES, *composites.TYPES)
