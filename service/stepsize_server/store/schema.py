"""Tables (SQLAlchemy Core). Migrations in `migrations/versions` create exactly these;
`tests/store/test_migrations.py` checks that the two agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

# Integer primary keys that are 64-bit on PostgreSQL and ROWID aliases on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("namespace", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    # Versions are gapless from 1, so this is also the version count.
    Column("latest_version", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("archived_at", UTCDateTime, nullable=True),
    UniqueConstraint("namespace", "name", name="uq_schedules_namespace_name"),
)

versions = Table(
    "versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("schedule_id", Id, ForeignKey("schedules.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(80), nullable=False),
    # The canonical JSON of the normalized definition, byte for byte as digested.
    Column("definition", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("labels", JSON, nullable=False),
    Column("author", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # An amendment (SPEC 4): equal to version `amends_version` before `amends_from_step`.
    Column("amends_version", Integer, nullable=True),
    Column("amends_from_step", BigInteger, nullable=True),
    UniqueConstraint("schedule_id", "version", name="uq_versions_schedule_id_version"),
)

tags = Table(
    "tags",
    metadata,
    Column("schedule_id", Id, ForeignKey("schedules.id"), primary_key=True),
    Column("tag", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_tags_tag", tags.c.tag)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("description", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("namespace", String(64), nullable=True),
    Column("target", String(200), nullable=False),
    Column("detail", JSON, nullable=False),
)
Index("ix_audit_namespace_id", audit.c.namespace, audit.c.id)

# Training runs (SPEC 4, 7): which job follows which version, its progress, what it observed.
runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    # sha256 of the run's key (shown once, at registration): only its holder writes the run
    Column("key_hash", String(64), nullable=False),
    Column("schedule_id", Id, ForeignKey("schedules.id"), nullable=False),
    Column("version", Integer, nullable=False),  # pinned at registration
    Column("current_version", Integer, nullable=False),  # after the amendments it adopted
    Column("digest", String(80), nullable=False),
    Column("template_digest", String(80), nullable=True),
    Column("bound_definition", Text, nullable=True),  # canonical JSON, a template's binding
    Column("total_steps", BigInteger, nullable=True),
    Column("steps_per_epoch", BigInteger, nullable=True),
    Column("world_size", Integer, nullable=False),
    Column("framework", String(40), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=True),
    Column("follow", Boolean, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("client_version", String(40), nullable=True),
    Column("started_at", UTCDateTime, nullable=False),  # as the job reported it
    Column("registered_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # running | finished | failed
    Column("progress", BigInteger, nullable=True),  # the last optimizer update seen
    Column("heartbeats", Integer, nullable=False),
    Column("observed", BigInteger, nullable=False),  # updates whose lr was checked
    Column("mismatches", BigInteger, nullable=False),
    Column("first_mismatch", JSON, nullable=True),
    Column("report_failures", Integer, nullable=False),  # heartbeats the job failed to send
)
Index("ix_runs_schedule_id_version", runs.c.schedule_id, runs.c.version)

# Sampled observations of a run: the lr the optimizer applied at update `step`.
run_points = Table(
    "run_points",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("step", BigInteger, primary_key=True),
    Column("lr", Double, nullable=False),
    Column("expected", Double, nullable=True),
)

# What happened to a run: mismatches, amendments adopted or refused, resumes.
run_events = Table(
    "run_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("step", BigInteger, nullable=True),
    Column("detail", JSON, nullable=False),
)
Index("ix_run_events_run_id_id", run_events.c.run_id, run_events.c.id)
