"""The PyTorch family (SPEC 3.2). STUB."""

from __future__ import annotations

from typing import ClassVar

from .base import Node, Rate


class TorchNode(Node):
    base_lr: Rate | None = None
    inherits_base_lr: ClassVar[bool] = True


class TorchComposite(TorchNode):
    pass


TYPES: tuple[type[Node], ...] = ()
