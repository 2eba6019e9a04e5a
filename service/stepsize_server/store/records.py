"""What the store functions return: plain frozen dataclasses, no database objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ScheduleSummary:
    namespace: str
    name: str
    latest_version: int
    tags: dict[str, int]
    created_at: datetime
    updated_at: datetime
    archived: bool

    @property
    def version_count(self) -> int:
        # Versions are gapless from 1.
        return self.latest_version


@dataclass(frozen=True)
class Amends:
    """What an amendment amends: equal to `version` at every step before `from_step`."""

    version: int
    from_step: int


@dataclass(frozen=True)
class VersionRecord:
    namespace: str
    name: str
    version: int
    digest: str
    definition: dict[str, Any]
    description: str | None
    labels: dict[str, str]
    author: str
    created_at: datetime
    amends: Amends | None = None  # set for an amendment (SPEC 4)

    @property
    def schedule(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class PublishResult:
    record: VersionRecord
    created: bool  # False: the definition's digest equals the latest version's


@dataclass(frozen=True)
class TagChange:
    tag: str
    version: int
    previous: int | None


@dataclass(frozen=True)
class TokenRecord:
    id: int
    prefix: str
    scopes: tuple[str, ...]
    description: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None

    @property
    def actor(self) -> str:
        """How this token appears in the audit log and as a version's author."""
        return f"token:{self.id} ({self.description})" if self.description else f"token:{self.id}"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    namespace: str | None
    target: str
    detail: dict[str, Any] = field(default_factory=dict)
