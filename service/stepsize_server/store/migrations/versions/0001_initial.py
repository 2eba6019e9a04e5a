"""Initial schema: schedules, versions, tags, tokens, audit.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Self-contained on purpose: a migration must not change when schema.py does.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTCDateTime = sa.DateTime(timezone=True)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("latest_version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("archived_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_schedules"),
        sa.UniqueConstraint("namespace", "name", name="uq_schedules_namespace_name"),
    )
    op.create_table(
        "versions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("schedule_id", Id, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_versions"),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedules.id"], name="fk_versions_schedule_id_schedules"
        ),
        sa.UniqueConstraint("schedule_id", "version", name="uq_versions_schedule_id_version"),
    )
    op.create_table(
        "tags",
        sa.Column("schedule_id", Id, nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("schedule_id", "tag", name="pk_tags"),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedules.id"], name="fk_tags_schedule_id_schedules"
        ),
    )
    op.create_index("ix_tags_tag", "tags", ["tag"])
    op.create_table(
        "tokens",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_tokens_token_hash"),
    )
    op.create_table(
        "audit",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("namespace", sa.String(64), nullable=True),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_namespace_id", "audit", ["namespace", "id"])


def downgrade() -> None:
    for table in ("audit", "tokens", "tags", "versions", "schedules"):
        op.drop_table(table)
