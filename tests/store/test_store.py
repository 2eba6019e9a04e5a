"""Store functions on real SQLite and PostgreSQL: versions, tags, archive, tokens, audit (the
compiled-version cache: tests/api/test_version_cache.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from stepsize_server.schedules import compile_definition
from stepsize_server.store import Database, schedules, tags, tokens, upgrade, versions
from stepsize_server.store import audit as audit_log
from stepsize_server.store.errors import (
    ArchivedUnpinned,
    ScheduleArchived,
    ScheduleNotFound,
    TagNotFound,
    TagPreconditionFailed,
    TokenNotFound,
    VersionNotFound,
)
from stepsize_server.store.records import PublishResult
from stepsize_server.store.schema import tokens as tokens_table


def put(db: Database, ref: str, value: float, actor: str = "tester") -> PublishResult:
    namespace, name = ref.split("/")
    compiled = compile_definition({"type": "constant", "value": value})
    return versions.publish_version(
        db,
        namespace=namespace,
        name=name,
        definition=compiled.normalized,
        digest=compiled.digest,
        description=None,
        labels={},
        actor=actor,
    )


def test_publish_is_gapless_and_idempotent_on_the_latest(db: Database) -> None:
    assert put(db, "a/s", 0.1).record.version == 1
    again = put(db, "a/s", 0.1)
    assert again.created is False and again.record.version == 1
    assert put(db, "a/s", 0.2).record.version == 2
    assert put(db, "a/s", 0.1).record.version == 3
    record = versions.get_version(db, namespace="a", name="s", version=2)
    assert record.definition == {"type": "constant", "value": 0.2}
    assert record.created_at.tzinfo is not None
    with pytest.raises(VersionNotFound):
        versions.get_version(db, namespace="a", name="s", version=4)
    with pytest.raises(ScheduleNotFound):
        versions.get_version(db, namespace="a", name="t", version=1)
    assert [r.version for r in versions.list_versions(db, namespace="a", name="s", limit=2)] == [
        3,
        2,
    ]


def test_concurrent_publishers_in_threads(db: Database) -> None:
    errors: list[BaseException] = []

    def run(database: Database, thread: int) -> None:
        try:
            for i in range(25):
                put(database, "a/race", thread * 100 + i + 1)
        except Exception as exc:
            errors.append(exc)

    # A second Database on the same file stands in for a second process: it does not
    # share the in-process lock, so SQLite's BEGIN IMMEDIATE does the serializing.
    other = Database(db.url)
    workers = [threading.Thread(target=run, args=(db, t)) for t in range(4)]
    workers.append(threading.Thread(target=run, args=(other, 4)))
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    found = versions.list_versions(db, namespace="a", name="race", limit=500)
    assert sorted(r.version for r in found) == list(range(1, 126))
    assert len({r.definition["value"] for r in found}) == 125


def test_resolve_tags_and_latest(db: Database) -> None:
    put(db, "a/s", 0.1)
    put(db, "a/s", 0.2)
    assert versions.resolve_version(db, namespace="a", name="s") == 2
    assert versions.resolve_version(db, namespace="a", name="s", tag="latest") == 2
    with pytest.raises(TagNotFound):
        versions.resolve_version(db, namespace="a", name="s", tag="prod")
    tags.set_tag(db, namespace="a", name="s", tag="prod", version=1, if_match=None, actor="x")
    assert versions.resolve_version(db, namespace="a", name="s", tag="prod") == 1
    with pytest.raises(TagPreconditionFailed):
        tags.set_tag(db, namespace="a", name="s", tag="prod", version=2, if_match=2, actor="x")
    change = tags.set_tag(db, namespace="a", name="s", tag="prod", version=2, if_match=1, actor="x")
    assert (change.previous, change.version) == (1, 2)
    with pytest.raises(ScheduleNotFound):
        versions.resolve_version(db, namespace="a", name="nope")


def test_archive_keeps_everything(db: Database) -> None:
    put(db, "a/s", 0.1)
    summary = schedules.archive_schedule(db, namespace="a", name="s", actor="x")
    assert summary.archived
    assert schedules.list_schedules(db, namespace="a") == []
    assert [s.name for s in schedules.list_schedules(db, include_archived=True)] == ["s"]
    assert versions.get_version(db, namespace="a", name="s", version=1).version == 1
    with pytest.raises(ArchivedUnpinned):
        versions.resolve_version(db, namespace="a", name="s")
    with pytest.raises(ScheduleArchived):
        put(db, "a/s", 0.2)
    with pytest.raises(ScheduleArchived):
        tags.set_tag(db, namespace="a", name="s", tag="t", version=1, if_match=None, actor="x")


def test_list_escapes_like_wildcards(db: Database) -> None:
    put(db, "a/x_y", 0.1)
    put(db, "a/xzy", 0.1)
    assert [s.name for s in schedules.list_schedules(db, q="x_y")] == ["x_y"]
    assert [s.name for s in schedules.list_schedules(db, q="%")] == []


def test_tokens_are_stored_hashed(db: Database, tmp_path: Path) -> None:
    record, secret = tokens.create_token(db, scopes=["read", "read", "write:a"], actor="cli")
    assert record.scopes == ("read", "write:a")
    with db.read() as conn:
        stored = [str(value) for row in conn.execute(select(tokens_table)) for value in row]
    assert stored and not any(secret in value for value in stored)
    if db.is_sqlite:
        assert secret.encode() not in Path(db.engine.url.database or "").read_bytes()
    assert tokens.find_token(db, secret=secret) == record
    assert tokens.find_token(db, secret=secret + "x") is None
    tokens.revoke_token(db, token_id=record.id, actor="cli")
    assert tokens.find_token(db, secret=secret) is None
    with pytest.raises(TokenNotFound):
        tokens.revoke_token(db, token_id=999, actor="cli")
    with pytest.raises(ValueError, match="invalid scope"):
        tokens.create_token(db, scopes=["write:"], actor="cli")


def test_every_write_is_audited_in_its_transaction(db: Database) -> None:
    put(db, "a/s", 0.1, actor="alice")
    put(db, "a/s", 0.1, actor="alice")  # no-op
    tags.set_tag(db, namespace="a", name="s", tag="p", version=1, if_match=None, actor="bob")
    tags.drop_tag(db, namespace="a", name="s", tag="p", if_match=1, actor="bob")
    schedules.archive_schedule(db, namespace="a", name="s", actor="carol")
    record, _ = tokens.create_token(db, scopes=["read"], actor="dave")
    tokens.revoke_token(db, token_id=record.id, actor="dave")
    entries = audit_log.list_entries(db)
    assert [(e.action, e.actor) for e in entries] == [
        ("token.revoke", "dave"),
        ("token.create", "dave"),
        ("schedule.archive", "carol"),
        ("tag.drop", "bob"),
        ("tag.set", "bob"),
        ("schedule.publish", "alice"),
    ]
    assert [e.action for e in audit_log.list_entries(db, namespace="a")][-1] == "schedule.publish"
    assert len(audit_log.list_entries(db, before=entries[1].id, limit=2)) == 2


def test_failed_writes_leave_no_trace(db: Database) -> None:
    put(db, "a/s", 0.1)
    with pytest.raises(VersionNotFound):
        tags.set_tag(db, namespace="a", name="s", tag="p", version=5, if_match=None, actor="x")
    assert [e.action for e in audit_log.list_entries(db)] == ["schedule.publish"]


def test_database_path_is_created(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/deep/er/x.db")
    upgrade(db)
    db.ping()
    assert (tmp_path / "deep" / "er" / "x.db").exists()


@pytest.mark.parametrize("scope", ["read\n", "admin\n", "write:*\n", "write:ns\n"])
def test_a_scope_with_a_trailing_newline_is_refused(scope: str) -> None:
    from stepsize_server.store.tokens import check_scopes

    with pytest.raises(ValueError, match="invalid scope"):
        check_scopes([scope])
