"""Schedule references: `ns/name`, `ns/name@3`, `ns/name:prod` (SPEC section 4)."""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME = r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?"
_REF = re.compile(rf"^(?P<ns>{NAME})/(?P<name>{NAME})(?:@(?P<version>[0-9]+)|:(?P<tag>{NAME}))?$")


@dataclass(frozen=True)
class Ref:
    """A parsed reference; `version` and `tag` are exclusive, neither means latest."""

    namespace: str
    name: str
    version: int | None = None
    tag: str | None = None

    @classmethod
    def parse(cls, text: str) -> Ref:
        """Parse `ns/name`, `ns/name@VERSION` or `ns/name:TAG`.

        Raises `ValueError` naming the reference when it has any other shape.
        """
        match = _REF.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(
                "Argument `ref` must look like 'namespace/name', 'namespace/name@3' or "
                "'namespace/name:tag' (lowercase letters, digits, '.', '_', '-'). "
                f"Received: ref={text!r}"
            )
        version = match.group("version")
        if version is not None and int(version) < 1:
            raise ValueError(f"Versions start at 1. Received: ref={text!r}")
        return cls(
            match.group("ns"),
            match.group("name"),
            int(version) if version is not None else None,
            match.group("tag"),
        )

    @property
    def schedule(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def path(self) -> str:
        return f"/v1/schedules/{self.namespace}/{self.name}"

    @property
    def selector(self) -> str:
        """`latest`, a tag name, or `@3`: what a cached resolution is keyed by."""
        if self.version is not None:
            return f"@{self.version}"
        return self.tag or "latest"

    def pinned(self, version: int) -> Ref:
        return Ref(self.namespace, self.name, version, None)

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.schedule}@{self.version}"
        if self.tag is not None:
            return f"{self.schedule}:{self.tag}"
        return self.schedule
