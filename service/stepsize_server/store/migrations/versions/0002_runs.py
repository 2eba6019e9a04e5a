"""Runs (their sampled observations and events) and amendments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Self-contained on purpose: a migration must not change when schema.py does.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTCDateTime = sa.DateTime(timezone=True)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("versions", sa.Column("amends_version", sa.Integer, nullable=True))
    op.add_column("versions", sa.Column("amends_from_step", sa.BigInteger, nullable=True))
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("schedule_id", Id, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("template_digest", sa.String(80), nullable=True),
        sa.Column("bound_definition", sa.Text, nullable=True),
        sa.Column("total_steps", sa.BigInteger, nullable=True),
        sa.Column("steps_per_epoch", sa.BigInteger, nullable=True),
        sa.Column("world_size", sa.Integer, nullable=False),
        sa.Column("framework", sa.String(40), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("follow", sa.Boolean, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("client_version", sa.String(40), nullable=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("registered_at", UTCDateTime, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.BigInteger, nullable=True),
        sa.Column("heartbeats", sa.Integer, nullable=False),
        sa.Column("observed", sa.BigInteger, nullable=False),
        sa.Column("mismatches", sa.BigInteger, nullable=False),
        sa.Column("first_mismatch", sa.JSON, nullable=True),
        sa.Column("report_failures", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedules.id"], name="fk_runs_schedule_id_schedules"
        ),
    )
    op.create_index("ix_runs_schedule_id_version", "runs", ["schedule_id", "version"])
    op.create_table(
        "run_points",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("lr", sa.Double, nullable=False),
        sa.Column("expected", sa.Double, nullable=True),
        sa.PrimaryKeyConstraint("run_id", "step", name="pk_run_points"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_points_run_id_runs"),
    )
    op.create_table(
        "run_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_events"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_events_run_id_runs"),
    )
    op.create_index("ix_run_events_run_id_id", "run_events", ["run_id", "id"])


def downgrade() -> None:
    op.drop_table("run_events")
    op.drop_table("run_points")
    op.drop_table("runs")
    with op.batch_alter_table("versions") as batch:
        batch.drop_column("amends_from_step")
        batch.drop_column("amends_version")
